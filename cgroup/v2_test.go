package cgroup

import (
	"encoding/json"
	"math"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

const fixtureControllers = "cpuset cpu io memory hugetlb pids"

// v2Fixture is a pure cgroup v2 host: the caller sits in
// user.slice/sess, which has no processes of its own unless callerProcs.
func v2Fixture(t *testing.T, callerProcs string) (*Host, string) {
	root := t.TempDir()
	writeFixture(t, root, map[string]string{"cgroup.controllers": fixtureControllers, "cgroup.subtree_control": fixtureControllers})
	writeFixture(t, filepath.Join(root, "user.slice"), map[string]string{"cgroup.controllers": fixtureControllers, "cgroup.subtree_control": fixtureControllers})
	caller := filepath.Join(root, "user.slice/sess")
	writeFixture(t, caller, map[string]string{"cgroup.controllers": fixtureControllers, "cgroup.subtree_control": "", "cgroup.procs": callerProcs})
	return &Host{Mode: ModeV2, Hierarchies: map[string]Hierarchy{"": {Mount: root, Caller: caller}}}, caller
}

func v2Files(string) map[string]string {
	f := map[string]string{
		"cgroup.controllers": fixtureControllers, "cgroup.subtree_control": "", "cgroup.procs": "",
		"cgroup.freeze": "0", "cgroup.events": "populated 0\nfrozen 0\n", "cgroup.kill": "",
		"memory.max": "max", "memory.swap.max": "max", "memory.low": "0", "cpu.weight": "100", "cpu.max": "max 100000",
		"cpuset.cpus": "", "cpuset.mems": "", "cpuset.cpus.effective": "0-1", "cpuset.mems.effective": "0", "pids.max": "max", "io.weight": "default 100", "io.max": "",
		"hugetlb.2MB.max": "max", "memory.high": "max",
	}
	return f
}

func newV2Fixture(t *testing.T, h *Host, path string) *v2Manager {
	m, err := h.New(path, "c1")
	if err != nil {
		t.Fatal(err)
	}
	vm := m.(*v2Manager)
	vm.mkdir, vm.rmdir = fixtureMkdir(v2Files), fixtureRmdir
	return vm
}

func TestV2ApplyDelegatesAndWrites(t *testing.T) {
	h, caller := v2Fixture(t, "")
	writeFixture(t, caller, map[string]string{"cpuset.cpus.effective": "0-3", "cpuset.mems.effective": "0"})
	m := newV2Fixture(t, h, "")
	res := &specs.LinuxResources{
		Memory:         &specs.LinuxMemory{Limit: i64(64 << 20), Swap: i64(96 << 20), Reservation: i64(16 << 20)},
		CPU:            &specs.LinuxCPU{Shares: u64(1024), Quota: i64(50000), Period: u64(100000), Cpus: "0-1", Mems: "0"},
		Pids:           &specs.LinuxPids{Limit: i64(20)},
		BlockIO:        &specs.LinuxBlockIO{Weight: u16(500), ThrottleWriteIOPSDevice: []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 16}, Rate: 300}}},
		HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 << 20}},
		Unified:        map[string]string{"memory.high": "50000000"},
	}
	if err := m.Apply(res); err != nil {
		t.Fatal(err)
	}
	// The caller's own cgroup (no processes) passes down only what the
	// limits need; the "pcr" parent pcr made passes down everything.
	wantFile(t, caller, "cgroup.subtree_control", "+memory +cpu +cpuset +pids +io +hugetlb")
	wantFile(t, filepath.Join(caller, "pcr"), "cgroup.subtree_control", "+cpuset +cpu +io +memory +hugetlb +pids")
	leaf := filepath.Join(caller, "pcr/c1")
	if m.dir != leaf {
		t.Fatalf("dir %s", m.dir)
	}
	wantFile(t, leaf, "cgroup.subtree_control", "")
	wantFile(t, leaf, "memory.max", "67108864")
	wantFile(t, leaf, "memory.swap.max", "33554432") // memory+swap minus memory
	wantFile(t, leaf, "memory.low", "16777216")
	wantFile(t, leaf, "memory.high", "50000000")
	wantFile(t, leaf, "cpu.weight", "100")
	wantFile(t, leaf, "cpu.max", "50000 100000")
	wantFile(t, leaf, "cpuset.cpus", "0-1")
	wantFile(t, leaf, "pids.max", "20")
	wantFile(t, leaf, "io.weight", "4950")
	wantFile(t, leaf, "io.max", "8:16 wiops=300")
	wantFile(t, leaf, "hugetlb.2MB.max", "4194304")
	if st := m.State(); len(st.Created) != 2 || st.Created[1] != leaf {
		t.Errorf("created %v", st.Created)
	}

	fd, err := m.FD()
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)

	writeFixture(t, leaf, map[string]string{"cgroup.events": "populated 1\nfrozen 1\n"})
	if err := m.Freeze(); err != nil {
		t.Fatal(err)
	}
	wantFile(t, leaf, "cgroup.freeze", "1")
	if err := m.Thaw(); err != nil {
		t.Fatal(err)
	}
	wantFile(t, leaf, "cgroup.freeze", "0")
	if err := m.Kill(unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	wantFile(t, leaf, "cgroup.kill", "1")

	loaded, err := Load(m.State())
	if err != nil {
		t.Fatal(err)
	}
	loaded.(*v2Manager).rmdir = fixtureRmdir
	if err := loaded.Delete(); err != nil {
		t.Fatal(err)
	}
	if exists(leaf) || exists(filepath.Dir(leaf)) || !exists(caller) {
		t.Error("Delete removed the wrong dirs")
	}
}

