package integration

// Tests of linux.resources and linux.cgroupsPath. Each limit is read back
// from inside the container (through its own cgroup mount) and, where the
// placement matters, from the host. They run on the v1 hybrid development
// host and on pure cgroup v2 under qemu (make test-cgroup2), so every
// expectation is spelled for both.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// cgroupV2 reports a pure v2 host; the hybrid host has cgroup.controllers
// only below /sys/fs/cgroup/unified.
func cgV2() bool {
	_, err := os.Stat("/sys/fs/cgroup/cgroup.controllers")
	return err == nil
}

// cgFile names a cgroup file as the container sees it: on v1 below the
// controller's own mount, on v2 directly in /sys/fs/cgroup.
func cgFile(controller, v1, v2 string) string {
	if cgV2() {
		return "/sys/fs/cgroup/" + v2
	}
	return "/sys/fs/cgroup/" + controller + "/" + v1
}

// cgProcCgroups maps each hierarchy of pid (v1 controller names, "" for the
// unified one) to its cgroup path as the test, in the host namespace, sees it.
func cgProcCgroups(t *testing.T, pid string) map[string]string {
	t.Helper()
	data, err := os.ReadFile("/proc/" + pid + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]string)
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		parts := strings.SplitN(l, ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			out[c] = parts[2]
		}
	}
	return out
}

// cgV1Hierarchies lists the v1 controllers the caller sits in, keyed by the
// directory name under /sys/fs/cgroup ("systemd" for name=systemd).
func cgV1Hierarchies(t *testing.T) map[string]string {
	t.Helper()
	out := make(map[string]string)
	for c, p := range cgProcCgroups(t, "self") {
		if c == "" {
			continue
		}
		dir := strings.TrimPrefix(c, "name=")
		if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", dir, "cgroup.procs")); err == nil {
			out[dir] = p
		}
	}
	return out
}

// cgHostDir is the host directory of pid's cgroup for controller.
func cgHostDir(t *testing.T, pid, controller string) string {
	t.Helper()
	cg := cgProcCgroups(t, pid)
	if cgV2() {
		return filepath.Join("/sys/fs/cgroup", cg[""])
	}
	p, ok := cg[controller]
	if !ok {
		t.Fatalf("process %s has no %s cgroup: %v", pid, controller, cg)
	}
	return filepath.Join("/sys/fs/cgroup", controller, p)
}

// cgStart creates and starts a container running script and returns
// its id and init pid. Its stdio goes to files: a pipe held open by the
// container would keep pcr's Wait from returning.
func (e *env) cgStart(script string, mutate func(*specs.Spec)) (id, pid string) {
	e.t.Helper()
	b := e.bundle(func(s *specs.Spec) {
		s.Process.Args = []string{"sh", "-c", script}
		if mutate != nil {
			mutate(s)
		}
	})
	id = e.id()
	r := e.detached(nil, "create", "--bundle", b, id)
	r.ok(e.t)
	e.pcr("start", id).ok(e.t)
	pid = fmt.Sprint(e.state(id)["pid"])
	return id, pid
}

func cgI64(v int64) *int64    { return &v }
func cgU64(v uint64) *uint64  { return &v }
func cgU16(v uint16) *uint16  { return &v }
func cgLines(s string) string { return strings.Join(strings.Fields(s), "|") }

func TestCgroupMemoryLimitAndReservation(t *testing.T) {
	e := newEnv(t)
	limit, reservation := int64(64<<20), int64(32<<20)
	mutate := func(s *specs.Spec) {
		s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &limit, Reservation: &reservation}
	}
	limitFile := cgFile("memory", "memory.limit_in_bytes", "memory.max")
	resFile := cgFile("memory", "memory.soft_limit_in_bytes", "memory.low")
	got := e.runSh("cat "+limitFile+" "+resFile, mutate)
	if want := fmt.Sprintf("%d|%d", limit, reservation); cgLines(got) != want {
		t.Errorf("inside: %s %s = %q, want %q", limitFile, resFile, cgLines(got), want)
	}

	// The same numbers on the host, in the cgroup the init really sits in.
	id, pid := e.cgStart("sleep 30", mutate)
	dir := cgHostDir(t, pid, "memory")
	if got := readTrim(t, filepath.Join(dir, filepath.Base(limitFile))); got != strconv.FormatInt(limit, 10) {
		t.Errorf("host %s/%s = %s, want %d", dir, filepath.Base(limitFile), got, limit)
	}
	e.pcr("delete", "--force", id).ok(t)
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("cgroup %s still there after delete (stat: %v)", dir, err)
	}
}

