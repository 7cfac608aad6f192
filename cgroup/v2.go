package cgroup

import (
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"pcr/internal/fmtlite"
)

// v2Manager drives one directory in the unified hierarchy.
type v2Manager struct {
	dir     string
	caller  string // the caller's own cgroup; empty after Load
	created []string
	// sharedParent: the path is pcr's default "pcr/<id>", whose parent is pcr's too.
	sharedParent bool
	mkdir        func(string) error // nil: the real mkdir
	rmdir        func(string) error // nil: the real rmdir
}

func (m *v2Manager) Apply(res *specs.LinuxResources) (err error) {
	var made []string
	defer func() {
		if err != nil {
			removeCreated(made, func(string) bool { return false }, m.rmdirFunc())
			m.created = slices.DeleteFunc(m.created, func(d string) bool { return slices.Contains(made, d) })
		}
	}()
	need := neededControllers(res)
	if !exists(m.dir) {
		anc := filepath.Dir(m.dir)
		for !exists(anc) && anc != "/" {
			anc = filepath.Dir(anc)
		}
		if err = m.delegate(anc, need); err != nil {
			return err
		}
		if made, err = mkdirAll(m.dir, made, m.mkdirFunc()); err != nil {
			return fmtlite.Errorf("create cgroup %s: %w", m.dir, err)
		}
		// Parents pcr made pass every controller they have on down, so a
		// later container below the same parent finds them enabled.
		for _, d := range made {
			if d != m.dir {
				if err = enableControllers(d, need); err != nil {
					return fmtlite.Errorf("create cgroup %s: %w", m.dir, err)
				}
			}
		}
		if m.sharedParent && len(made) > 0 {
			made = withSharedParents(made, m.created, []string{m.dir})
		}
		m.created = append(m.created, made...)
	}
	if !hasLimits(res) {
		return nil
	}
	if !wasCreated(m.created, m.dir) {
		return fmtlite.Errorf("apply cgroup limits to %s: the cgroup exists and pcr did not create it; refusing to change it", m.dir)
	}
	if len(need) > 0 {
		have, err := readString(m.dir, "cgroup.controllers")
		if err != nil {
			return fmtlite.Errorf("apply cgroup limits: %w", err)
		}
		if missing := missingControllers(need, have); len(missing) > 0 {
			return fmtlite.Errorf("apply cgroup limits to %s: controllers %s are not enabled for it (cgroup.controllers is %q)", m.dir, strings.Join(missing, ","), have)
		}
	}
	return m.setResources(res)
}

// delegate makes sure the pre-existing ancestor anc hands the controllers
// in need down to the cgroups pcr is about to create. pcr may only write to
// anc when it is the caller's own cgroup, and cgroup v2 lets a cgroup hand
// controllers down only while it has no processes of its own.
func (m *v2Manager) delegate(anc string, need []string) error {
	if len(need) == 0 {
		return nil
	}
	enabled, err := readString(anc, "cgroup.subtree_control")
	if err != nil {
		return fmtlite.Errorf("create cgroup %s: %w", m.dir, err)
	}
	missing := missingControllers(need, enabled)
	if len(missing) == 0 {
		return nil
	}
	if m.caller == "" || filepath.Clean(anc) != filepath.Clean(m.caller) {
		return fmtlite.Errorf("create cgroup %s: controllers %s are not enabled in %s/cgroup.subtree_control and pcr does not change cgroups it did not create",
			m.dir, strings.Join(missing, ","), anc)
	}
	procs, err := readString(anc, "cgroup.procs")
	if err != nil {
		return fmtlite.Errorf("create cgroup %s: %w", m.dir, err)
	}
	if procs != "" {
		return fmtlite.Errorf("create cgroup %s: controllers %s must be enabled in the caller's own cgroup %s, but it has processes and cgroup v2 lets only a cgroup without processes delegate controllers; run pcr from a cgroup whose parent delegates them, or give an absolute cgroupsPath below a delegated cgroup",
			m.dir, strings.Join(missing, ","), anc)
	}
	return writeFile(anc, "cgroup.subtree_control", "+"+strings.Join(missing, " +"))
}

