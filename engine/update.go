package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"pcr/internal/atomicfile"
	"pcr/netns"
	"pcr/runtime"
)

// UpdateOptions are `pcr update`'s flags; nil fields are left as they are.
type UpdateOptions struct {
	Memory, MemorySwap, NanoCPUs, PidsLimit, NetRate, StorageSize *int64
	CPUShares                                                     *uint64
	CpusetCPUs                                                    *string
	Ulimits                                                       []string // nil = unchanged; applies at the next start (rlimits belong to processes)
}

// defaultCPUShares is the kernel's cpu.shares when none is set: what an
// update to 0 (Docker's "unset") writes to a running container.
const defaultCPUShares = 1024

// noLimit is Docker's "unlimited" for --memory, --memory-swap and
// --pids-limit in an update: the limit is taken away.
const noLimit = -1

// apply sets what u changes in o and checks the result as create would,
// plus what only an update can get wrong. It changes nothing on disk.
func (u UpdateOptions) apply(o *Options) error {
	if u.Memory != nil {
		switch m := *u.Memory; {
		case m == noLimit:
			// Without a memory limit a memory+swap one means nothing (and
			// create refuses it): it goes too, unless given here.
			o.Memory = 0
			if u.MemorySwap == nil {
				o.MemorySwap = 0
			}
		case m <= 0:
			return fmt.Errorf("invalid --memory %d: an update needs a limit (at least 6MB), or -1 for unlimited", m)
		case u.MemorySwap == nil && o.MemorySwap > 0 && m > o.MemorySwap:
			return fmt.Errorf("invalid --memory %d: above the memory+swap limit %d set already; update --memory-swap at the same time", m, o.MemorySwap)
		default:
			o.Memory = m
		}
	}
	if u.MemorySwap != nil {
		if *u.MemorySwap < -1 {
			return fmt.Errorf("invalid --memory-swap %d: must be positive, or -1 for unlimited", *u.MemorySwap)
		}
		o.MemorySwap = *u.MemorySwap
	}
	if u.NanoCPUs != nil {
		if *u.NanoCPUs < 0 {
			return fmt.Errorf("invalid --cpus: must be 0 (unlimited) or more")
		}
		o.NanoCPUs = *u.NanoCPUs
	}
	if u.CPUShares != nil {
		if s := *u.CPUShares; s != 0 && (s < 2 || s > 262144) {
			return fmt.Errorf("invalid --cpu-shares %d: must be 2..262144, or 0 for the default", s)
		}
		o.CPUShares = *u.CPUShares
	}
	if u.CpusetCPUs != nil {
		if *u.CpusetCPUs == "" {
			return fmt.Errorf("invalid --cpuset-cpus \"\": give the CPUs to run on (0-2,4)")
		}
		o.CpusetCPUs = *u.CpusetCPUs
	}
	if u.PidsLimit != nil {
		if *u.PidsLimit < noLimit {
			return fmt.Errorf("invalid --pids-limit %d: must be positive, or 0 or -1 for unlimited", *u.PidsLimit)
		}
		o.PidsLimit = *u.PidsLimit
	}
	if u.NetRate != nil {
		if err := checkNetRate(*u.NetRate, o.Network); err != nil {
			return err
		}
		o.NetRate = *u.NetRate
	}
	if u.StorageSize != nil {
		if *u.StorageSize <= 0 {
			return fmt.Errorf("invalid storage size %d: must be positive (a disk image cannot be taken away)", *u.StorageSize)
		}
		if *u.StorageSize < o.StorageSize {
			return fmt.Errorf("invalid storage size %d: below the current %d; a disk image can only grow", *u.StorageSize, o.StorageSize)
		}
		o.StorageSize = *u.StorageSize
	}
	if u.Ulimits != nil {
		if _, err := parseUlimits(u.Ulimits); err != nil {
			return err
		}
		o.Ulimits = slices.Clone(u.Ulimits)
	}
	return o.Validate()
}

// liveResources are the cgroup writes that bring a running container to
// o, for what u changed only. Unlike a create, "no limit" must be written
// out: the cgroup still holds the old one.
func (u UpdateOptions) liveResources(o *Options) *specs.LinuxResources {
	res := &specs.LinuxResources{}
	if u.Memory != nil || u.MemorySwap != nil {
		full := resourcesOf(o)
		res.Memory = full.Memory
		if res.Memory == nil {
			res.Memory = &specs.LinuxMemory{}
		}
		if o.Memory == 0 {
			// Taken away: the cgroup's limits go to unlimited, memory+swap
			// too (v1 takes memory above memory+swap only once that is
			// raised, which the cgroup package does when memory is refused).
			limit := int64(noLimit)
			res.Memory.Limit = &limit
			if hasSwapAccounting() {
				swap := int64(noLimit)
				res.Memory.Swap = &swap
			}
		}
	}
	if u.NanoCPUs != nil || u.CPUShares != nil || u.CpusetCPUs != nil {
		res.CPU = &specs.LinuxCPU{}
		if u.NanoCPUs != nil {
			period, quota := uint64(100000), int64(-1)
			if o.NanoCPUs > 0 {
				quota = o.NanoCPUs * int64(period) / 1e9
			}
			res.CPU.Period, res.CPU.Quota = &period, &quota
		}
		if u.CPUShares != nil {
			shares := o.CPUShares
			if shares == 0 {
				shares = defaultCPUShares
			}
			res.CPU.Shares = &shares
		}
		if u.CpusetCPUs != nil {
			res.CPU.Cpus = o.CpusetCPUs
		}
	}
	if u.PidsLimit != nil {
		limit := o.PidsLimit
		if limit <= 0 {
			limit = -1
		}
		res.Pids = &specs.LinuxPids{Limit: &limit}
	}
	return res
}

