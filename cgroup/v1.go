package cgroup

import (
	"errors"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"pcr/internal/fmtlite"
)

// v1Manager drives one directory per v1 hierarchy; hybrid hosts use it too
// and leave their unified hierarchy alone.
type v1Manager struct {
	mode    string
	paths   map[string]string // controller -> container cgroup dir
	created []string
	// sharedParent: the path is pcr's default "pcr/<id>", whose parent is pcr's too.
	sharedParent bool
	mkdir        func(string) error // nil: the real mkdir
	rmdir        func(string) error // nil: the real rmdir
}

// dirs lists each distinct directory once (co-mounted controllers share one).
func (m *v1Manager) dirs() []string {
	out := make([]string, 0, len(m.paths))
	for _, d := range m.paths {
		out = append(out, d)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func (m *v1Manager) isLeaf(dir string) bool {
	for _, d := range m.paths {
		if d == dir {
			return true
		}
	}
	return false
}

func (m *v1Manager) Apply(res *specs.LinuxResources) (err error) {
	var made []string
	defer func() {
		if err != nil {
			// Undo only this call's directories; an update that fails must
			// not take down the running container's cgroup.
			removeCreated(made, func(string) bool { return false }, m.rmdirFunc())
			m.created = slices.DeleteFunc(m.created, func(d string) bool { return slices.Contains(made, d) })
		}
	}()
	cpusetDir := m.paths["cpuset"]
	for _, dir := range m.dirs() {
		before := len(made)
		if made, err = mkdirAll(dir, made, m.mkdirFunc()); err != nil {
			return fmtlite.Errorf("create cgroup %s: %w", dir, err)
		}
		if dir == cpusetDir {
			// A new v1 cpuset starts with empty cpus and mems and refuses
			// processes until they are filled in from the parent.
			for _, d := range made[before:] {
				if err = copyCpuset(d); err != nil {
					return fmtlite.Errorf("create cgroup %s: %w", dir, err)
				}
			}
		}
	}
	if m.sharedParent && len(made) > 0 {
		made = withSharedParents(made, m.created, m.dirs())
	}
	m.created = append(m.created, made...)
	if !hasLimits(res) {
		return nil
	}
	for _, dir := range m.dirs() {
		if !wasCreated(m.created, dir) {
			return fmtlite.Errorf("apply cgroup limits to %s: the cgroup exists and pcr did not create it; refusing to change it", dir)
		}
	}
	return m.setResources(res)
}

func copyCpuset(dir string) error {
	parent := filepath.Dir(dir)
	for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
		v, err := readString(parent, f)
		if err != nil {
			return err
		}
		if strings.TrimSpace(v) == "" && parent != filepath.Dir(parent) {
			// Another pcr may have just made the shared parent and not yet
			// filled it in: do it for it (the same values; writes are idempotent).
			if err := copyCpuset(parent); err != nil {
				return err
			}
			if v, err = readString(parent, f); err != nil {
				return err
			}
		}
		if err := writeFile(dir, f, v); err != nil {
			return err
		}
	}
	return nil
}

// controllerDir names the hierarchy a limit needs, or says it is missing.
func (m *v1Manager) controllerDir(name, what string) (string, error) {
	if d, ok := m.paths[name]; ok {
		return d, nil
	}
	return "", fmtlite.Errorf("apply cgroup limits: %s requested but the v1 %s controller is not mounted", what, name)
}

func (m *v1Manager) setResources(res *specs.LinuxResources) error {
	if res.Memory != nil {
		if err := m.setMemory(res.Memory); err != nil {
			return err
		}
	}
	if res.CPU != nil {
		if err := m.setCPU(res.CPU); err != nil {
			return err
		}
	}
	if res.Pids != nil && res.Pids.Limit != nil && *res.Pids.Limit != 0 {
		dir, err := m.controllerDir("pids", "pids limit")
		if err != nil {
			return err
		}
		v, err := pidsMax(dir, *res.Pids.Limit)
		if err != nil {
			return err
		}
		if err := writeFile(dir, "pids.max", v); err != nil {
			return err
		}
	}
	if res.BlockIO != nil {
		if err := m.setBlkio(res.BlockIO); err != nil {
			return err
		}
	}
	if len(res.Devices) > 0 {
		dir, err := m.controllerDir("devices", "device rules")
		if err != nil {
			return err
		}
		for _, d := range res.Devices {
			rule, err := deviceRule(d)
			if err != nil {
				return fmtlite.Errorf("apply cgroup limits to %s: %w", dir, err)
			}
			file := "devices.deny"
			if d.Allow {
				file = "devices.allow"
			}
			if err := writeFile(dir, file, rule); err != nil {
				return err
			}
		}
	}
	for _, h := range res.HugepageLimits {
		dir, ok := m.paths["hugetlb"]
		if !ok {
			return fmtlite.Errorf("apply cgroup limits: hugepage limit %s requested but no v1 hugetlb controller is mounted (on a hybrid host it may sit on the unified hierarchy, which pcr does not manage)", h.Pagesize)
		}
		if err := writeFile(dir, "hugetlb."+h.Pagesize+".limit_in_bytes", strconv.FormatUint(h.Limit, 10)); err != nil {
			return err
		}
	}
	if n := res.Network; n != nil {
		if n.ClassID != nil {
			dir, err := m.controllerDir("net_cls", "network class id")
			if err != nil {
				return err
			}
			if err := writeFile(dir, "net_cls.classid", strconv.FormatUint(uint64(*n.ClassID), 10)); err != nil {
				return err
			}
		}
		for _, p := range n.Priorities {
			dir, err := m.controllerDir("net_prio", "network priorities")
			if err != nil {
				return err
			}
			if err := writeFile(dir, "net_prio.ifpriomap", fmtlite.Sprintf("%s %d", p.Name, p.Priority)); err != nil {
				return err
			}
		}
	}
	if len(res.Rdma) > 0 {
		return fmtlite.Errorf("apply cgroup limits: rdma limits are not supported by pcr")
	}
	if len(res.Unified) > 0 {
		return fmtlite.Errorf("apply cgroup limits: linux.resources.unified needs cgroup v2, this host runs cgroup %s", m.mode)
	}
	return nil
}

func (m *v1Manager) setMemory(mem *specs.LinuxMemory) error {
	dir, err := m.controllerDir("memory", "memory limit")
	if err != nil {
		return err
	}
	if err := checkMemory(dir, mem, "memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "memory.soft_limit_in_bytes"); err != nil {
		return err
	}
	hasSwapFile := exists(filepath.Join(dir, "memory.memsw.limit_in_bytes"))
	swap := int64(0)
	if mem.Swap != nil {
		swap = *mem.Swap
	}
	if swap != 0 && !hasSwapFile {
		// Without swap accounting there is no swap to limit; asking for
		// memory+swap == memory (or unlimited) is still satisfied.
		if swap != -1 && (mem.Limit == nil || swap != *mem.Limit) {
			return fmtlite.Errorf("apply cgroup limits to %s: memory+swap limit %d requested but swap accounting is off (no memory.memsw.limit_in_bytes)", dir, swap)
		}
		swap = 0
	}
	if mem.Limit != nil && *mem.Limit != 0 {
		limit := strconv.FormatInt(*mem.Limit, 10)
		err := writeFile(dir, "memory.limit_in_bytes", limit)
		if err != nil && swap != 0 && errors.Is(err, unix.EINVAL) {
			// The old memory+swap limit is below the new memory limit:
			// raise memory+swap first, then memory.
			if err := writeFile(dir, "memory.memsw.limit_in_bytes", strconv.FormatInt(swap, 10)); err != nil {
				return err
			}
			swap = 0
			err = writeFile(dir, "memory.limit_in_bytes", limit)
		}
		if err != nil {
			return err
		}
	}
	if swap != 0 {
		if err := writeFile(dir, "memory.memsw.limit_in_bytes", strconv.FormatInt(swap, 10)); err != nil {
			return err
		}
	}
	if mem.Reservation != nil && *mem.Reservation != 0 {
		if err := writeFile(dir, "memory.soft_limit_in_bytes", strconv.FormatInt(*mem.Reservation, 10)); err != nil {
			return err
		}
	}
	if mem.Swappiness != nil {
		if err := writeFile(dir, "memory.swappiness", strconv.FormatUint(*mem.Swappiness, 10)); err != nil {
			return err
		}
	}
	if mem.DisableOOMKiller != nil && *mem.DisableOOMKiller {
		if err := writeFile(dir, "memory.oom_control", "1"); err != nil {
			return err
		}
	}
	// Kernel memory limits are deprecated and refused by current kernels;
	// runc ignores them as well.
	return nil
}

func (m *v1Manager) setCPU(c *specs.LinuxCPU) error {
	if c.Cpus != "" || c.Mems != "" {
		dir, err := m.controllerDir("cpuset", "cpuset")
		if err != nil {
			return err
		}
		for _, kv := range [][3]string{{"cpuset.cpus", c.Cpus, "cpuset.effective_cpus"}, {"cpuset.mems", c.Mems, "cpuset.effective_mems"}} {
			if kv[1] == "" {
				continue
			}
			avail, _ := readString(filepath.Dir(dir), kv[2])
			if err := checkCPUList(filepath.Join(dir, kv[0]), kv[1], avail); err != nil {
				return err
			}
			if err := writeFile(dir, kv[0], kv[1]); err != nil {
				return err
			}
		}
	}
	if c.Shares == nil && c.Quota == nil && c.Period == nil && c.Burst == nil &&
		c.RealtimePeriod == nil && c.RealtimeRuntime == nil && c.Idle == nil {
		return nil
	}
	dir, err := m.controllerDir("cpu", "cpu limit")
	if err != nil {
		return err
	}
	if err := checkCPU(dir, c, "cpu.shares", "cpu.cfs_quota_us", "cpu.cfs_period_us"); err != nil {
		return err
	}
	if c.Shares != nil && *c.Shares != 0 {
		if err := writeFile(dir, "cpu.shares", strconv.FormatUint(*c.Shares, 10)); err != nil {
			return err
		}
	}
	period := c.Period != nil && *c.Period != 0
	if period {
		err := writeFile(dir, "cpu.cfs_period_us", strconv.FormatUint(*c.Period, 10))
		// A shorter period can be refused while the old quota exceeds it;
		// it goes through after the quota below.
		if err != nil && !(errors.Is(err, unix.EINVAL) && c.Quota != nil) {
			return err
		}
		period = err != nil
	}
	if c.Quota != nil && *c.Quota != 0 {
		if err := writeFile(dir, "cpu.cfs_quota_us", strconv.FormatInt(*c.Quota, 10)); err != nil {
			return err
		}
	}
	if period {
		if err := writeFile(dir, "cpu.cfs_period_us", strconv.FormatUint(*c.Period, 10)); err != nil {
			return err
		}
	}
	if c.Burst != nil {
		if err := writeFile(dir, "cpu.cfs_burst_us", strconv.FormatUint(*c.Burst, 10)); err != nil {
			return err
		}
	}
	if c.RealtimePeriod != nil && *c.RealtimePeriod != 0 {
		if err := writeFile(dir, "cpu.rt_period_us", strconv.FormatUint(*c.RealtimePeriod, 10)); err != nil {
			return err
		}
	}
	if c.RealtimeRuntime != nil && *c.RealtimeRuntime != 0 {
		if err := writeFile(dir, "cpu.rt_runtime_us", strconv.FormatInt(*c.RealtimeRuntime, 10)); err != nil {
			return err
		}
	}
	if c.Idle != nil {
		if err := writeFile(dir, "cpu.idle", strconv.FormatInt(*c.Idle, 10)); err != nil {
			return err
		}
	}
	return nil
}

func (m *v1Manager) setBlkio(b *specs.LinuxBlockIO) error {
	dir, err := m.controllerDir("blkio", "block IO limit")
	if err != nil {
		return err
	}
	// CFQ's blkio.weight is gone from current kernels; BFQ offers
	// blkio.bfq.weight. With neither, no scheduler can honour a weight.
	weightFile := func(plain, bfq string) (string, error) {
		if exists(filepath.Join(dir, plain)) {
			return plain, nil
		}
		if exists(filepath.Join(dir, bfq)) {
			return bfq, nil
		}
		return "", fmtlite.Errorf("apply cgroup limits to %s: block IO weight requested but neither %s nor %s exists (no weight-capable IO scheduler)", dir, plain, bfq)
	}
	if b.Weight != nil && *b.Weight != 0 {
		if *b.Weight < 10 || *b.Weight > 1000 {
			return invalid(filepath.Join(dir, "blkio.weight"), strconv.Itoa(int(*b.Weight)), "must be 10..1000")
		}
		f, err := weightFile("blkio.weight", "blkio.bfq.weight")
		if err != nil {
			return err
		}
		if err := writeFile(dir, f, strconv.Itoa(int(*b.Weight))); err != nil {
			return err
		}
	}
	if b.LeafWeight != nil && *b.LeafWeight != 0 {
		if err := writeFile(dir, "blkio.leaf_weight", strconv.Itoa(int(*b.LeafWeight))); err != nil {
			return err
		}
	}
	if len(b.WeightDevice) > 0 {
		f, err := weightFile("blkio.weight_device", "blkio.bfq.weight_device")
		if err != nil {
			return err
		}
		for _, d := range b.WeightDevice {
			if d.Weight == nil {
				continue
			}
			if err := writeFile(dir, f, fmtlite.Sprintf("%d:%d %d", d.Major, d.Minor, *d.Weight)); err != nil {
				return err
			}
		}
	}
	for _, t := range []struct {
		file string
		devs []specs.LinuxThrottleDevice
	}{
		{"blkio.throttle.read_bps_device", b.ThrottleReadBpsDevice},
		{"blkio.throttle.write_bps_device", b.ThrottleWriteBpsDevice},
		{"blkio.throttle.read_iops_device", b.ThrottleReadIOPSDevice},
		{"blkio.throttle.write_iops_device", b.ThrottleWriteIOPSDevice},
	} {
		for _, d := range t.devs {
			if err := writeFile(dir, t.file, fmtlite.Sprintf("%d:%d %d", d.Major, d.Minor, d.Rate)); err != nil {
				return err
			}
		}
	}
	return nil
}

func (m *v1Manager) AddProc(pid int) error {
	p := strconv.Itoa(pid)
	for _, dir := range m.dirs() {
		if err := writeFile(dir, "cgroup.procs", p); err != nil {
			return fmtlite.Errorf("add process %d to cgroup: %w", pid, err)
		}
	}
	return nil
}

func (m *v1Manager) SelfJoinFiles() []string {
	dirs := m.dirs()
	for i, dir := range dirs {
		dirs[i] = filepath.Join(dir, "tasks")
	}
	return dirs
}

func (m *v1Manager) freezerDir() (string, error) {
	if d, ok := m.paths["freezer"]; ok {
		return d, nil
	}
	return "", fmtlite.Errorf("freeze cgroup: the v1 freezer controller is not mounted")
}

func (m *v1Manager) Freeze() error {
	dir, err := m.freezerDir()
	if err != nil {
		return err
	}
	// FREEZING can stall while tasks sit in uninterruptible sleep; writing
	// FROZEN again retries the tasks that were missed.
	ok, err := waitFor(2*time.Second, func() (bool, error) {
		if err := writeFile(dir, "freezer.state", "FROZEN"); err != nil {
			return false, err
		}
		s, err := readString(dir, "freezer.state")
		return s == "FROZEN", err
	})
	if err == nil && !ok {
		err = fmtlite.Errorf("still FREEZING after 2s")
	}
	if err != nil {
		_ = writeFile(dir, "freezer.state", "THAWED")
		return fmtlite.Errorf("freeze cgroup %s: %w", dir, err)
	}
	return nil
}

func (m *v1Manager) Thaw() error {
	dir, err := m.freezerDir()
	if err != nil {
		return err
	}
	if err := writeFile(dir, "freezer.state", "THAWED"); err != nil {
		return fmtlite.Errorf("thaw cgroup: %w", err)
	}
	return nil
}

func (m *v1Manager) Frozen() (bool, error) {
	dir, err := m.freezerDir()
	if err != nil {
		return false, err
	}
	s, err := readString(dir, "freezer.state")
	if err != nil {
		return false, fmtlite.Errorf("cgroup freezer state: %w", err)
	}
	return s == "FROZEN", nil
}

func (m *v1Manager) Pids() ([]int, error) {
	// Any hierarchy holds every process; these are the likeliest present.
	for _, c := range []string{"pids", "freezer", "memory", "cpu", "devices"} {
		if d, ok := m.paths[c]; ok {
			return readPidsOf(d)
		}
	}
	for _, d := range m.dirs() {
		return readPidsOf(d)
	}
	return nil, nil
}

func readPidsOf(dir string) ([]int, error) {
	pids, err := readPids(dir, nil)
	if err != nil {
		return nil, fmtlite.Errorf("list cgroup processes: %w", err)
	}
	return pids, nil
}

func (m *v1Manager) Kill(sig unix.Signal) error {
	// Freezing first stops a fork loop from outrunning the signals.
	frozen := false
	if _, ok := m.paths["freezer"]; ok && sig == unix.SIGKILL {
		frozen = m.Freeze() == nil
	}
	err := signalAll(m.Pids, sig)
	if frozen {
		if terr := m.Thaw(); err == nil {
			err = terr
		}
	}
	return err
}

func signalAll(list func() ([]int, error), sig unix.Signal) error {
	pids, err := list()
	if err != nil {
		return err
	}
	for _, pid := range pids {
		if err := unix.Kill(pid, sig); err != nil && err != unix.ESRCH {
			return fmtlite.Errorf("signal process %d with %v: %w", pid, sig, err)
		}
	}
	return nil
}

func (m *v1Manager) Delete() error {
	if err := removeCreated(m.created, m.isLeaf, m.rmdirFunc()); err != nil {
		return fmtlite.Errorf("delete cgroup: %w", err)
	}
	m.created = nil
	return nil
}

func (m *v1Manager) State() State {
	paths := make(map[string]string, len(m.paths))
	for k, v := range m.paths {
		paths[k] = v
	}
	return State{Version: m.mode, Paths: paths, Created: slices.Clone(m.created)}
}

func (m *v1Manager) FD() (int, error) { return -1, nil }

func (m *v1Manager) mkdirFunc() func(string) error {
	if m.mkdir != nil {
		return m.mkdir
	}
	return kernelMkdir
}

func (m *v1Manager) rmdirFunc() func(string) error {
	if m.rmdir != nil {
		return m.rmdir
	}
	return kernelRmdir
}