// Swap follows runc: memory+swap equal to the limit (no swap) or -1 is
// satisfied without swap accounting and silently skipped; any other value
// needs accounting and fails clearly without it.
func TestCgroupMemorySwap(t *testing.T) {
	e := newEnv(t)
	limit := int64(64 << 20)
	swapFile := cgFile("memory", "memory.memsw.limit_in_bytes", "memory.swap.max")
	withSwap := func(swap int64) func(*specs.Spec) {
		return func(s *specs.Spec) {
			s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &limit, Swap: &swap}
		}
	}
	out := e.runSh(fmt.Sprintf("if [ -e %s ]; then echo acct; cat %s; else echo noacct; fi", swapFile, swapFile), withSwap(limit))
	f := strings.Fields(out)
	if len(f) == 0 {
		t.Fatalf("probe printed nothing")
	}
	accounting := f[0] == "acct"
	t.Logf("swap accounting: %v (%s)", accounting, swapFile)
	if accounting {
		// memory+swap == memory means no swap at all.
		want := strconv.FormatInt(limit, 10)
		if cgV2() {
			want = "0"
		}
		if len(f) < 2 || f[1] != want {
			t.Errorf("swap=limit: %s = %v, want %s", swapFile, f[1:], want)
		}
	}

	b := e.bundle(func(s *specs.Spec) {
		s.Process.Args = []string{"sh", "-c", "cat " + swapFile}
		withSwap(2 * limit)(s)
	})
	r := e.run(b)
	if !accounting {
		r.fails(t, "swap accounting is off")
		return
	}
	r.ok(t)
	want := strconv.FormatInt(2*limit, 10)
	if cgV2() {
		want = strconv.FormatInt(limit, 10) // v2 limits swap alone
	}
	if got := strings.TrimSpace(r.stdout); got != want {
		t.Errorf("swap=2*limit: %s = %s, want %s", swapFile, got, want)
	}
}

// A process that allocates past the limit is OOM-killed, and the cgroup's
// OOM counter, visible inside, says so. busybox tail keeps a line without
// a newline in memory, so 100 MiB of zeros grow it past 32 MiB.
func TestCgroupMemoryOOMKill(t *testing.T) {
	e := newEnv(t)
	limit := int64(32 << 20)
	events := cgFile("memory", "memory.oom_control", "memory.events")
	// The hog runs with oom_score_adj 1000 so the kernel's OOM killer picks
	// it, not the shell that reports (a second OOM kill took sh at times).
	out := e.runSh("(echo 1000 >/proc/self/oom_score_adj; exec sh -c 'head -c 100m /dev/zero | tail') >/dev/null 2>&1; echo rc=$?; grep -w oom_kill "+events, func(s *specs.Spec) {
		s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &limit}
	})
	f := strings.Fields(out)
	if len(f) != 3 || f[0] != "rc=137" || f[1] != "oom_kill" || f[2] == "0" {
		t.Errorf("got %q, want rc=137 (SIGKILL) and a non-zero oom_kill count", out)
	}
}

// sharesToWeightV2 is the cpu.shares -> cpu.weight curve runc, crun and
// Kubernetes share; 512 shares is weight 59 (1024 -> 100).
const shares512Weight = "59"

func TestCgroupCPU(t *testing.T) {
	e := newEnv(t)
	cpu := "0"
	if n := strings.Count(readTrim(t, "/sys/devices/system/cpu/online"), ","); n > 0 || strings.Contains(readTrim(t, "/sys/devices/system/cpu/online"), "-") {
		cpu = "1" // not the first CPU, so a default of "all" or "0" cannot pass
	}
	mutate := func(s *specs.Spec) {
		s.Linux.Resources.CPU = &specs.LinuxCPU{Shares: cgU64(512), Quota: cgI64(50000), Period: cgU64(100000), Cpus: cpu, Mems: "0"}
	}
	var script, want string
	if cgV2() {
		script = "cd /sys/fs/cgroup && cat cpu.weight cpu.max cpuset.cpus cpuset.mems"
		want = shares512Weight + "|50000|100000|" + cpu + "|0"
	} else {
		script = "cd /sys/fs/cgroup && cat cpu/cpu.shares cpu/cpu.cfs_quota_us cpu/cpu.cfs_period_us cpuset/cpuset.cpus cpuset/cpuset.mems"
		want = "512|50000|100000|" + cpu + "|0"
	}
	script += "; grep Cpus_allowed_list /proc/self/status"
	want += "|Cpus_allowed_list:|" + cpu
	if got := cgLines(e.runSh(script, mutate)); got != want {
		t.Errorf("inside: got %q, want %q", got, want)
	}
}

