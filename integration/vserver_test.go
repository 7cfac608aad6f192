package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// vsEnv is an engine env for vservers: they join pcr's bridge, so the
// network checks apply too. Its cleanup removes the vservers a failed
// test left (a passing test removes its own) before the leak checks,
// which also look for vserver records and UID ranges.
type vsEnv struct {
	*netEnv
}

func newVsEnv(t *testing.T) *vsEnv {
	t.Helper()
	e := &vsEnv{netEnv: newNetEnv(t)}
	e.openForUserNS()
	// Registered last, so it runs before the container and leak checks.
	t.Cleanup(func() {
		e.rememberIDs()
		if names := e.listed(); len(names) > 0 {
			e.pcr(append([]string{"vserver", "rm"}, names...)...)
		}
	})
	return e
}

// vserverJSON is what `pcr vserver inspect` shows of one vserver.
type vserverJSON struct {
	Slice       string         `json:"slice"`
	Image       string         `json:"image"`
	Rspec       map[string]any `json:"rspec"`
	Applied     map[string]any `json:"applied"`
	Expires     time.Time      `json:"expires"`
	State       string         `json:"state"`
	Reason      string         `json:"reason"`
	ContainerID string         `json:"containerId"`
	HostUID     uint32         `json:"hostUid"`
	IDSize      uint32         `json:"idSize"`
	Held        bool           `json:"held"`
	Pid         int            `json:"pid"`
	IPAddress   string         `json:"ipAddress"`
}

// vserverStats is one line of `pcr vserver stats --format json`.
type vserverStats struct {
	Slice       string  `json:"slice"`
	Running     bool    `json:"running"`
	CPUSeconds  float64 `json:"cpuSeconds"`
	MemoryBytes uint64  `json:"memoryBytes"`
	MemoryLimit uint64  `json:"memoryLimit"`
	Pids        uint64  `json:"pids"`
	DiskUsed    uint64  `json:"diskUsedBytes"`
	DiskLimit   uint64  `json:"diskLimitBytes"`
	NetRx       uint64  `json:"netRxBytes"`
	NetTx       uint64  `json:"netTxBytes"`
}

// create makes a running vserver of slice from image with the flags
// (rspec, volumes, expiry) and returns what inspect says of it.
func (e *vsEnv) create(slice, image string, flags ...string) vserverJSON {
	e.t.Helper()
	args := append(append([]string{"vserver", "create", "--image", image}, flags...), slice)
	r := runPCR(e.t, 120*time.Second, nil, []string{"--root", e.root, "--state", e.state}, args).ok(e.t)
	if got := strings.TrimSpace(r.stdout); got != slice {
		e.t.Fatalf("vserver create %s printed %q, want the slice name", slice, r.stdout)
	}
	v := e.inspect(slice)
	if v.State != "running" || v.Pid <= 0 || v.ContainerID == "" {
		e.t.Fatalf("vserver %s after create: state %q pid %d container %q, want running", slice, v.State, v.Pid, v.ContainerID)
	}
	e.rememberIDs()
	return v
}

func (e *vsEnv) inspect(slice string) vserverJSON {
	e.t.Helper()
	var out []vserverJSON
	r := e.pcr("vserver", "inspect", slice).ok(e.t)
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || len(out) != 1 {
		e.t.Fatalf("vserver inspect %s: %v: %s", slice, err, r.stdout)
	}
	return out[0]
}

func (e *vsEnv) stats(slice string) vserverStats {
	e.t.Helper()
	r := e.pcr("vserver", "stats", "--format", "json", slice).ok(e.t)
	var s vserverStats
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil || s.Slice != slice {
		e.t.Fatalf("vserver stats %s: %v: %q", slice, err, r.stdout)
	}
	return s
}

// exec runs `pcr vserver exec [flags] SLICE -- cmd…`.
func (e *vsEnv) exec(slice string, cmd ...string) result {
	return e.execAs("", slice, cmd...)
}

func (e *vsEnv) execAs(user, slice string, cmd ...string) result {
	args := []string{"vserver", "exec"}
	if user != "" {
		args = append(args, "-u", user)
	}
	args = append(append(args, slice, "--"), cmd...)
	return e.pcr(args...)
}

// sh runs a script in the vserver as its root and returns stdout; a
// non-zero exit fails the test.
func (e *vsEnv) sh(slice, script string) string {
	e.t.Helper()
	return e.exec(slice, "sh", "-c", script).ok(e.t).stdout
}

// rm removes vservers and checks that they are gone from ls.
func (e *vsEnv) rm(names ...string) {
	e.t.Helper()
	e.rememberIDs()
	e.pcr(append([]string{"vserver", "rm"}, names...)...).ok(e.t)
	left := e.listed()
	for _, s := range names {
		if slices.Contains(left, s) {
			e.t.Errorf("vserver %s still listed after rm: %v", s, left)
		}
	}
}

func (e *vsEnv) listed() []string {
	r := e.pcr("vserver", "ls", "-q")
	if r.code != 0 {
		return nil
	}
	return strings.Fields(r.stdout)
}

// inspectContainer is the part of `pcr inspect` a vserver test reads.
type containerJSON struct {
	ID          string `json:"Id"`
	GraphDriver struct {
		Data map[string]string
	}
}