// enableControllers enables in dir's subtree everything dir has; one write
// normally, and per controller only if the kernel refuses one of them (a
// controller needed by the limits must then succeed).
func enableControllers(dir string, need []string) error {
	have, err := readString(dir, "cgroup.controllers")
	if err != nil || have == "" {
		return err
	}
	all := strings.Fields(have)
	if writeFile(dir, "cgroup.subtree_control", "+"+strings.Join(all, " +")) == nil {
		return nil
	}
	for _, c := range all {
		if err := writeFile(dir, "cgroup.subtree_control", "+"+c); err != nil && slices.Contains(need, c) {
			return err
		}
	}
	return nil
}

func missingControllers(need []string, have string) []string {
	fields := strings.Fields(have)
	var out []string
	for _, c := range need {
		if !slices.Contains(fields, c) {
			out = append(out, c)
		}
	}
	return out
}

// neededControllers lists the v2 controllers whose files res writes.
func neededControllers(res *specs.LinuxResources) []string {
	if res == nil {
		return nil
	}
	var need []string
	add := func(c string) {
		if !slices.Contains(need, c) {
			need = append(need, c)
		}
	}
	if m := res.Memory; m != nil && (nonZero(m.Limit) || nonZero(m.Reservation) || nonZero(m.Swap)) {
		add("memory")
	}
	if c := res.CPU; c != nil {
		if (c.Shares != nil && *c.Shares != 0) || nonZero(c.Quota) || (c.Period != nil && *c.Period != 0) || c.Burst != nil || c.Idle != nil {
			add("cpu")
		}
		if c.Cpus != "" || c.Mems != "" {
			add("cpuset")
		}
	}
	if res.Pids != nil && nonZero(res.Pids.Limit) {
		add("pids")
	}
	if b := res.BlockIO; b != nil && ((b.Weight != nil && *b.Weight != 0) || len(b.WeightDevice) > 0 ||
		len(b.ThrottleReadBpsDevice)+len(b.ThrottleWriteBpsDevice)+len(b.ThrottleReadIOPSDevice)+len(b.ThrottleWriteIOPSDevice) > 0) {
		add("io")
	}
	if len(res.HugepageLimits) > 0 {
		add("hugetlb")
	}
	if len(res.Rdma) > 0 {
		add("rdma")
	}
	keys := make([]string, 0, len(res.Unified))
	for k := range res.Unified {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		// Malformed keys are rejected with a clear error when written.
		if c, _, ok := strings.Cut(k, "."); ok && c != "cgroup" && c != "" && !strings.ContainsRune(c, '/') {
			add(c)
		}
	}
	return need
}

func nonZero(p *int64) bool { return p != nil && *p != 0 }

func (m *v2Manager) setResources(res *specs.LinuxResources) error {
	dir := m.dir
	if mem := res.Memory; mem != nil {
		if err := setMemoryV2(dir, mem); err != nil {
			return err
		}
	}
	if c := res.CPU; c != nil {
		if err := setCPUV2(dir, c); err != nil {
			return err
		}
	}
	if res.Pids != nil && nonZero(res.Pids.Limit) {
		v, err := pidsMax(dir, *res.Pids.Limit)
		if err != nil {
			return err
		}
		if err := writeFile(dir, "pids.max", v); err != nil {
			return err
		}
	}
	if b := res.BlockIO; b != nil {
		if err := setIOV2(dir, b); err != nil {
			return err
		}
	}
	for _, h := range res.HugepageLimits {
		if err := writeFile(dir, "hugetlb."+h.Pagesize+".max", strconv.FormatUint(h.Limit, 10)); err != nil {
			return err
		}
	}
	for name, r := range res.Rdma {
		var parts []string
		if r.HcaHandles != nil {
			parts = append(parts, fmtlite.Sprintf("hca_handle=%d", *r.HcaHandles))
		}
		if r.HcaObjects != nil {
			parts = append(parts, fmtlite.Sprintf("hca_object=%d", *r.HcaObjects))
		}
		if len(parts) > 0 {
			if err := writeFile(dir, "rdma.max", name+" "+strings.Join(parts, " ")); err != nil {
				return err
			}
		}
	}
	if n := res.Network; n != nil && (n.ClassID != nil || len(n.Priorities) > 0) {
		return fmtlite.Errorf("apply cgroup limits to %s: network class id and priorities need cgroup v1 net_cls/net_prio", dir)
	}
	if len(res.Devices) > 0 {
		if err := setDevicesV2(dir, res.Devices); err != nil {
			return err
		}
	}
	keys := make([]string, 0, len(res.Unified))
	for k := range res.Unified {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		switch {
		case k == "" || strings.ContainsRune(k, '/') || k == "." || k == "..":
			return invalid(filepath.Join(dir, k), res.Unified[k], "unified key must be a file name in the cgroup")
		case k == "cgroup.procs" || k == "cgroup.threads" || k == "cgroup.subtree_control" || k == "cgroup.kill" || k == "cgroup.freeze":
			return invalid(filepath.Join(dir, k), res.Unified[k], "pcr manages this file itself")
		}
		if err := writeFile(dir, k, res.Unified[k]); err != nil {
			return err
		}
	}
	return nil
}