// With pids.max 10 a loop starting 30 background sleeps stops early; the
// container's init exiting takes the sleeps down with its pid namespace.
func TestCgroupPidsLimit(t *testing.T) {
	e := newEnv(t)
	out := e.runSh(`cat `+cgFile("pids", "pids.max", "pids.max")+`
n=0
( for i in $(seq 1 30); do sleep 10 & echo $i >/dev/shm/n; done ) 2>/dev/null
cat /dev/shm/n`, func(s *specs.Spec) {
		s.Linux.Resources.Pids = &specs.LinuxPids{Limit: cgI64(10)}
	})
	f := strings.Fields(out)
	if len(f) != 2 || f[0] != "10" {
		t.Fatalf("got %q, want pids.max 10 and a count", out)
	}
	n, err := strconv.Atoi(f[1])
	// sh and the subshell take two of the ten slots.
	if err != nil || n < 5 || n > 8 {
		t.Errorf("started %q background sleeps under pids.max=10, want 5..8", f[1])
	}
}

// cgRootDisk returns "major:minor" of the whole disk that holds /, or "" when
// / is not on a block device (the qemu VM runs from a tmpfs).
func cgRootDisk(t *testing.T) string {
	var st unix.Stat_t
	if err := unix.Stat("/", &st); err != nil {
		t.Fatal(err)
	}
	dev := fmt.Sprintf("%d:%d", unix.Major(st.Dev), unix.Minor(st.Dev))
	sys := "/sys/dev/block/" + dev
	if _, err := os.Stat(sys); err != nil {
		return ""
	}
	// The throttle files take whole disks only; a partition's parent is one.
	if _, err := os.Stat(sys + "/partition"); err == nil {
		return readTrim(t, sys+"/../dev")
	}
	return dev
}

func TestCgroupBlockIO(t *testing.T) {
	e := newEnv(t)
	// Which weight file exists depends on the kernel's IO scheduler; ask a
	// container without limits what its cgroup offers.
	v2 := cgV2()
	dir := "/sys/fs/cgroup/blkio"
	weightFiles := []string{"blkio.weight", "blkio.bfq.weight"}
	if v2 {
		dir = "/sys/fs/cgroup"
		weightFiles = []string{"io.bfq.weight", "io.weight"}
	}
	probe := e.runSh("cd "+dir+" && ls", nil)
	weightFile := ""
	for _, f := range weightFiles {
		if slices.Contains(strings.Fields(probe), f) {
			weightFile = f
			break
		}
	}
	disk := cgRootDisk(t)
	if weightFile == "" {
		t.Logf("no %v in the container's cgroup: no weight-capable IO scheduler, weight not checked", weightFiles)
	}
	if disk == "" {
		t.Logf("/ is not on a block device: throttling not checked")
	}
	if weightFile == "" && disk == "" {
		// Still prove a weight is refused clearly rather than dropped.
		b := e.bundle(func(s *specs.Spec) { s.Linux.Resources.BlockIO = &specs.LinuxBlockIO{Weight: cgU16(500)} })
		e.run(b).fails(t, "weight")
		return
	}
	var script []string
	var want []string
	bio := &specs.LinuxBlockIO{}
	if weightFile != "" {
		bio.Weight = cgU16(500)
		script = append(script, "cat "+weightFile)
		switch weightFile {
		case "io.weight":
			want = append(want, "default", "4950") // 10..1000 mapped onto 1..10000
		case "io.bfq.weight":
			want = append(want, "default", "500")
		default:
			want = append(want, "500")
		}
	}
	if disk != "" {
		var maj, min int64
		fmt.Sscanf(disk, "%d:%d", &maj, &min)
		bio.ThrottleReadBpsDevice = []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: maj, Minor: min}, Rate: 1 << 20}}
		if v2 {
			script = append(script, "grep '^"+disk+" ' io.max")
			want = append(want, disk, "rbps=1048576", "wbps=max", "riops=max", "wiops=max")
		} else {
			script = append(script, "cat blkio.throttle.read_bps_device")
			want = append(want, disk, "1048576")
		}
	}
	got := e.runSh("cd "+dir+" && "+strings.Join(script, " && "), func(s *specs.Spec) { s.Linux.Resources.BlockIO = bio })
	if cgLines(got) != strings.Join(want, "|") {
		t.Errorf("inside: got %q, want %q", cgLines(got), strings.Join(want, "|"))
	}
}