func (e *vsEnv) container(id string) containerJSON {
	e.t.Helper()
	var out []containerJSON
	r := e.pcr("inspect", id).ok(e.t)
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || len(out) != 1 {
		e.t.Fatalf("inspect %s: %v: %s", id, err, r.stdout)
	}
	return out[0]
}

// loadDebian loads the debian fixture image as "debian".
func (e *vsEnv) loadDebian() {
	e.t.Helper()
	archive := filepath.Join(fixtures, "debian-image.tar")
	if _, err := os.Stat(archive); err != nil {
		if os.Getenv("CI") == "true" {
			e.t.Fatalf("debian fixture missing under CI=true (make fixtures): %v", err)
		}
		e.t.Skipf("debian fixture missing (make fixtures): %v", err)
	}
	runPCR(e.t, 120*time.Second, nil, []string{"--root", e.root, "--state", e.state}, []string{"load", "-q", "-i", archive}).ok(e.t)
}

// background starts `pcr vserver exec [-u user] SLICE -- cmd…` and leaves
// it running; the test ends it by killing what it runs.
func (e *vsEnv) background(user, slice string, cmd ...string) *exec.Cmd {
	e.t.Helper()
	args := []string{"vserver", "exec"}
	if user != "" {
		args = append(args, "-u", user)
	}
	c := e.command(append(append(args, slice, "--"), cmd...)...)
	if err := c.Start(); err != nil {
		e.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { c.Wait(); close(done) }()
	e.t.Cleanup(func() {
		c.Process.Kill()
		<-done
	})
	return c
}

// pidNS is the pid namespace of pid, as its /proc link names it.
func pidNS(pid int) string {
	ns, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", pid))
	return ns
}

// nsProcs lists the host pids of the processes in pid's pid namespace.
func nsProcs(pid int) []int {
	want := pidNS(pid)
	var out []int
	if want == "" {
		return nil
	}
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		n, err := strconv.Atoi(filepath.Base(p))
		if err != nil {
			continue
		}
		if ns, _ := os.Readlink(p + "/ns/pid"); ns == want {
			out = append(out, n)
		}
	}
	return out
}

// findInNS waits for the process running cmdline in init's pid namespace
// and returns its host pid.
func findInNS(t *testing.T, init int, cmdline string) int {
	t.Helper()
	found := 0
	waitFor(t, 20*time.Second, "a process "+strconv.Quote(cmdline)+" beside pid "+strconv.Itoa(init), func() bool {
		for _, p := range nsProcs(init) {
			if procCmdline(p) == cmdline {
				found = p
				return true
			}
		}
		return false
	})
	return found
}

// hostUID is the real UID of pid on the host; it fails the test when the
// real, effective, saved and fs UIDs differ.
func hostUID(t *testing.T, pid int) uint32 {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if f, ok := strings.CutPrefix(l, "Uid:"); ok {
			ids := strings.Fields(f)
			if len(ids) != 4 || ids[0] != ids[1] || ids[0] != ids[2] || ids[0] != ids[3] {
				t.Fatalf("pid %d: Uid:%s, want four equal IDs", pid, f)
			}
			n, err := strconv.ParseUint(ids[0], 10, 32)
			if err != nil {
				t.Fatal(err)
			}
			return uint32(n)
		}
	}
	t.Fatalf("pid %d: no Uid: line in its status", pid)
	return 0
}

func statT(t *testing.T, path string) *syscall.Stat_t {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Lstat(path, &st); err != nil {
		t.Fatal(err)
	}
	return &st
}

// idRanges is <root>/vservers/idranges.json's slots, "" when absent.
func (e *vsEnv) idRanges() string {
	data, err := os.ReadFile(filepath.Join(e.root, "vservers", "idranges.json"))
	if err != nil {
		return ""
	}
	var r struct{ Slots map[string]int }
	if json.Unmarshal(data, &r) != nil {
		return "unparsable: " + string(data)
	}
	keys := make([]string, 0, len(r.Slots))
	for k, v := range r.Slots {
		keys = append(keys, fmt.Sprintf("%s=%d", k, v))
	}
	slices.Sort(keys)
	return strings.Join(keys, ",")
}

// checkNoVserverLeaks fails the test for a vserver's trace left under
// root after its vservers are removed: a record, a UID range or a slice
// lock (their disks' loop devices are the engine check's).
func checkNoVserverLeaks(t *testing.T, root string) {
	t.Helper()
	vdir := filepath.Join(root, "vservers")
	if entries, err := os.ReadDir(vdir); err == nil {
		for _, en := range entries {
			if n, ok := strings.CutSuffix(en.Name(), ".json"); ok && n != "idranges" {
				t.Errorf("leaked vserver record: %s", filepath.Join(vdir, en.Name()))
			}
		}
	}
	if data, err := os.ReadFile(filepath.Join(vdir, "idranges.json")); err == nil {
		var r struct{ Slots map[string]int }
		if err := json.Unmarshal(data, &r); err != nil {
			t.Errorf("idranges.json: %v: %s", err, data)
		}
		for s, n := range r.Slots {
			t.Errorf("leaked UID range: slot %d of %s in %s", n, s, filepath.Join(vdir, "idranges.json"))
		}
	}
	if entries, err := os.ReadDir(filepath.Join(vdir, "locks")); err == nil {
		for _, en := range entries {
			t.Errorf("leaked vserver lock: %s", filepath.Join(vdir, "locks", en.Name()))
		}
	}
}