// A caller's cgroup with processes (on a real host always: pcr itself is in
// it) cannot hand controllers down, so pcr's cgroups go beside it, below its
// parent, and the caller's own cgroup stays untouched.
func TestV2CallerWithProcessesPlacesBesideIt(t *testing.T) {
	h, caller := v2Fixture(t, "1234\n")
	m := newV2Fixture(t, h, "")
	parent := filepath.Dir(caller)
	if want := filepath.Join(parent, "pcr", "c1"); m.dir != want {
		t.Fatalf("dir %s, want %s", m.dir, want)
	}
	if err := m.Apply(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(64 << 20)}}); err != nil {
		t.Fatal(err)
	}
	wantFile(t, m.dir, "memory.max", "67108864")
	wantFile(t, caller, "cgroup.subtree_control", "")
	if err := m.Delete(); err != nil {
		t.Fatal(err)
	}
	if exists(filepath.Join(parent, "pcr")) || !exists(caller) {
		t.Error("Delete removed the wrong dirs")
	}

	// A parent that does not delegate a controller is not pcr's to change.
	writeFixture(t, parent, map[string]string{"cgroup.subtree_control": "cpu"})
	m = newV2Fixture(t, h, "")
	err := m.Apply(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(64 << 20)}})
	if err == nil || !strings.Contains(err.Error(), "memory are not enabled") || !strings.Contains(err.Error(), "did not create") {
		t.Fatalf("got %v", err)
	}
	wantFile(t, parent, "cgroup.subtree_control", "cpu")
	if exists(filepath.Join(parent, "pcr")) {
		t.Error("failed Apply left pcr/")
	}
}

func TestV2ForeignParentIsReadOnly(t *testing.T) {
	h, _ := v2Fixture(t, "")
	parent := filepath.Join(h.Hierarchies[""].Mount, "machine.slice")
	writeFixture(t, parent, map[string]string{"cgroup.controllers": fixtureControllers, "cgroup.subtree_control": "memory", "cgroup.procs": ""})
	m := newV2Fixture(t, h, "/machine.slice/ctr")
	err := m.Apply(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(5)}})
	if err == nil || !strings.Contains(err.Error(), "pids are not enabled") || !strings.Contains(err.Error(), "did not create") {
		t.Fatalf("got %v", err)
	}
	wantFile(t, parent, "cgroup.subtree_control", "memory")
	if err := m.Apply(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(1 << 30)}}); err != nil {
		t.Fatalf("memory is delegated there: %v", err)
	}
	wantFile(t, filepath.Join(parent, "ctr"), "memory.max", "1073741824")
}

func TestV2ApplyErrors(t *testing.T) {
	cases := []struct {
		name string
		res  specs.LinuxResources
		want string
	}{
		{"memory 1 byte", specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(1)}}, `memory.max "1"`},
		{"swap without limit", specs.LinuxResources{Memory: &specs.LinuxMemory{Swap: i64(1 << 30)}}, `memory.swap.max "1073741824"`},
		{"negative quota", specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: i64(-3)}}, `cpu.max "-3"`},
		{"cpuset beyond parent", specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "99-100"}}, `cpuset.cpus "99-100"`},
		{"realtime", specs.LinuxResources{CPU: &specs.LinuxCPU{RealtimeRuntime: i64(1000)}}, "realtime"},
		{"unified escape", specs.LinuxResources{Unified: map[string]string{"../x": "1"}}, "unified key"},
		{"unified procs", specs.LinuxResources{Unified: map[string]string{"cgroup.procs": "1"}}, "manages this file"},
		{"unified missing", specs.LinuxResources{Unified: map[string]string{"memory.nope": "1"}}, `memory.nope "1": no such file`},
		{"net_cls", specs.LinuxResources{Network: &specs.LinuxNetwork{ClassID: func() *uint32 { v := uint32(1); return &v }()}}, "net_cls"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h, caller := v2Fixture(t, "")
			writeFixture(t, caller, map[string]string{"cpuset.cpus.effective": "0-1"})
			m := newV2Fixture(t, h, "")
			err := m.Apply(&c.res)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want it to contain %s", err, c.want)
			}
			if exists(filepath.Join(caller, "pcr")) || len(m.State().Created) != 0 {
				t.Error("failed Apply left directories")
			}
		})
	}
}

