package cgroup

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// v1Fixture lays out a hybrid-like host under a temp dir: memory nested at
// process_api/abc as on the development machine, the rest at the root.
func v1Fixture(t *testing.T) (*Host, func(string) error) {
	root := t.TempDir()
	controllers := []string{"cpu", "cpuacct", "cpuset", "memory", "pids", "freezer", "devices", "blkio", "name=systemd"}
	h := &Host{Mode: ModeHybrid, Hierarchies: map[string]Hierarchy{}}
	for _, c := range controllers {
		mount := filepath.Join(root, c)
		caller := mount
		if c == "memory" {
			caller = filepath.Join(mount, "process_api/abc")
		}
		h.Hierarchies[c] = Hierarchy{Mount: mount, Caller: caller}
		writeFixture(t, caller, map[string]string{"cgroup.procs": "1\n"})
	}
	writeFixture(t, filepath.Join(root, "cpuset"), map[string]string{
		"cpuset.cpus": "0-1\n", "cpuset.mems": "0\n", "cpuset.effective_cpus": "0-1\n", "cpuset.effective_mems": "0\n",
	})
	files := func(dir string) map[string]string {
		rel, _ := filepath.Rel(root, dir)
		f := map[string]string{"cgroup.procs": ""}
		switch strings.SplitN(rel, "/", 2)[0] {
		case "memory":
			for _, n := range []string{"memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "memory.soft_limit_in_bytes", "memory.swappiness", "memory.oom_control"} {
				f[n] = ""
			}
		case "cpu":
			for _, n := range []string{"cpu.shares", "cpu.cfs_quota_us", "cpu.cfs_period_us", "cpu.idle"} {
				f[n] = ""
			}
		case "cpuset":
			f["cpuset.cpus"], f["cpuset.mems"] = "", ""
			f["cpuset.effective_cpus"], f["cpuset.effective_mems"] = "0-1", "0"
		case "pids":
			f["pids.max"] = "max"
		case "freezer":
			f["freezer.state"] = "THAWED"
		case "devices":
			f["devices.allow"], f["devices.deny"] = "", ""
		case "blkio":
			f["blkio.bfq.weight"], f["blkio.throttle.read_bps_device"] = "", ""
		}
		return f
	}
	return h, fixtureMkdir(files)
}

func newV1Fixture(t *testing.T, path string) (*v1Manager, *Host) {
	h, mkdir := v1Fixture(t)
	m, err := h.New(path, "c1")
	if err != nil {
		t.Fatal(err)
	}
	vm := m.(*v1Manager)
	vm.mkdir, vm.rmdir = mkdir, fixtureRmdir
	return vm, h
}

func TestV1ApplyWritesLimits(t *testing.T) {
	m, h := newV1Fixture(t, "")
	res := &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: i64(64 << 20), Swap: i64(128 << 20), Reservation: i64(32 << 20), Swappiness: u64(10), DisableOOMKiller: boolp(true)},
		CPU:    &specs.LinuxCPU{Shares: u64(512), Quota: i64(20000), Period: u64(100000), Cpus: "1", Mems: "0"},
		Pids:   &specs.LinuxPids{Limit: i64(42)},
		BlockIO: &specs.LinuxBlockIO{Weight: u16(300), ThrottleReadBpsDevice: []specs.LinuxThrottleDevice{
			{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 0}, Rate: 1048576}}},
		Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}, {Allow: true, Type: "c", Major: i64(1), Minor: i64(3), Access: "rw"}},
	}
	if err := m.Apply(res); err != nil {
		t.Fatal(err)
	}
	p := m.paths
	wantFile(t, p["memory"], "memory.limit_in_bytes", "67108864")
	wantFile(t, p["memory"], "memory.memsw.limit_in_bytes", "134217728")
	wantFile(t, p["memory"], "memory.soft_limit_in_bytes", "33554432")
	wantFile(t, p["memory"], "memory.swappiness", "10")
	wantFile(t, p["memory"], "memory.oom_control", "1")
	wantFile(t, p["cpu"], "cpu.shares", "512")
	wantFile(t, p["cpu"], "cpu.cfs_quota_us", "20000")
	wantFile(t, p["cpu"], "cpu.cfs_period_us", "100000")
	wantFile(t, p["cpuset"], "cpuset.cpus", "1")
	wantFile(t, p["pids"], "pids.max", "42")
	wantFile(t, p["blkio"], "blkio.bfq.weight", "300")
	wantFile(t, p["blkio"], "blkio.throttle.read_bps_device", "8:0 1048576")
	wantFile(t, p["devices"], "devices.allow", "c 1:3 rw")
	wantFile(t, p["devices"], "devices.deny", "a *:* rwm")
	// The intermediate cpuset "pcr" inherited the parent's cpus and mems.
	wantFile(t, filepath.Dir(p["cpuset"]), "cpuset.cpus", "0-1")
	wantFile(t, filepath.Dir(p["cpuset"]), "cpuset.mems", "0")

	if got := p["memory"]; got != filepath.Join(h.Hierarchies["memory"].Caller, "pcr/c1") {
		t.Errorf("memory path %s", got)
	}
	st := m.State()
	if len(st.Created) != 2*9 {
		t.Errorf("created %d dirs, want pcr and pcr/c1 in 9 hierarchies: %v", len(st.Created), st.Created)
	}
	raw, _ := json.Marshal(st)
	var back State
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	loaded, err := Load(back)
	if err != nil {
		t.Fatal(err)
	}
	loaded.(*v1Manager).rmdir = fixtureRmdir
	if err := loaded.Delete(); err != nil {
		t.Fatal(err)
	}
	for _, d := range st.Created {
		if exists(d) {
			t.Errorf("%s left after Delete", d)
		}
	}
	for _, hier := range h.Hierarchies {
		if !exists(hier.Caller) {
			t.Errorf("Delete removed the caller's cgroup %s", hier.Caller)
		}
	}
}