// lsRow is one row of `pcr vserver ls`: its columns by header.
func (e *vsEnv) lsRow(slice string) map[string]string {
	e.t.Helper()
	out := e.pcr("vserver", "ls").ok(e.t).stdout
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	// tabwriter pads with at least 3 spaces; values have at most one.
	sep := regexp.MustCompile(` {2,}`)
	header := sep.Split(strings.TrimSpace(lines[0]), -1)
	for _, l := range lines[1:] {
		cols := sep.Split(strings.TrimSpace(l), -1)
		if len(cols) == 0 || cols[0] != slice {
			continue
		}
		if len(cols) != len(header) {
			e.t.Fatalf("vserver ls row %q has %d columns, header %q has %d", l, len(cols), lines[0], len(header))
		}
		row := map[string]string{}
		for i, h := range header {
			row[h] = cols[i]
		}
		return row
	}
	e.t.Fatalf("vserver ls has no row for %s:\n%s", slice, out)
	return nil
}

// 1. Two vservers from one image run on the same layer files, each with
// its own writable layer.
func TestVserverSharedLayers(t *testing.T) {
	e := newVsEnv(t)
	a := e.create("site_one", "busybox")
	b := e.create("site_two", "busybox")
	la := strings.Split(e.container(a.ContainerID).GraphDriver.Data["LowerDir"], ":")
	lb := strings.Split(e.container(b.ContainerID).GraphDriver.Data["LowerDir"], ":")
	if len(la) == 0 || la[0] == "" || !slices.Equal(la, lb) {
		t.Fatalf("lower dirs differ: %v and %v, want the image's layers for both", la, lb)
	}
	layers := filepath.Join(e.root, "layers") + "/"
	for _, l := range la {
		if !strings.HasPrefix(l, layers) {
			t.Errorf("lower dir %s is not a layer under %s", l, layers)
		}
	}
	base := la[len(la)-1]
	file := filepath.Join(base, "bin", "busybox")
	host := statT(t, file)
	if host.Uid != 0 {
		t.Errorf("%s is owned by %d on the host: the shared layer was chowned", file, host.Uid)
	}
	// Each container sees the layer through its own idmapped mount:
	// the same inode, owned by that vserver's root.
	for _, v := range []vserverJSON{a, b} {
		views, _ := filepath.Glob(filepath.Join(e.root, "containers", v.ContainerID, "lower", "*"))
		if len(views) == 0 {
			t.Logf("%s: no idmapped layer views under its container dir", v.Slice)
			continue
		}
		view := filepath.Join(e.root, "containers", v.ContainerID, "lower", strconv.Itoa(len(la)-1), "bin", "busybox")
		st := statT(t, view)
		if st.Ino != host.Ino || st.Dev != host.Dev {
			t.Errorf("%s: %s is inode %d:%d, the layer's file %d:%d", v.Slice, view, st.Dev, st.Ino, host.Dev, host.Ino)
		}
		if st.Uid != v.HostUID {
			t.Errorf("%s: %s is owned by %d, want its root %d", v.Slice, view, st.Uid, v.HostUID)
		}
	}
	inoA := strings.TrimSpace(e.sh(a.Slice, "stat -c '%i %u' /bin/busybox"))
	inoB := strings.TrimSpace(e.sh(b.Slice, "stat -c '%i %u' /bin/busybox"))
	t.Logf("/bin/busybox: host inode %d; inside %s: %s, inside %s: %s (inode uid)", host.Ino, a.Slice, inoA, b.Slice, inoB)
	if inoA != inoB || !strings.HasSuffix(inoA, " 0") {
		t.Errorf("/bin/busybox inside: %q and %q, want the same inode owned by root", inoA, inoB)
	}

	e.sh(a.Slice, "echo from-one >/etc/x")
	e.sh(b.Slice, "echo from-two >/etc/x")
	if got := e.sh(a.Slice, "cat /etc/x"); got != "from-one\n" {
		t.Errorf("%s /etc/x = %q, want from-one", a.Slice, got)
	}
	if got := e.sh(b.Slice, "cat /etc/x"); got != "from-two\n" {
		t.Errorf("%s /etc/x = %q, want from-two", b.Slice, got)
	}
	for _, l := range la {
		if fileExists(filepath.Join(l, "etc", "x")) {
			t.Errorf("a write inside reached the shared layer: %s", filepath.Join(l, "etc", "x"))
		}
	}
	if upA, upB := e.container(a.ContainerID).GraphDriver.Data["UpperDir"], e.container(b.ContainerID).GraphDriver.Data["UpperDir"]; upA == upB {
		t.Errorf("both vservers write to %s", upA)
	}
	e.rm(a.Slice, b.Slice)
}