func setMemoryV2(dir string, mem *specs.LinuxMemory) error {
	if err := checkMemory(dir, mem, "memory.max", "memory.swap.max", "memory.low"); err != nil {
		return err
	}
	if nonZero(mem.Limit) {
		if err := writeFile(dir, "memory.max", limitV2(*mem.Limit)); err != nil {
			return err
		}
	}
	if nonZero(mem.Swap) {
		// The OCI swap value is memory+swap (v1 memsw); v2 limits swap alone.
		v := "max"
		if *mem.Swap > 0 {
			v = strconv.FormatInt(*mem.Swap-*mem.Limit, 10)
		}
		if exists(filepath.Join(dir, "memory.swap.max")) {
			if err := writeFile(dir, "memory.swap.max", v); err != nil {
				return err
			}
		} else if v != "max" && v != "0" {
			return fmtlite.Errorf("apply cgroup limits to %s: swap limit requested but swap accounting is off (no memory.swap.max)", dir)
		}
	}
	if nonZero(mem.Reservation) {
		if err := writeFile(dir, "memory.low", limitV2(*mem.Reservation)); err != nil {
			return err
		}
	}
	// memory.swappiness and the OOM-killer switch have no v2 files; like
	// runc and crun, pcr leaves them unset there.
	return nil
}

func limitV2(v int64) string {
	if v < 0 {
		return "max"
	}
	return strconv.FormatInt(v, 10)
}

func setCPUV2(dir string, c *specs.LinuxCPU) error {
	if err := checkCPU(dir, c, "cpu.weight", "cpu.max", "cpu.max"); err != nil {
		return err
	}
	if c.RealtimePeriod != nil || c.RealtimeRuntime != nil {
		return fmtlite.Errorf("apply cgroup limits to %s: realtime cpu limits need cgroup v1 (cgroup v2 has no cpu.rt_* files)", dir)
	}
	if c.Shares != nil && *c.Shares != 0 {
		if err := writeFile(dir, "cpu.weight", strconv.FormatUint(sharesToWeight(*c.Shares), 10)); err != nil {
			return err
		}
	}
	if nonZero(c.Quota) || (c.Period != nil && *c.Period != 0) {
		v := "max"
		if nonZero(c.Quota) && *c.Quota > 0 {
			v = strconv.FormatInt(*c.Quota, 10)
		}
		if c.Period != nil && *c.Period != 0 {
			v += " " + strconv.FormatUint(*c.Period, 10)
		}
		if err := writeFile(dir, "cpu.max", v); err != nil {
			return err
		}
	}
	if c.Burst != nil {
		if err := writeFile(dir, "cpu.max.burst", strconv.FormatUint(*c.Burst, 10)); err != nil {
			return err
		}
	}
	if c.Idle != nil {
		if err := writeFile(dir, "cpu.idle", strconv.FormatInt(*c.Idle, 10)); err != nil {
			return err
		}
	}
	for _, kv := range [][2]string{{"cpuset.cpus", c.Cpus}, {"cpuset.mems", c.Mems}} {
		if kv[1] == "" {
			continue
		}
		avail, _ := readString(filepath.Dir(dir), kv[0]+".effective")
		if err := checkCPUList(filepath.Join(dir, kv[0]), kv[1], avail); err != nil {
			return err
		}
		if err := writeFile(dir, kv[0], kv[1]); err != nil {
			return err
		}
	}
	return nil
}