// A deny rule for /dev/urandom wins over the default allow list, while the
// other default devices stay usable.
func TestCgroupDevicesDeny(t *testing.T) {
	e := newEnv(t)
	out := e.runSh(`head -c1 /dev/urandom >/dev/null 2>/dev/shm/err; echo urandom=$?; cat /dev/shm/err
echo x >/dev/null && echo null=ok
head -c1 /dev/zero | wc -c`, func(s *specs.Spec) {
		s.Linux.Resources.Devices = append(s.Linux.Resources.Devices,
			specs.LinuxDeviceCgroup{Allow: false, Type: "c", Major: cgI64(1), Minor: cgI64(9), Access: "rwm"})
	})
	if !strings.Contains(out, "urandom=1") || !strings.Contains(out, "Operation not permitted") ||
		!strings.Contains(out, "null=ok") || !strings.HasSuffix(strings.TrimSpace(out), "1") {
		t.Errorf("got %q, want urandom denied with EPERM and /dev/null, /dev/zero usable", out)
	}
}

// cgAbsBase is an absolute cgroup path below the caller's own cgroup in every
// hierarchy, so an absolute cgroupsPath test stays inside what the test may
// touch; "" when the hierarchies disagree too much for one path.
func cgAbsBase(t *testing.T) string {
	if cgV2() {
		return cgProcCgroups(t, "self")[""]
	}
	base := "/"
	for _, p := range cgV1Hierarchies(t) {
		if len(p) > len(base) {
			base = p
		}
	}
	for _, p := range cgV1Hierarchies(t) {
		if p != "/" && p != base && !strings.HasPrefix(base, p+"/") {
			return ""
		}
	}
	return base
}

// cgDirs lists the host directories of an absolute cgroup path in every
// hierarchy pcr manages.
func cgDirs(t *testing.T, abs string) []string {
	if cgV2() {
		return []string{filepath.Join("/sys/fs/cgroup", abs)}
	}
	var out []string
	for h := range cgV1Hierarchies(t) {
		out = append(out, filepath.Join("/sys/fs/cgroup", h, abs))
	}
	return out
}