// 2. Root and UID 1000 of two vservers are four different unprivileged
// host UIDs, and neither vserver sees the other's processes.
func TestVserverUIDIsolation(t *testing.T) {
	e := newVsEnv(t)
	a := e.create("site_one", "busybox")
	b := e.create("site_two", "busybox")
	if a.HostUID == 0 || b.HostUID == 0 || a.HostUID == b.HostUID {
		t.Fatalf("host UIDs %d and %d, want two different non-zero ones", a.HostUID, b.HostUID)
	}
	if a.IDSize <= 1000 || b.IDSize <= 1000 {
		t.Fatalf("ID ranges of %d and %d, want room for UID 1000", a.IDSize, b.IDSize)
	}
	if r := a.HostUID + a.IDSize; b.HostUID < r && a.HostUID < b.HostUID+b.IDSize {
		t.Errorf("ranges overlap: %d+%d and %d+%d", a.HostUID, a.IDSize, b.HostUID, b.IDSize)
	}
	for _, v := range []vserverJSON{a, b} {
		if got := hostUID(t, v.Pid); got != v.HostUID {
			t.Errorf("%s: init (pid %d) runs as host UID %d, want %d", v.Slice, v.Pid, got, v.HostUID)
		}
	}
	e.background("", a.Slice, "sleep", "301")
	e.background("1000", a.Slice, "sleep", "302")
	e.background("", b.Slice, "sleep", "303")
	e.background("1000", b.Slice, "sleep", "304")
	procs := map[string]int{}
	for _, c := range []struct {
		v   vserverJSON
		cmd string
		uid uint32
	}{
		{a, "sleep 301", a.HostUID}, {a, "sleep 302", a.HostUID + 1000},
		{b, "sleep 303", b.HostUID}, {b, "sleep 304", b.HostUID + 1000},
	} {
		pid := findInNS(t, c.v.Pid, c.cmd)
		procs[c.cmd] = pid
		if got := hostUID(t, pid); got != c.uid {
			t.Errorf("%s: %q (pid %d) runs as host UID %d, want %d", c.v.Slice, c.cmd, pid, got, c.uid)
		}
	}
	if a.HostUID+1000 == b.HostUID+1000 {
		t.Errorf("UID 1000 is host UID %d in both", a.HostUID+1000)
	}
	psA := e.exec(a.Slice, "ps").ok(t).stdout
	psB := e.exec(b.Slice, "ps").ok(t).stdout
	for _, c := range []struct {
		slice, ps, own, other string
	}{{a.Slice, psA, "sleep 30[12]", "sleep 30[34]"}, {b.Slice, psB, "sleep 30[34]", "sleep 30[12]"}} {
		if n := len(regexp.MustCompile(c.own).FindAllString(c.ps, -1)); n != 2 {
			t.Errorf("%s: ps shows %d of its own two sleeps:\n%s", c.slice, n, c.ps)
		}
		if regexp.MustCompile(c.other).MatchString(c.ps) {
			t.Errorf("%s: ps shows the other vserver's processes:\n%s", c.slice, c.ps)
		}
	}
	// Inside, the processes are the init, the two sleeps and ps itself.
	if n := strings.Count(strings.TrimSpace(psA), "\n"); n > 5 {
		t.Errorf("%s: ps lists %d processes, want its own four:\n%s", a.Slice, n, psA)
	}
	for _, pid := range procs {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	e.rm(a.Slice, b.Slice)
}

// 3. Root in a vserver is not root on the host: a host directory owned by
// root is read-only to it, and it cannot load modules, make devices or
// change the host's kernel settings.
func TestVserverRootIsUnprivileged(t *testing.T) {
	e := newVsEnv(t)
	hostDir := filepath.Join(e.dir, "hostdir")
	if err := os.Mkdir(hostDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(hostDir, "hello"), []byte("from the host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	v := e.create("site_one", "busybox", "-v", hostDir+":/host")
	if got := e.sh(v.Slice, "cat /host/hello"); got != "from the host\n" {
		t.Fatalf("/host/hello inside = %q: the volume is not mounted", got)
	}
	r := e.exec(v.Slice, "touch", "/host/x")
	if r.code == 0 || !strings.Contains(r.stderr+r.stdout, "Permission denied") {
		t.Errorf("touch /host/x: exit %d, %q, want Permission denied", r.code, r.stderr+r.stdout)
	}
	r = e.exec(v.Slice, "chmod", "777", "/host")
	if r.code == 0 || !strings.Contains(r.stderr+r.stdout, "Operation not permitted") {
		t.Errorf("chmod 777 /host: exit %d, %q, want Operation not permitted", r.code, r.stderr+r.stdout)
	}
	if fileExists(filepath.Join(hostDir, "x")) {
		t.Errorf("root inside created %s on the host", filepath.Join(hostDir, "x"))
	}
	if st := statT(t, hostDir); st.Mode&0o777 != 0o755 || st.Uid != 0 {
		t.Errorf("%s is now mode %o uid %d, want 755 root", hostDir, st.Mode&0o777, st.Uid)
	}

	// init_module is checked against the host's user namespace before the
	// module is read: EPERM, not a complaint about the garbage.
	r = e.exec(v.Slice, "sh", "-c", "head -c 4096 /dev/urandom >/tmp/evil.ko && insmod /tmp/evil.ko")
	if r.code == 0 || !strings.Contains(r.stderr+r.stdout, "Operation not permitted") {
		t.Errorf("insmod: exit %d, %q, want Operation not permitted", r.code, r.stderr+r.stdout)
	}
	r = e.exec(v.Slice, "mknod", "/tmp/sda", "b", "8", "0")
	if r.code == 0 || !strings.Contains(r.stderr+r.stdout, "Operation not permitted") {
		t.Errorf("mknod /tmp/sda b 8 0: exit %d, %q, want Operation not permitted", r.code, r.stderr+r.stdout)
	}
	if out := e.sh(v.Slice, "test -e /tmp/sda && echo exists || echo absent"); out != "absent\n" {
		t.Errorf("/tmp/sda after the failed mknod: %s", out)
	}
	r = e.exec(v.Slice, "sh", "-c", "echo 3 >/proc/sys/vm/drop_caches")
	denied := false
	for _, msg := range []string{"Permission denied", "Read-only file system", "Operation not permitted"} {
		denied = denied || strings.Contains(r.stderr+r.stdout, msg)
	}
	if r.code == 0 || !denied {
		t.Errorf("echo 3 >/proc/sys/vm/drop_caches: exit %d, %q, want it denied", r.code, r.stderr+r.stdout)
	}
	e.rm(v.Slice)
}

// 4. Past its memory cap a process in the vserver is OOM-killed; the
// vserver and the host's processes go on.
func TestVserverMemoryCapOOMKillsInside(t *testing.T) {
	e := newVsEnv(t)
	v := e.create("site_one", "busybox", "--memory", "32M")
	bystander := exec.Command("sleep", "120")
	if err := bystander.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		bystander.Process.Kill()
		bystander.Wait()
	}()
	// busybox tail keeps a line without a newline in memory: 100 MiB of
	// zeros grow it far past 32 MiB. oom_score_adj makes the hog, not the
	// shell, the one the kernel picks.
	r := e.exec(v.Slice, "sh", "-c", "echo 1000 >/proc/self/oom_score_adj; head -c 100m /dev/zero | tail >/dev/null")
	if r.code != 137 {
		t.Errorf("the 100 MiB allocation exited %d (stderr %q), want 137 (killed by the OOM killer)", r.code, r.stderr)
	}
	after := e.inspect(v.Slice)
	if after.State != "running" || after.Pid != v.Pid {
		t.Errorf("after the OOM kill: state %s pid %d, want running with init pid %d", after.State, after.Pid, v.Pid)
	}
	if got := e.sh(v.Slice, "echo alive"); got != "alive\n" {
		t.Errorf("exec after the OOM kill printed %q", got)
	}
	if err := bystander.Process.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("the host's sleep died: %v", err)
	}
	if s := e.stats(v.Slice); s.MemoryLimit != 32<<20 {
		t.Errorf("stats memoryLimit %d, want %d", s.MemoryLimit, 32<<20)
	}
	e.rm(v.Slice)
}

// 5. The pids cap stops a fork loop inside.
func TestVserverPidsCap(t *testing.T) {
	e := newVsEnv(t)
	v := e.create("site_one", "busybox", "--pids", "8")
	// The sleeps leave exec's stdout and stderr to it: exec ends with sh.
	r := e.exec(v.Slice, "sh", "-c", "for i in $(seq 20); do sleep 300 >/dev/null 2>&1 & done; echo all started")
	out := r.stdout + r.stderr
	if !strings.Contains(out, "can't fork") && !strings.Contains(out, "Resource temporarily unavailable") {
		t.Errorf("20 background sleeps under --pids 8: exit %d, %q, want a fork failure", r.code, out)
	}
	if strings.Contains(out, "all started") {
		t.Errorf("all 20 sleeps started under --pids 8: %q", out)
	}
	if n := len(nsProcs(v.Pid)); n > 8 || n < 2 {
		t.Errorf("%d processes in the vserver, want 2..8", n)
	}
	if s := e.stats(v.Slice); s.Pids > 8 || s.Pids < 2 {
		t.Errorf("stats pids %d, want 2..8", s.Pids)
	}
	e.rm(v.Slice)
}

// 6. The disk cap is a filesystem's size: writing past it fails with
// ENOSPC in that vserver only, and stats show the cap and the use.
func TestVserverDiskCap(t *testing.T) {
	e := newVsEnv(t)
	a := e.create("site_small", "busybox", "--disk", "32M")
	b := e.create("site_large", "busybox", "--disk", "96M")
	r := e.exec(a.Slice, "dd", "if=/dev/zero", "of=/big", "bs=1M", "count=64")
	if out := r.stdout + r.stderr; r.code == 0 || !strings.Contains(out, "No space left on device") && !strings.Contains(out, "Disk quota exceeded") {
		t.Errorf("writing 64M under --disk 32M: exit %d, %q, want No space left on device", r.code, out)
	}
	if got := e.sh(b.Slice, "dd if=/dev/zero of=/big bs=1M count=40 2>/dev/null && sync && wc -c </big"); strings.TrimSpace(got) != strconv.Itoa(40<<20) {
		t.Errorf("%s wrote %q bytes, want %d", b.Slice, got, 40<<20)
	}
	s := e.stats(a.Slice)
	t.Logf("%s: diskUsedBytes %d diskLimitBytes %d", a.Slice, s.DiskUsed, s.DiskLimit)
	// ext4's journal and inode tables take their part of a small disk.
	if s.DiskLimit > 32<<20 || s.DiskLimit < 22<<20 {
		t.Errorf("stats diskLimitBytes %d, want about 32M (22M..32M after the filesystem's own)", s.DiskLimit)
	}
	if s.DiskUsed == 0 || s.DiskUsed > s.DiskLimit {
		t.Errorf("stats diskUsedBytes %d, want >0 and at most the limit %d", s.DiskUsed, s.DiskLimit)
	}
	sb := e.stats(b.Slice)
	t.Logf("%s: diskUsedBytes %d diskLimitBytes %d", b.Slice, sb.DiskUsed, sb.DiskLimit)
	if sb.DiskLimit > 96<<20 || sb.DiskLimit < 67<<20 || sb.DiskUsed < 40<<20 {
		t.Errorf("%s stats: used %d limit %d, want a limit of about 96M and at least 40M used", b.Slice, sb.DiskUsed, sb.DiskLimit)
	}
	e.rm(a.Slice, b.Slice)
}

// 7. CPU share and cores land in the vserver's cgroup as asked; two busy
// vservers' split by share is logged, not asserted.
func TestVserverCPUShares(t *testing.T) {
	e := newVsEnv(t)
	v := e.create("site_one", "busybox", "--cpu-share", "512", "--cpu-cores", "0.5")
	dir := cgHostDir(t, strconv.Itoa(v.Pid), "cpu")
	if cgV2() {
		if got := readTrim(t, filepath.Join(dir, "cpu.weight")); got != shares512Weight {
			t.Errorf("%s/cpu.weight = %s, want %s (512 shares)", dir, got, shares512Weight)
		}
		if got := strings.Fields(readTrim(t, filepath.Join(dir, "cpu.max"))); len(got) != 2 || got[0] != "50000" || got[1] != "100000" {
			t.Errorf("%s/cpu.max = %v, want 50000 100000", dir, got)
		}
	} else {
		if got := readTrim(t, filepath.Join(dir, "cpu.shares")); got != "512" {
			t.Errorf("%s/cpu.shares = %s, want 512", dir, got)
		}
		quota, _ := strconv.Atoi(readTrim(t, filepath.Join(dir, "cpu.cfs_quota_us")))
		period, _ := strconv.Atoi(readTrim(t, filepath.Join(dir, "cpu.cfs_period_us")))
		if period <= 0 || quota*2 != period {
			t.Errorf("%s: cfs_quota_us %d cfs_period_us %d, want a quota of half the period", dir, quota, period)
		}
	}
	e.rm(v.Slice)

	hi := e.create("site_hi", "busybox", "--cpu-share", "1024")
	lo := e.create("site_lo", "busybox", "--cpu-share", "256")
	before := map[string]float64{hi.Slice: e.stats(hi.Slice).CPUSeconds, lo.Slice: e.stats(lo.Slice).CPUSeconds}
	// Both spin on the same CPU for 3 s, so the shares decide the split.
	var wg sync.WaitGroup
	for _, s := range []string{hi.Slice, lo.Slice} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.exec(s, "sh", "-c", "timeout 3 taskset -c 0 yes >/dev/null")
		}()
	}
	wg.Wait()
	used := map[string]float64{}
	for _, s := range []string{hi.Slice, lo.Slice} {
		used[s] = e.stats(s).CPUSeconds - before[s]
	}
	ratio := 0.0
	if used[lo.Slice] > 0 {
		ratio = used[hi.Slice] / used[lo.Slice]
	}
	t.Logf("3 s of yes pinned to CPU 0: cpu-share 1024 used %.2f CPU s, cpu-share 256 used %.2f CPU s (ratio %.2f, shares ratio 4)",
		used[hi.Slice], used[lo.Slice], ratio)
	e.rm(hi.Slice, lo.Slice)
}