// resourcesOf is what create writes into config.json for o's limits.
func resourcesOf(o *Options) *specs.LinuxResources {
	s := &specs.Spec{Linux: &specs.Linux{Resources: &specs.LinuxResources{}}}
	withResources(s, nil, o) // never fails: o was validated
	return s.Linux.Resources
}

func (u UpdateOptions) changesCgroup() bool {
	return u.Memory != nil || u.MemorySwap != nil || u.NanoCPUs != nil || u.CPUShares != nil || u.CpusetCPUs != nil || u.PidsLimit != nil
}

// Update changes a container's limits in place: the running cgroup (and tc for NetRate, the
// disk image for StorageSize: grow only), then the record and config.json so a restart keeps them.
// It holds the container's lock throughout, so no start reads a half-updated
// config.json; a running container that fails an update keeps its old record.
func (e *Engine) Update(ref string, u UpdateOptions) error {
	id, err := e.Lookup(ref)
	if err != nil {
		return err
	}
	fail := func(err error) error { return fmt.Errorf("update container %s: %w", ShortID(id), err) }
	dir := e.dir(id)
	unlock, err := lockContainer(dir)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("%w: %s", ErrNoSuchContainer, ref)
		}
		return err
	}
	defer unlock()
	c, err := e.load(id)
	if err != nil {
		return err
	}
	if c.State.Status == StatusDead {
		return fail(fmt.Errorf("it is dead (its create was interrupted): remove it with rm -f"))
	}
	rec := c.Record
	o := rec.Options
	o.Ulimits = slices.Clone(o.Ulimits)
	if err := u.apply(&o); err != nil {
		return fail(err)
	}
	spec, err := readSpec(dir)
	if err != nil {
		return fail(err)
	}
	// config.json is read and changed in memory before the cgroup is: a
	// live change that could not be recorded would be lost at the next start.
	updateSpec(spec, &o)

	// The disk first: it is what most likely refuses (no disk image, no
	// resize2fs), and then nothing else has changed.
	if u.StorageSize != nil && *u.StorageSize != rec.Options.StorageSize {
		if err := e.resizeStorage(rec, *u.StorageSize); err != nil {
			return err
		}
	}
	// A grown disk cannot be taken back: whatever fails after it, the
	// record keeps the disk's new size.
	grown := u.StorageSize != nil && *u.StorageSize != rec.Options.StorageSize
	failAfterGrow := func(err error) error {
		if grown {
			rec.Options.StorageSize = o.StorageSize
			if werr := writeRecord(dir, rec); werr != nil {
				e.warnf("container %s: record its disk's new size: %v", ShortID(id), werr)
			}
		}
		return fail(err)
	}
	if c.State.Running {
		// tc before the cgroup: a shaping that fails leaves nothing
		// changed; a cgroup write that fails gets the old rate back.
		var reshaped *netns.Manager
		if u.NetRate != nil && *u.NetRate != rec.Options.NetRate {
			mgr, err := e.Networks()
			if err != nil {
				return failAfterGrow(err)
			}
			if err := mgr.SetEgressRate(id, o.NetRate); err != nil {
				return failAfterGrow(err)
			}
			reshaped = mgr
		}
		if u.changesCgroup() {
			err := e.rt.Update(id, u.liveResources(&o))
			// Not created yet: the start that will create it waits for our
			// lock and then reads the config.json written below.
			if err != nil && !errors.Is(err, runtime.ErrNotExist) {
				if reshaped != nil {
					if rerr := reshaped.SetEgressRate(id, rec.Options.NetRate); rerr != nil {
						e.warnf("container %s: egress rate stays %d bytes/s: %v", ShortID(id), o.NetRate, rerr)
					}
				}
				return failAfterGrow(err)
			}
		}
	}
	if err := writeSpec(dir, spec); err != nil {
		return failAfterGrow(err)
	}
	rec.Options = o
	if err := writeRecord(dir, rec); err != nil {
		return fail(err)
	}
	return nil
}

// updateSpec brings config.json's limits to o: the cgroup resources the
// flags set (devices and the like are left), and process.rlimits.
func updateSpec(s *specs.Spec, o *Options) {
	if s.Linux == nil {
		s.Linux = &specs.Linux{}
	}
	if s.Linux.Resources == nil {
		s.Linux.Resources = &specs.LinuxResources{}
	}
	r := resourcesOf(o)
	s.Linux.Resources.Memory, s.Linux.Resources.CPU, s.Linux.Resources.Pids = r.Memory, r.CPU, r.Pids
	if s.Process != nil {
		s.Process.Rlimits = nil // as withDockerDefaults leaves them
		withUlimits(s, nil, o)  // never fails: o was validated
	}
}

func readSpec(dir string) (*specs.Spec, error) {
	path := filepath.Join(dir, "config.json")
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s specs.Spec
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	return &s, nil
}

func writeSpec(dir string, s *specs.Spec) error {
	data, err := json.MarshalIndent(s, "", "\t")
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, "config.json"), data, 0o644)
}