func TestV1ApplyErrorsNameFileAndValue(t *testing.T) {
	cases := []struct {
		name string
		res  specs.LinuxResources
		want string
	}{
		{"memory 1 byte", specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(1)}}, `memory.limit_in_bytes "1"`},
		{"negative quota", specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: i64(-2)}}, `cpu.cfs_quota_us "-2"`},
		{"period too long", specs.LinuxResources{CPU: &specs.LinuxCPU{Period: u64(5_000_000)}}, `cpu.cfs_period_us "5000000"`},
		{"shares too high", specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: u64(1 << 20)}}, `cpu.shares "1048576"`},
		{"cpuset beyond parent", specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "99-100"}}, `cpuset.cpus "99-100": 99 is not available`},
		{"cpuset garbage", specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "1-x"}}, `cpuset.cpus "1-x"`},
		{"swappiness", specs.LinuxResources{Memory: &specs.LinuxMemory{Swappiness: u64(101)}}, `memory.swappiness "101"`},
		{"blkio weight", specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: u16(5)}}, `blkio.weight "5"`},
		{"bad device type", specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Type: "x"}}}, `type "x"`},
		{"unified on v1", specs.LinuxResources{Unified: map[string]string{"memory.high": "1"}}, "needs cgroup v2"},
		{"hugetlb missing", specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 1 << 21}}}, "hugetlb"},
		{"missing file", specs.LinuxResources{CPU: &specs.LinuxCPU{Burst: u64(1000)}}, `cpu.cfs_burst_us "1000": no such file`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, _ := newV1Fixture(t, "")
			err := m.Apply(&c.res)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want it to contain %s", err, c.want)
			}
			for _, d := range m.paths {
				if exists(d) || exists(filepath.Dir(d)) {
					t.Errorf("failed Apply left %s", d)
				}
			}
			if len(m.State().Created) != 0 {
				t.Errorf("failed Apply still records %v", m.State().Created)
			}
		})
	}
}

func TestV1RefusesForeignCgroup(t *testing.T) {
	m, _ := newV1Fixture(t, "theirs")
	for _, d := range m.dirs() {
		writeFixture(t, d, map[string]string{"pids.max": "max"})
	}
	if err := m.Apply(nil); err != nil {
		t.Fatal(err)
	}
	err := m.Apply(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(3)}})
	if err == nil || !strings.Contains(err.Error(), "did not create") {
		t.Fatalf("got %v", err)
	}
	wantFile(t, m.paths["pids"], "pids.max", "max")
	if err := m.Delete(); err != nil {
		t.Fatal(err)
	}
	if !exists(m.paths["pids"]) {
		t.Error("Delete removed a cgroup pcr did not create")
	}
}