// 8. The net rate shapes what the vserver sends: 512 KiB at 2mbit take
// at least about 2 s to fetch from it.
func TestVserverNetRate(t *testing.T) {
	e := newVsEnv(t)
	const size = 512 << 10
	const rate = 2e6 / 8 // 2mbit in bytes/s
	srv := e.create("site_server", "busybox", "--net-rate", "2mbit")
	cli := e.create("site_client", "busybox")
	if srv.IPAddress == "" {
		t.Fatalf("%s has no address", srv.Slice)
	}
	// httpd daemonizes: it stays under the vserver's init after exec.
	e.sh(srv.Slice, fmt.Sprintf("mkdir -p /www && echo ok >/www/ok && head -c %d /dev/zero >/www/big && httpd -p 8080 -h /www", size))
	e.sh(cli.Slice, fetchScript("http://"+srv.IPAddress+":8080/ok")+" >/dev/null")
	txBefore := e.stats(srv.Slice).NetTx
	start := time.Now()
	got := e.sh(cli.Slice, "wget -q -O - http://"+srv.IPAddress+":8080/big | wc -c")
	took := time.Since(start)
	if strings.TrimSpace(got) != strconv.Itoa(size) {
		t.Fatalf("fetched %q bytes, want %d", got, size)
	}
	min := time.Duration(0.8 * size / rate * float64(time.Second))
	t.Logf("512 KiB from a vserver shaped to 2mbit took %v (unshaped at this rate: %v)", took, time.Duration(size/rate*float64(time.Second)))
	if took < min {
		t.Errorf("512 KiB at 2mbit took %v, want at least %v", took, min)
	}
	if tx := e.stats(srv.Slice).NetTx - txBefore; tx < size {
		t.Errorf("stats netTxBytes grew by %d over the transfer, want at least %d", tx, size)
	}
	// The other way is not shaped: logged for comparison.
	e.sh(cli.Slice, fmt.Sprintf("mkdir -p /www && head -c %d /dev/zero >/www/big && httpd -p 8080 -h /www", size))
	e.sh(srv.Slice, fetchScript("http://"+cli.IPAddress+":8080/big")+" >/dev/null")
	start = time.Now()
	e.sh(srv.Slice, "wget -q -O /dev/null http://"+cli.IPAddress+":8080/big")
	t.Logf("512 KiB from the unshaped vserver took %v", time.Since(start))
	e.rm(srv.Slice, cli.Slice)
}