// cgMkdirAll makes dir and its missing parents as cgroups, and removes
// exactly those at the end of the test, deepest first.
func cgMkdirAll(t *testing.T, dir string) {
	t.Helper()
	var made []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil {
			break
		}
		made = append(made, d)
	}
	for i := len(made) - 1; i >= 0; i-- {
		if err := os.Mkdir(made[i], 0o755); err != nil {
			t.Fatal(err)
		}
		d := made[i]
		t.Cleanup(func() {
			if err := unix.Rmdir(d); err != nil {
				t.Errorf("remove test cgroup %s: %v", d, err)
			}
		})
		if strings.HasPrefix(d, "/sys/fs/cgroup/cpuset/") {
			// A new v1 cpuset has no cpus until someone gives it some.
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				v := readTrim(t, filepath.Join(filepath.Dir(d), f))
				if err := os.WriteFile(filepath.Join(d, f), []byte(v), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

// cgCheckPlacement asserts that pid sits at want(own) in each hierarchy.
func cgCheckPlacement(t *testing.T, pid string, want func(own string) string) {
	t.Helper()
	got := cgProcCgroups(t, pid)
	if cgV2() {
		// Below the v2 root the caller's cgroup holds the test itself and
		// could delegate no controller, so pcr puts relative paths beside it.
		own := cgProcCgroups(t, "self")[""]
		if own != "/" {
			own = filepath.Dir(own)
		}
		if got[""] != want(own) {
			t.Errorf("init %s is in %q, want %q", pid, got[""], want(own))
		}
		return
	}
	for h, own := range cgV1Hierarchies(t) {
		key := h
		if h == "systemd" {
			key = "name=systemd"
		}
		if got[key] != want(own) {
			t.Errorf("init %s: %s cgroup %q, want %q", pid, h, got[key], want(own))
		}
	}
}

func TestCgroupPathDefaultAndRelative(t *testing.T) {
	e := newEnv(t)
	id, pid := e.cgStart("sleep 30", nil)
	cgCheckPlacement(t, pid, func(own string) string { return filepath.Join(own, "pcr", id) })
	dirs := cgDirs(t, cgProcCgroups(t, pid)[map[bool]string{true: "", false: "memory"}[cgV2()]])
	e.pcr("delete", "--force", id).ok(t)
	for _, d := range dirs {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("%s still there after delete", d)
		}
	}

	rel := e.tag + "-rel/" + "x"
	id, pid = e.cgStart("sleep 30", func(s *specs.Spec) { s.Linux.CgroupsPath = rel })
	cgCheckPlacement(t, pid, func(own string) string { return filepath.Join(own, rel) })
	e.pcr("delete", "--force", id).ok(t)
	// Both levels were pcr's: the leak check after the test fails on either.
}

func TestCgroupPathAbsolute(t *testing.T) {
	e := newEnv(t)
	base := cgAbsBase(t)
	if base == "" {
		t.Skipf("no absolute path lies below the caller's cgroup in every hierarchy: %v", cgV1Hierarchies(t))
	}
	abs := filepath.Join(base, "pcr-"+e.tag, "x")
	id, pid := e.cgStart("sleep 30", func(s *specs.Spec) { s.Linux.CgroupsPath = abs })
	cgCheckPlacement(t, pid, func(string) string { return abs })
	e.pcr("delete", "--force", id).ok(t)
	for _, d := range cgDirs(t, filepath.Dir(abs)) {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("%s still there after delete", d)
		}
	}

	// A parent that someone else made (here: the test) stays after delete;
	// pcr removes only what it created.
	pre := filepath.Join(base, "pcr-"+e.tag+"-pre")
	preDirs := cgDirs(t, pre)
	for _, d := range preDirs {
		cgMkdirAll(t, d)
	}
	id, pid = e.cgStart("sleep 30", func(s *specs.Spec) { s.Linux.CgroupsPath = pre + "/x" })
	cgCheckPlacement(t, pid, func(string) string { return pre + "/x" })
	e.pcr("delete", "--force", id).ok(t)
	for _, d := range preDirs {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("pre-existing cgroup %s was removed by delete: %v", d, err)
		}
		if _, err := os.Stat(filepath.Join(d, "x")); err == nil {
			t.Errorf("%s/x still there after delete", d)
		}
	}

	// The pre-existing cgroup itself as the container's: pcr would have to
	// write its limits (the device rules at least) into a cgroup it did not
	// create, so it refuses clearly and leaves the cgroup alone.
	b := e.bundle(func(s *specs.Spec) { s.Linux.CgroupsPath = pre })
	e.detached(nil, "create", "--bundle", b, e.id()).fails(t, "did not create")
	for _, d := range preDirs {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("pre-existing cgroup %s was removed by a failed create: %v", d, err)
		}
	}
}