// sharesToWeight maps cpu.shares [2,262144] onto cpu.weight [1,10000] so
// that the v1 default 1024 lands on the v2 default 100; the linear formula
// runc used until 2025 gave 1024 a weight of 39. This is the curve runc,
// crun and Kubernetes now share: a quadratic in log2(shares) through
// (2,1), (1024,100) and (262144,10000).
func sharesToWeight(shares uint64) uint64 {
	switch {
	case shares <= 2:
		return 1
	case shares >= 262144:
		return 10000
	}
	l := math.Log2(float64(shares))
	return uint64(math.Ceil(math.Pow(10, (l*l+125*l)/612-7.0/34)))
}

// blkioWeightToIO maps the v1 weight range [10,1000] onto io.weight's
// [1,10000] linearly, the conversion runc and crun document.
func blkioWeightToIO(w uint16) uint64 {
	return 1 + (uint64(w)-10)*9999/990
}

func setIOV2(dir string, b *specs.LinuxBlockIO) error {
	// BFQ takes the v1 weight scale unchanged; io.weight (the cost model)
	// needs the conversion.
	bfq := exists(filepath.Join(dir, "io.bfq.weight"))
	weight := func(w uint16) (string, string) {
		if bfq {
			return "io.bfq.weight", strconv.Itoa(int(w))
		}
		return "io.weight", strconv.FormatUint(blkioWeightToIO(w), 10)
	}
	if b.Weight != nil && *b.Weight != 0 {
		if *b.Weight < 10 || *b.Weight > 1000 {
			return invalid(filepath.Join(dir, "io.weight"), strconv.Itoa(int(*b.Weight)), "blkio weight must be 10..1000")
		}
		f, v := weight(*b.Weight)
		if bfq {
			v = "default " + v
		}
		if err := writeFile(dir, f, v); err != nil {
			return err
		}
	}
	for _, d := range b.WeightDevice {
		if d.Weight == nil {
			continue
		}
		f, v := weight(*d.Weight)
		if err := writeFile(dir, f, fmtlite.Sprintf("%d:%d %s", d.Major, d.Minor, v)); err != nil {
			return err
		}
	}
	for _, t := range []struct {
		key  string
		devs []specs.LinuxThrottleDevice
	}{
		{"rbps", b.ThrottleReadBpsDevice},
		{"wbps", b.ThrottleWriteBpsDevice},
		{"riops", b.ThrottleReadIOPSDevice},
		{"wiops", b.ThrottleWriteIOPSDevice},
	} {
		for _, d := range t.devs {
			rate := "max"
			if d.Rate != 0 {
				rate = strconv.FormatUint(d.Rate, 10)
			}
			if err := writeFile(dir, "io.max", fmtlite.Sprintf("%d:%d %s=%s", d.Major, d.Minor, t.key, rate)); err != nil {
				return err
			}
		}
	}
	return nil
}

func (m *v2Manager) AddProc(pid int) error {
	if err := writeFile(m.dir, "cgroup.procs", strconv.Itoa(pid)); err != nil {
		return fmtlite.Errorf("add process %d to cgroup: %w", pid, err)
	}
	return nil
}

func (m *v2Manager) SelfJoinFiles() []string { return nil }

func (m *v2Manager) Freeze() error {
	if err := writeFile(m.dir, "cgroup.freeze", "1"); err != nil {
		return fmtlite.Errorf("freeze cgroup: %w", err)
	}
	ok, err := waitFor(2*time.Second, m.Frozen)
	if err == nil && !ok {
		err = fmtlite.Errorf("%s/cgroup.events does not report frozen after 2s", m.dir)
	}
	if err != nil {
		_ = writeFile(m.dir, "cgroup.freeze", "0")
		return fmtlite.Errorf("freeze cgroup: %w", err)
	}
	return nil
}