// 9. nofile is the vserver's open-file limit.
func TestVserverNofile(t *testing.T) {
	e := newVsEnv(t)
	v := e.create("site_one", "busybox", "--nofile", "256")
	if got := e.sh(v.Slice, "ulimit -n; ulimit -Hn"); got != "256\n256\n" {
		t.Errorf("ulimit -n, -Hn inside = %q, want 256 twice", got)
	}
	limits, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", v.Pid))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^Max open files\s+256\s+256\s`).Match(limits) {
		t.Errorf("the init's limits on the host:\n%s\nwant Max open files 256 256", limits)
	}
	e.rm(v.Slice)
}

// 10. ls, stop, start, restart and rm as a user sees them; bad input is
// a one-line error that leaves nothing behind.
func TestVserverLifecycleAndBadInput(t *testing.T) {
	e := newVsEnv(t)
	a := e.create("site_one", "busybox")
	row := e.lsRow(a.Slice)
	if row["STATE"] != "running" || row["IMAGE"] != "busybox" || row["HOST UID"] != strconv.Itoa(int(a.HostUID)) ||
		a.IPAddress == "" || row["ADDRESS"] != a.IPAddress || row["EXPIRES"] != "never" || row["ORIGIN"] != "admin" {
		t.Errorf("vserver ls row %v, want running busybox with host UID %d at %q, never expiring, by admin", row, a.HostUID, a.IPAddress)
	}

	if out := e.pcr("vserver", "stop", a.Slice).ok(t).stdout; strings.TrimSpace(out) != a.Slice {
		t.Errorf("vserver stop printed %q", out)
	}
	for range 2 { // a second pcr reads the same
		if row := e.lsRow(a.Slice); row["STATE"] != "stopped" {
			t.Errorf("after stop: ls state %q, want stopped", row["STATE"])
		}
	}
	if v := e.inspect(a.Slice); v.State != "stopped" || !v.Held || v.Pid != 0 {
		t.Errorf("after stop: inspect state %s held %v pid %d, want stopped, held, no pid", v.State, v.Held, v.Pid)
	}
	if r := e.exec(a.Slice, "true"); r.code == 0 || !strings.Contains(r.stderr, "stopped") {
		t.Errorf("exec in a stopped vserver: exit %d %q, want an error saying it is stopped", r.code, r.stderr)
	}
	e.pcr("vserver", "start", a.Slice).ok(t)
	started := e.inspect(a.Slice)
	if started.State != "running" || started.Held || started.Pid == 0 {
		t.Errorf("after start: state %s held %v pid %d", started.State, started.Held, started.Pid)
	}
	e.pcr("vserver", "restart", a.Slice).ok(t)
	restarted := e.inspect(a.Slice)
	if restarted.State != "running" || restarted.Pid == 0 || restarted.Pid == started.Pid {
		t.Errorf("after restart: state %s pid %d (was %d), want running with a new init", restarted.State, restarted.Pid, started.Pid)
	}
	if got := e.sh(a.Slice, "hostname"); got != "site-one\n" {
		t.Errorf("hostname inside = %q, want site-one", got)
	}

	psBefore := e.pcr("ps", "-a", "-q").ok(t).stdout
	dirsBefore := e.containerIDs()
	rangesBefore := e.idRanges()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--image", "busybox", "BadName"}, `invalid slice name "BadName"`},
		{[]string{"--image", "busybox", "nounderscore"}, `invalid slice name "nounderscore"`},
		{[]string{"--image", "no-such-image", "site_two"}, "no-such-image"},
		{[]string{"--image", "busybox", "--memory=-5M", "site_two"}, "negative"},
		{[]string{"--image", "busybox", "--memory", "1000T", "site_two"}, "memory"},
		{[]string{"--image", "busybox", "--cpu-cores", "9999", "site_two"}, "cpu_cores"},
		{[]string{"--image", "busybox", "--expires", "2000-01-01", "site_two"}, "past"},
		{[]string{"--image", "busybox", a.Slice}, "already exists"},
	} {
		r := e.pcr(append([]string{"vserver", "create"}, c.args...)...)
		stderr := strings.TrimSpace(r.stderr)
		if r.code != 125 || !strings.Contains(stderr, c.want) || strings.Contains(stderr, "\n") {
			t.Errorf("vserver create %s: exit %d, stderr %q, want 125 and one line with %q", strings.Join(c.args, " "), r.code, r.stderr, c.want)
		}
		if got := e.listed(); !slices.Equal(got, []string{a.Slice}) {
			t.Errorf("after vserver create %s: ls -q = %v, want only %s", strings.Join(c.args, " "), got, a.Slice)
		}
		if got := e.pcr("ps", "-a", "-q").ok(t).stdout; got != psBefore {
			t.Errorf("after vserver create %s: ps -a -q = %q, was %q", strings.Join(c.args, " "), got, psBefore)
		}
		if got := e.containerIDs(); !slices.Equal(got, dirsBefore) {
			t.Errorf("after vserver create %s: container dirs %v, were %v", strings.Join(c.args, " "), got, dirsBefore)
		}
		if got := e.idRanges(); got != rangesBefore {
			t.Errorf("after vserver create %s: UID ranges %q, were %q", strings.Join(c.args, " "), got, rangesBefore)
		}
	}
	if r := e.pcr("vserver", "inspect", "site_none"); r.code == 0 || !strings.Contains(r.stderr, "site_none") {
		t.Errorf("inspect of a missing vserver: exit %d %q", r.code, r.stderr)
	}
	if r := e.pcr("vserver", "rm", "site_none"); r.code == 0 || !strings.Contains(r.stderr, "site_none") {
		t.Errorf("rm of a missing vserver: exit %d %q", r.code, r.stderr)
	}

	// rm frees the UID range: the next vserver gets the lowest free one.
	b := e.create("site_two", "busybox")
	if b.HostUID <= a.HostUID {
		t.Errorf("second vserver's host UID %d, want above the first's %d", b.HostUID, a.HostUID)
	}
	e.rm(a.Slice)
	if got := e.pcr("ps", "-a", "-q").ok(t).stdout; strings.Contains(got, a.ContainerID[:12]) {
		t.Errorf("ps -a -q still lists the removed vserver's container %s", a.ContainerID[:12])
	}
	c := e.create("site_three", "busybox")
	if c.HostUID != a.HostUID {
		t.Errorf("after rm of %s (host UID %d), a new vserver got host UID %d, want the freed range", a.Slice, a.HostUID, c.HostUID)
	}
	e.rm(b.Slice, c.Slice)
	if got := e.listed(); len(got) != 0 {
		t.Errorf("ls -q after removing all: %v", got)
	}
}