func TestV1StatsAndEvents(t *testing.T) {
	m, _ := newV1Fixture(t, "")
	if err := m.Apply(nil); err != nil {
		t.Fatal(err)
	}
	p := m.paths
	writeFixture(t, p["cpuacct"], map[string]string{
		"cpuacct.usage": "3000\n", "cpuacct.usage_user": "2000\n", "cpuacct.usage_sys": "1000\n", "cpuacct.usage_percpu": "1000 2000 \n",
	})
	writeFixture(t, p["cpu"], map[string]string{"cpu.stat": "nr_periods 10\nnr_throttled 3\nthrottled_time 500\n"})
	writeFixture(t, p["memory"], map[string]string{
		"memory.usage_in_bytes": "4096\n", "memory.limit_in_bytes": "8192\n", "memory.max_usage_in_bytes": "6000\n",
		"memory.memsw.usage_in_bytes": "5096\n", "memory.memsw.limit_in_bytes": "16384\n", "memory.failcnt": "2\n",
		"memory.stat": "cache 10\ntotal_cache 20\n", "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n",
	})
	writeFixture(t, p["pids"], map[string]string{"pids.current": "2\n", "pids.max": "max\n"})
	writeFixture(t, p["blkio"], map[string]string{
		"blkio.throttle.io_service_bytes_recursive": "8:0 Read 100\n8:0 Write 200\nTotal 300\n",
		"blkio.throttle.io_serviced_recursive":      "8:0 Read 1\n",
	})
	s, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if s.CPU.UsageNS != 3000 || s.CPU.UserNS != 2000 || s.CPU.SystemNS != 1000 || s.CPU.Throttled != 3 || len(s.CPU.PerCPUNS) != 2 {
		t.Errorf("cpu %+v", s.CPU)
	}
	if s.Memory.Usage != 4096 || s.Memory.Limit != 8192 || s.Memory.MaxUsage != 6000 || s.Memory.Swap != 1000 ||
		s.Memory.OOMKills != 1 || s.Memory.Cache != 20 {
		t.Errorf("memory %+v", s.Memory)
	}
	if s.Pids.Current != 2 || s.Pids.Limit != 0 {
		t.Errorf("pids %+v", s.Pids)
	}
	if len(s.Blkio.ServiceBytes) != 2 || s.Blkio.ServiceBytes[1] != (BlkioEntry{8, 0, "Write", 200}) {
		t.Errorf("blkio %+v", s.Blkio)
	}
	ev := s.AppendRuncEvent(nil)
	if !json.Valid(ev) {
		t.Fatalf("event data is not JSON: %s", ev)
	}
	for _, want := range []string{
		`"cpu":{"usage":{"total":3000,"percpu":[1000,2000],"kernel":1000,"user":2000},"throttling":{"periods":10,"throttledPeriods":3,"throttledTime":500}}`,
		`"usage":{"limit":8192,"usage":4096,"max":6000,"failcnt":2}`,
		`"swap":{"limit":16384,"usage":5096,"failcnt":0}`,
		`"pids":{"current":2}`,
		`{"major":8,"op":"Write","value":200}`,
	} {
		if !strings.Contains(string(ev), want) {
			t.Errorf("event data %s\nlacks %s", ev, want)
		}
	}
}

func TestV1FreezerAndPids(t *testing.T) {
	m, _ := newV1Fixture(t, "")
	if err := m.Apply(nil); err != nil {
		t.Fatal(err)
	}
	if err := m.Freeze(); err != nil { // the fixture "kernel" freezes at once
		t.Fatal(err)
	}
	if fr, _ := m.Frozen(); !fr {
		t.Error("not frozen")
	}
	if err := m.Thaw(); err != nil {
		t.Fatal(err)
	}
	wantFile(t, m.paths["freezer"], "freezer.state", "THAWED")
	writeFixture(t, m.paths["pids"], map[string]string{"cgroup.procs": "10\n11\n"})
	writeFixture(t, filepath.Join(m.paths["pids"], "inner"), map[string]string{"cgroup.procs": "12\n"})
	pids, err := m.Pids()
	if err != nil {
		t.Fatal(err)
	}
	if len(pids) != 3 || pids[2] != 12 {
		t.Errorf("Pids() = %v", pids)
	}
	if err := m.AddProc(77); err != nil {
		t.Fatal(err)
	}
	wantFile(t, m.paths["devices"], "cgroup.procs", "77")
}

// The "pcr" parent of default paths is recorded by every container, before
// its leaf, so the last container deleted removes it whoever made it.
func TestSharedParentRecordedBeforeLeaf(t *testing.T) {
	got := withSharedParents([]string{"/cg/cpu/pcr/b"}, nil, []string{"/cg/cpu/pcr/b"})
	if len(got) != 2 || got[0] != "/cg/cpu/pcr" || got[1] != "/cg/cpu/pcr/b" {
		t.Fatalf("got %v", got)
	}
	// Already recorded (this call made it): not twice.
	got = withSharedParents([]string{"/cg/cpu/pcr", "/cg/cpu/pcr/b"}, nil, []string{"/cg/cpu/pcr/b"})
	if len(got) != 2 {
		t.Fatalf("got %v", got)
	}
}

// A create records pcr's shared parents before Apply, parents first and
// once each, so that a delete after a create killed early still removes
// the parent when it is the last one out.
func TestWithSharedParentsRecordedAhead(t *testing.T) {
	paths := map[string]string{"cpu": "/sys/fs/cgroup/cpu/pcr/c1", "cpuacct": "/sys/fs/cgroup/cpu/pcr/c1",
		"memory": "/sys/fs/cgroup/memory/own/pcr/c1"}
	got := WithSharedParents([]string{"/sys/fs/cgroup/memory/own/pcr", "/sys/fs/cgroup/memory/own/pcr/c1", "/sys/fs/cgroup/cpu/pcr/c1"}, paths)
	want := []string{"/sys/fs/cgroup/cpu/pcr", "/sys/fs/cgroup/memory/own/pcr", "/sys/fs/cgroup/memory/own/pcr/c1", "/sys/fs/cgroup/cpu/pcr/c1"}
	if !slices.Equal(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
}