func (m *v2Manager) Thaw() error {
	if err := writeFile(m.dir, "cgroup.freeze", "0"); err != nil {
		return fmtlite.Errorf("thaw cgroup: %w", err)
	}
	return nil
}

func (m *v2Manager) Frozen() (bool, error) {
	ev, err := readKV(m.dir, "cgroup.events")
	if err != nil {
		return false, fmtlite.Errorf("cgroup freezer state: %w", err)
	}
	return ev["frozen"] == 1, nil
}

func (m *v2Manager) Pids() ([]int, error) { return readPidsOf(m.dir) }

func (m *v2Manager) Kill(sig unix.Signal) error {
	// cgroup.kill (Linux 5.14) kills the whole subtree atomically, forks
	// in flight included.
	if sig == unix.SIGKILL && exists(filepath.Join(m.dir, "cgroup.kill")) {
		if err := writeFile(m.dir, "cgroup.kill", "1"); err != nil {
			return fmtlite.Errorf("kill cgroup: %w", err)
		}
		return nil
	}
	return signalAll(m.Pids, sig)
}

func (m *v2Manager) Stats() (*Stats, error) {
	if !exists(m.dir) {
		return nil, fmtlite.Errorf("cgroup stats: %s does not exist", m.dir)
	}
	s := &Stats{}
	var r statReader
	dir := m.dir
	cpu := r.kv(dir, "cpu.stat")
	s.CPU.UsageNS = cpu["usage_usec"] * 1000
	s.CPU.UserNS = cpu["user_usec"] * 1000
	s.CPU.SystemNS = cpu["system_usec"] * 1000
	s.CPU.Periods = cpu["nr_periods"]
	s.CPU.Throttled = cpu["nr_throttled"]
	s.CPU.ThrottledNS = cpu["throttled_usec"] * 1000
	if exists(dir + "/memory.current") {
		s.Memory.Usage = r.uint(dir, "memory.current")
		s.Memory.Limit = r.uint(dir, "memory.max")
		if s.Memory.Limit == 0 {
			s.Memory.Limit = math.MaxUint64 // "max", as runc reports it
		}
		s.Memory.MaxUsage = r.uint(dir, "memory.peak")
		s.Memory.Swap = r.uint(dir, "memory.swap.current")
		if sw := r.uint(dir, "memory.swap.max"); sw != 0 && s.Memory.Limit != math.MaxUint64 {
			s.Memory.SwapLimit = s.Memory.Limit + sw
		}
		s.Memory.Raw = r.kv(dir, "memory.stat")
		s.Memory.Cache = s.Memory.Raw["file"]
		ev := r.kv(dir, "memory.events")
		s.Memory.OOMKills = ev["oom_kill"]
		s.Memory.Failcnt = ev["max"]
	}
	if exists(dir + "/pids.current") {
		s.Pids.Current = r.uint(dir, "pids.current")
		s.Pids.Limit = r.uint(dir, "pids.max")
	}
	if exists(dir + "/io.stat") {
		s.Blkio.ServiceBytes, s.Blkio.Serviced = parseIOStatV2(r.raw(dir, "io.stat"))
	}
	if r.err != nil {
		return nil, fmtlite.Errorf("cgroup stats: %w", r.err)
	}
	return s, nil
}

func (m *v2Manager) Delete() error {
	if err := removeCreated(m.created, func(d string) bool { return d == m.dir }, m.rmdirFunc()); err != nil {
		return fmtlite.Errorf("delete cgroup: %w", err)
	}
	m.created = nil
	return nil
}

func (m *v2Manager) State() State {
	return State{Version: ModeV2, Paths: map[string]string{"": m.dir}, Created: slices.Clone(m.created)}
}

func (m *v2Manager) FD() (int, error) {
	fd, err := unix.Open(m.dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmtlite.Errorf("open cgroup %s: %w", m.dir, err)
	}
	return fd, nil
}

func (m *v2Manager) mkdirFunc() func(string) error {
	if m.mkdir != nil {
		return m.mkdir
	}
	return kernelMkdir
}

func (m *v2Manager) rmdirFunc() func(string) error {
	if m.rmdir != nil {
		return m.rmdir
	}
	return kernelRmdir
}
