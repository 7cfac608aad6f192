package cgroup

import (
	"errors"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"pcr/internal/fmtlite"
)

// setDevicesV2 enforces device rules the only way cgroup v2 offers: an
// eBPF program attached to the cgroup. Rules that leave every device
// allowed need no program, so hosts without BPF still run such containers.
//
// An update replaces the filter: the new program is attached before the
// old ones pcr attached are detached, so the cgroup is never unfiltered.
// Rules that allow everything leave an earlier filter in place.
func setDevicesV2(dir string, rules []specs.LinuxDeviceCgroup) error {
	if !needsDeviceFilter(rules) {
		return nil
	}
	insns, err := deviceFilter(rules)
	if err != nil {
		return fmtlite.Errorf("apply device rules to %s: build eBPF filter: %w", dir, err)
	}
	cg, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmtlite.Errorf("apply device rules to %s: %w", dir, err)
	}
	defer unix.Close(cg)
	// The attachment holds its own reference to the program, so the filter
	// outlives this process and goes away with the cgroup.
	prog, err := loadCgroupDeviceProg(insns, deviceFilterName)
	if err != nil {
		return fmtlite.Errorf("apply device rules to %s: cgroup v2 enforces device rules only through eBPF, and loading the filter failed: %w", dir, err)
	}
	defer unix.Close(prog)
	// Listed before attaching, so the new program is not among them.
	old, err := cgroupDeviceProgIDs(cg)
	if err != nil {
		return fmtlite.Errorf("apply device rules to %s: %w", dir, err)
	}
	if err := attachCgroupDeviceProg(cg, prog); err != nil {
		return fmtlite.Errorf("apply device rules to %s: %w", dir, err)
	}
	for _, id := range old {
		if err := detachOldDeviceFilter(cg, id); err != nil {
			return fmtlite.Errorf("apply device rules to %s: replace earlier filter: %w", dir, err)
		}
	}
	return nil
}

// deviceFilterName marks pcr's programs, so an update detaches only
// filters pcr attached and leaves anyone else's alone.
const deviceFilterName = "pcr_devices"

func detachOldDeviceFilter(cg int, id uint32) error {
	fd, err := progFdByID(id)
	if errors.Is(err, unix.ENOENT) {
		return nil // detached and freed meanwhile
	}
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	_, name, err := progInfo(fd)
	if err != nil {
		return fmtlite.Errorf("program %d: %w", id, err)
	}
	if name != deviceFilterName {
		return nil
	}
	if err := detachCgroupDeviceProg(cg, fd); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmtlite.Errorf("program %d: %w", id, err)
	}
	return nil
}

// needsDeviceFilter reports whether the rules deny anything once applied in
// order on top of the default allow-all.
func needsDeviceFilter(rules []specs.LinuxDeviceCgroup) bool {
	denies := false
	for _, r := range rules {
		all := (r.Type == "" || r.Type == "a") && r.Major == nil && r.Minor == nil && (r.Access == "" || isRWM(r.Access))
		switch {
		case all:
			denies = !r.Allow
		case !r.Allow:
			denies = true
		}
	}
	return denies
}

func isRWM(access string) bool {
	var r, w, m bool
	for _, c := range access {
		switch c {
		case 'r':
			r = true
		case 'w':
			w = true
		case 'm':
			m = true
		}
	}
	return r && w && m
}

// Access bits and device types of struct bpf_cgroup_dev_ctx.access_type
// (include/uapi/linux/bpf.h): type in the low 16 bits, access above.
const (
	devcgBlock = 1
	devcgChar  = 2
	devcgMknod = 1
	devcgRead  = 2
	devcgWrite = 4
)

// deviceFilter compiles rules into a BPF_PROG_TYPE_CGROUP_DEVICE program.
// The last matching rule decides, as the v1 devices files behave when the
// rules are written in order; no match allows, the state of a fresh cgroup.
// An allow rule matches when it grants every access asked for, a deny rule
// when it forbids any of them.
//
// pcr builds its own (about 40 lines) rather than importing containerd's
// cgroup2 package, whose init registers protobuf types and costs every pcr
// process about a millisecond on the container start path.
func deviceFilter(rules []specs.LinuxDeviceCgroup) ([]bpfInsn, error) {
	insns := []bpfInsn{
		ldxW(bpfR2, bpfR1, 0), // access_type
		mov32Reg(bpfR3, bpfR2),
		and32Imm(bpfR3, 0xffff), // device type
		mov32Reg(bpfR4, bpfR2),
		rsh32Imm(bpfR4, 16),   // requested access
		ldxW(bpfR5, bpfR1, 4), // major
		ldxW(bpfR6, bpfR1, 8), // minor
	}
	// Rules are emitted last first, each block falling through to the
	// next on a mismatch. A jump marked nextRule is patched to land on the
	// instruction after its block: the next rule or the default verdict.
	const nextRule = -1
	for i := len(rules) - 1; i >= 0; i-- {
		r := rules[i]
		var block []bpfInsn
		switch r.Type {
		case "", "a":
		case "b":
			block = append(block, jneImm(bpfR3, devcgBlock, nextRule))
		case "c":
			block = append(block, jneImm(bpfR3, devcgChar, nextRule))
		default:
			return nil, fmtlite.Errorf("device rule %d: type %q: want a, b or c", i, r.Type)
		}
		var mask int32
		access := r.Access
		if access == "" {
			access = "rwm"
		}
		for _, c := range access {
			switch c {
			case 'r':
				mask |= devcgRead
			case 'w':
				mask |= devcgWrite
			case 'm':
				mask |= devcgMknod
			default:
				return nil, fmtlite.Errorf("device rule %d: access %q: want letters of rwm", i, r.Access)
			}
		}
		if mask != devcgRead|devcgWrite|devcgMknod {
			block = append(block, mov32Reg(bpfR7, bpfR4))
			if r.Allow {
				block = append(block, and32Imm(bpfR7, ^mask&7), jneImm(bpfR7, 0, nextRule))
			} else {
				block = append(block, and32Imm(bpfR7, mask), jeqImm(bpfR7, 0, nextRule))
			}
		}
		if r.Major != nil && *r.Major >= 0 {
			block = append(block, jneImm(bpfR5, int32(*r.Major), nextRule))
		}
		if r.Minor != nil && *r.Minor >= 0 {
			block = append(block, jneImm(bpfR6, int32(*r.Minor), nextRule))
		}
		verdict := int32(0)
		if r.Allow {
			verdict = 1
		}
		block = append(block, mov64Imm(bpfR0, verdict), exit())
		for j := range block {
			if block[j].off == nextRule {
				block[j].off = int16(len(block) - j - 1)
			}
		}
		insns = append(insns, block...)
		if len(block) == 2 {
			// An unconditional verdict: the verifier rejects the
			// unreachable rules behind it.
			return insns, nil
		}
	}
	return append(insns, mov64Imm(bpfR0, 1), exit()), nil
}