// 11. A user made inside is UID 1000 there and the vserver's own host
// UID+1000 on the host.
func TestVserverExecAsNamedUser(t *testing.T) {
	e := newVsEnv(t)
	e.loadDebian()
	v := e.create("site_one", "debian")
	e.exec(v.Slice, "useradd", "-m", "alice").ok(t)
	if got := e.execAs("alice", v.Slice, "id", "-u").ok(t).stdout; got != "1000\n" {
		t.Errorf("id -u as alice = %q, want 1000", got)
	}
	if got := e.execAs("alice", v.Slice, "sh", "-c", "touch ~/mine && stat -c %U:%u ~/mine").ok(t).stdout; got != "alice:1000\n" {
		t.Errorf("a file alice makes is owned by %q, want alice:1000", got)
	}
	upper := e.container(v.ContainerID).GraphDriver.Data["UpperDir"]
	home := statT(t, filepath.Join(upper, "home", "alice"))
	if home.Uid != v.HostUID+1000 || home.Gid != v.HostUID+1000 {
		t.Errorf("%s/home/alice is owned by %d:%d on the host, want %d:%d", upper, home.Uid, home.Gid, v.HostUID+1000, v.HostUID+1000)
	}
	e.rm(v.Slice)
}

// 12. The expiry given at create shows in ls and inspect.
func TestVserverExpiry(t *testing.T) {
	e := newVsEnv(t)
	asked := time.Now()
	a := e.create("site_soon", "busybox", "--expires", "2h")
	b := e.create("site_later", "busybox", "--expires", "2099-01-01")
	if d := a.Expires.Sub(asked.Add(2 * time.Hour)); d < -time.Minute || d > time.Minute {
		t.Errorf("inspect expires %v, want about %v", a.Expires, asked.Add(2*time.Hour))
	}
	if want := time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC); !b.Expires.Equal(want) {
		t.Errorf("inspect expires %v, want %v", b.Expires, want)
	}
	if got := e.lsRow(a.Slice)["EXPIRES"]; got != "in 1h" && got != "in 2h" {
		t.Errorf("ls EXPIRES %q, want in 1h or in 2h", got)
	}
	if got := e.lsRow(b.Slice)["EXPIRES"]; !regexp.MustCompile(`^in \d+d$`).MatchString(got) {
		t.Errorf("ls EXPIRES %q, want in N days", got)
	}
	e.rm(a.Slice, b.Slice)
}