// Values the kernel would reject with a bare EINVAL, or accept and
// misbehave on, fail create with one line naming the file and the value,
// and leave no cgroup or state behind (the env's leak check).
func TestCgroupInvalidValues(t *testing.T) {
	e := newEnv(t)
	v2 := cgV2()
	pick := func(v1, v2name string) string {
		if v2 {
			return v2name
		}
		return v1
	}
	cases := []struct {
		name   string
		mutate func(*specs.LinuxResources)
		want   []string
	}{
		{"memory limit 1", func(r *specs.LinuxResources) { r.Memory = &specs.LinuxMemory{Limit: cgI64(1)} },
			[]string{pick("memory.limit_in_bytes", "memory.max"), `"1"`}},
		{"cpus 7-9", func(r *specs.LinuxResources) { r.CPU = &specs.LinuxCPU{Cpus: "7-9"} },
			[]string{"cpuset.cpus", `"7-9"`}},
		{"shares 1", func(r *specs.LinuxResources) { r.CPU = &specs.LinuxCPU{Shares: cgU64(1)} },
			[]string{pick("cpu.shares", "cpu.weight"), `"1"`}},
		{"quota 500us", func(r *specs.LinuxResources) { r.CPU = &specs.LinuxCPU{Quota: cgI64(500), Period: cgU64(100000)} },
			[]string{pick("cpu.cfs_quota_us", "cpu.max"), `"500"`}},
		{"pids -5", func(r *specs.LinuxResources) { r.Pids = &specs.LinuxPids{Limit: cgI64(-5)} },
			[]string{"pids.max", `"-5"`}},
	}
	for _, c := range cases {
		b := e.bundle(func(s *specs.Spec) { c.mutate(s.Linux.Resources) })
		// Files, not pipes: a create that wrongly succeeds hands them to a
		// container that keeps them open.
		r := e.detached(nil, "create", "--bundle", b, e.id())
		r.fails(t, c.want[0])
		for _, w := range c.want[1:] {
			if !strings.Contains(r.stderr, w) {
				t.Errorf("%s: error %q does not name the value %s", c.name, strings.TrimSpace(r.stderr), w)
			}
		}
	}

	// Shares are unsigned in the spec: a negative number is a config error.
	b := e.bundle(func(s *specs.Spec) { s.Linux.Resources.CPU = &specs.LinuxCPU{Shares: cgU64(123456789)} })
	cfg := filepath.Join(b, "config.json")
	data, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, []byte(strings.Replace(string(data), "123456789", "-5", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	e.detached(nil, "create", "--bundle", b, e.id()).fails(t, "shares")
}

// events --stats reports what the cgroup files say, and pause/resume show
// in the freezer.
func TestCgroupEventsStatsAndFreeze(t *testing.T) {
	e := newEnv(t)
	id, pid := e.cgStart("sleep 30 & sleep 30 & wait", func(s *specs.Spec) {
		s.Linux.Resources.Pids = &specs.LinuxPids{Limit: cgI64(50)}
		s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: cgI64(256 << 20)}
	})
	pidsDir := cgHostDir(t, pid, "pids")
	memDir := cgHostDir(t, pid, "memory")
	// The two sleeps start asynchronously.
	deadline := time.Now().Add(5 * time.Second)
	for readTrim(t, filepath.Join(pidsDir, "pids.current")) != "3" && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	r := e.pcr("events", "--stats", id).ok(t)
	var ev struct {
		Type string `json:"type"`
		ID   string `json:"id"`
		Data struct {
			Memory struct {
				Usage struct {
					Usage uint64 `json:"usage"`
					Limit uint64 `json:"limit"`
				} `json:"usage"`
			} `json:"memory"`
			Pids struct {
				Current uint64 `json:"current"`
				Limit   uint64 `json:"limit"`
			} `json:"pids"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &ev); err != nil {
		t.Fatalf("events --stats: %v: %q", err, r.stdout)
	}
	if ev.Type != "stats" || ev.ID != id {
		t.Errorf("events --stats: type %q id %q, want stats %s", ev.Type, ev.ID, id)
	}
	if got := readTrim(t, filepath.Join(pidsDir, "pids.current")); ev.Data.Pids.Current != 3 || got != "3" {
		t.Errorf("pids current: events %d, %s/pids.current %s, want 3 (sh and two sleeps)", ev.Data.Pids.Current, pidsDir, got)
	}
	if ev.Data.Pids.Limit != 50 {
		t.Errorf("pids limit: events %d, want 50", ev.Data.Pids.Limit)
	}
	usageFile := filepath.Join(memDir, map[bool]string{true: "memory.current", false: "memory.usage_in_bytes"}[cgV2()])
	host, _ := strconv.ParseUint(readTrim(t, usageFile), 10, 64)
	if u := ev.Data.Memory.Usage.Usage; u == 0 || host == 0 || u > 2*host+(1<<20) || host > 2*u+(1<<20) {
		t.Errorf("memory usage: events %d, %s %d: want both non-zero and close", u, usageFile, host)
	}
	if ev.Data.Memory.Usage.Limit != 256<<20 {
		t.Errorf("memory limit: events %d, want %d", ev.Data.Memory.Usage.Limit, 256<<20)
	}

	frozen := func() string {
		if cgV2() {
			return readTrim(t, filepath.Join(memDir, "cgroup.freeze"))
		}
		return readTrim(t, filepath.Join(cgHostDir(t, pid, "freezer"), "freezer.state"))
	}
	e.pcr("pause", id).ok(t)
	if got, want := frozen(), map[bool]string{true: "1", false: "FROZEN"}[cgV2()]; got != want {
		t.Errorf("after pause: freezer %q, want %q", got, want)
	}
	if cgV2() && !strings.Contains(readTrim(t, filepath.Join(memDir, "cgroup.events")), "frozen 1") {
		t.Errorf("after pause: %s/cgroup.events does not say frozen 1", memDir)
	}
	if st := e.state(id)["status"]; st != "paused" {
		t.Errorf("after pause: status %v, want paused", st)
	}
	e.pcr("resume", id).ok(t)
	if got, want := frozen(), map[bool]string{true: "0", false: "THAWED"}[cgV2()]; got != want {
		t.Errorf("after resume: freezer %q, want %q", got, want)
	}
	if st := e.state(id)["status"]; st != "running" {
		t.Errorf("after resume: status %v, want running", st)
	}
	e.pcr("delete", "--force", id).ok(t)
}