func TestV2Stats(t *testing.T) {
	h, _ := v2Fixture(t, "")
	m := newV2Fixture(t, h, "")
	if err := m.Apply(nil); err != nil {
		t.Fatal(err)
	}
	writeFixture(t, m.dir, map[string]string{
		"cpu.stat":       "usage_usec 30\nuser_usec 20\nsystem_usec 10\nnr_periods 4\nnr_throttled 1\nthrottled_usec 7\n",
		"memory.current": "4096\n", "memory.max": "max\n", "memory.peak": "8192\n", "memory.swap.current": "100\n",
		"memory.stat": "anon 1\nfile 2\n", "memory.events": "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n",
		"pids.current": "3\n", "pids.max": "10\n",
		"io.stat": "8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n",
	})
	s, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if s.CPU.UsageNS != 30000 || s.CPU.UserNS != 20000 || s.CPU.SystemNS != 10000 || s.CPU.ThrottledNS != 7000 {
		t.Errorf("cpu %+v", s.CPU)
	}
	if s.Memory.Usage != 4096 || s.Memory.Limit != math.MaxUint64 || s.Memory.MaxUsage != 8192 || s.Memory.Swap != 100 ||
		s.Memory.OOMKills != 1 || s.Memory.Failcnt != 3 || s.Memory.Cache != 2 {
		t.Errorf("memory %+v", s.Memory)
	}
	if s.Pids != (PidsStats{3, 10}) {
		t.Errorf("pids %+v", s.Pids)
	}
	if len(s.Blkio.ServiceBytes) != 2 || len(s.Blkio.Serviced) != 2 || s.Blkio.Serviced[1] != (BlkioEntry{8, 0, "Write", 2}) {
		t.Errorf("blkio %+v", s.Blkio)
	}
	ev := s.AppendRuncEvent(nil)
	if !json.Valid(ev) {
		t.Fatalf("event data is not JSON: %s", ev)
	}
	if !strings.Contains(string(ev), `"cpu":{"usage":{"total":30000,"kernel":10000,"user":20000}`) ||
		!strings.Contains(string(ev), `"pids":{"current":3,"limit":10}`) {
		t.Errorf("event %s", ev)
	}
}

func TestSharesToWeight(t *testing.T) {
	for shares, want := range map[uint64]uint64{2: 1, 1024: 100, 262144: 10000, 1 << 20: 10000, 512: 59} {
		if got := sharesToWeight(shares); got != want {
			t.Errorf("sharesToWeight(%d) = %d, want %d", shares, got, want)
		}
	}
	if blkioWeightToIO(10) != 1 || blkioWeightToIO(1000) != 10000 {
		t.Error("blkio weight ends do not map to io.weight ends")
	}
}

func TestNeedsDeviceFilter(t *testing.T) {
	deny := specs.LinuxDeviceCgroup{Allow: false, Access: "rwm"}
	allowAll := specs.LinuxDeviceCgroup{Allow: true, Access: "rwm"}
	null := specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: i64(1), Minor: i64(3), Access: "rwm"}
	denyTTY := specs.LinuxDeviceCgroup{Allow: false, Type: "c", Major: i64(5), Access: "w"}
	cases := []struct {
		rules []specs.LinuxDeviceCgroup
		want  bool
	}{
		{nil, false},
		{[]specs.LinuxDeviceCgroup{null}, false},
		{[]specs.LinuxDeviceCgroup{deny, null}, true},
		{[]specs.LinuxDeviceCgroup{deny, null, allowAll}, false},
		{[]specs.LinuxDeviceCgroup{allowAll, denyTTY}, true},
		{[]specs.LinuxDeviceCgroup{denyTTY, allowAll}, false},
	}
	for i, c := range cases {
		if got := needsDeviceFilter(c.rules); got != c.want {
			t.Errorf("case %d: %v, want %v", i, got, c.want)
		}
		if _, err := deviceFilter(c.rules); err != nil {
			t.Errorf("case %d: %v", i, err)
		}
	}
	if _, err := deviceFilter([]specs.LinuxDeviceCgroup{{Type: "q"}}); err == nil {
		t.Error("bad type accepted")
	}
}

func TestParseList(t *testing.T) {
	got, err := parseList("0-2,5")
	if err != nil || len(got) != 4 || !got[5] || got[3] {
		t.Errorf("parseList = %v, %v", got, err)
	}
	for _, bad := range []string{"a", "3-1", "-1", "1,,2"} {
		if _, err := parseList(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if err := checkCPUList("cpuset.cpus", "1", "0-1"); err != nil {
		t.Error(err)
	}
}
