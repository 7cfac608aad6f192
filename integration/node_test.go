package integration

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// nodeEnv runs `pcr node serve` over a vserver env: a slices file, a
// policy file and a socket in the test's dir (which nobody can reach
// through, so the non-root test can connect). The daemon runs in its own
// session and is stopped by its PID. A passing test empties its slices,
// waits for the vservers to go and stops the daemon, which then removes
// the vservers' cgroup itself; the cleanup does the same for a failed
// test, the hard way, before the env's leak checks.
type nodeEnv struct {
	*vsEnv
	socket, slicesFile, policyFile string
	cmd                            *exec.Cmd
	done                           chan struct{}
	logs                           []string
}

func newNodeEnv(t *testing.T) *nodeEnv {
	t.Helper()
	e := &nodeEnv{vsEnv: newVsEnv(t)}
	e.socket = filepath.Join(e.dir, "node.sock")
	e.slicesFile = filepath.Join(e.dir, "slices.json")
	e.policyFile = filepath.Join(e.dir, "policy.json")
	t.Cleanup(e.cleanup)
	return e
}

// serve starts the daemon with the env's slices file and socket and
// waits until its API answers.
func (e *nodeEnv) serve(extra ...string) {
	e.t.Helper()
	if e.cmd != nil {
		e.t.Fatal("serve: a node manager of this test runs already")
	}
	logPath := filepath.Join(e.dir, fmt.Sprintf("node-%d.log", len(e.logs)))
	logFile, err := os.Create(logPath)
	if err != nil {
		e.t.Fatal(err)
	}
	defer logFile.Close()
	e.logs = append(e.logs, logPath)
	args := append([]string{"node", "serve", "--slices", e.slicesFile, "--socket", e.socket, "--interval", "2s", "--stats-interval", "1s"}, extra...)
	cmd := e.command(args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.cmd, e.done = cmd, make(chan struct{})
	go func(done chan struct{}) { cmd.Wait(); close(done) }(e.done)
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-e.done:
			e.cmd = nil
			e.t.Fatalf("pcr node serve exited at start: %s\n%s", cmd.ProcessState, e.log())
		default:
		}
		if strings.Contains(e.log(), "node manager started") {
			if r := e.vserver("ls"); r.code == 0 {
				return
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("pcr node serve did not start in 30s:\n%s", e.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pid is the running daemon's.
func (e *nodeEnv) pid() int {
	e.t.Helper()
	if e.cmd == nil {
		e.t.Fatal("no node manager runs")
	}
	return e.cmd.Process.Pid
}

// kill9 kills the daemon as a crash would.
func (e *nodeEnv) kill9() {
	e.t.Helper()
	syscall.Kill(e.pid(), syscall.SIGKILL)
	<-e.done
	e.cmd = nil
}

// stop asks the daemon to end (SIGTERM) and checks that it did cleanly.
func (e *nodeEnv) stop() {
	e.t.Helper()
	cmd := e.cmd
	syscall.Kill(e.pid(), syscall.SIGTERM)
	select {
	case <-e.done:
	case <-time.After(30 * time.Second):
		syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
		<-e.done
		e.t.Fatalf("pcr node serve did not stop in 30s after SIGTERM:\n%s", e.log())
	}
	e.cmd = nil
	if !cmd.ProcessState.Success() {
		e.t.Fatalf("pcr node serve ended with %s after SIGTERM:\n%s", cmd.ProcessState, e.log())
	}
}

// log is the current daemon's stderr (the last one's once it ended).
func (e *nodeEnv) log() string {
	if len(e.logs) == 0 {
		return ""
	}
	data, _ := os.ReadFile(e.logs[len(e.logs)-1])
	return string(data)
}

func (e *nodeEnv) writeSlices(js string) {
	e.t.Helper()
	writeAtomically(e.t, e.slicesFile, js)
}

func (e *nodeEnv) writePolicy(js string) {
	e.t.Helper()
	writeAtomically(e.t, e.policyFile, js)
}

func writeAtomically(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path+".tmp", []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}

// vserver runs `pcr vserver --socket S args…`: through the daemon while
// it runs, on the store when it does not.
func (e *nodeEnv) vserver(args ...string) result {
	return e.pcr(append([]string{"vserver", "--socket", e.socket}, args...)...)
}

// nodeVserver is what `pcr vserver ls --format json` shows of one.
type nodeVserver struct {
	Slice       string           `json:"slice"`
	State       string           `json:"state"`
	Reason      string           `json:"reason"`
	Origin      string           `json:"origin"`
	ContainerID string           `json:"containerId"`
	Pid         int              `json:"pid"`
	Restarts    int              `json:"restarts"`
	Rspec       map[string]int64 `json:"rspec"`
	Applied     map[string]int64 `json:"applied"`
}

func (e *nodeEnv) vservers() map[string]nodeVserver {
	e.t.Helper()
	r := e.vserver("ls", "--format", "json").ok(e.t)
	out := map[string]nodeVserver{}
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	for dec.More() {
		var v nodeVserver
		if err := dec.Decode(&v); err != nil {
			e.t.Fatalf("vserver ls --format json: %v\n%s", err, r.stdout)
		}
		out[v.Slice] = v
	}
	return out
}

// waitVservers polls ls until cond holds, for up to 45 s.
func (e *nodeEnv) waitVservers(what string, cond func(map[string]nodeVserver) bool) map[string]nodeVserver {
	e.t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for {
		vs := e.vservers()
		if cond(vs) {
			return vs
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for %s; vservers: %+v\nnode manager log:\n%s", what, vs, e.log())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func running(vs map[string]nodeVserver, slices ...string) bool {
	for _, s := range slices {
		// A vserver being started shows as running a moment before its pid.
		if vs[s].State != "running" || vs[s].Pid <= 0 {
			return false
		}
	}
	return true
}

// logged waits until the daemon's log has line: what it logs after
// an action is done may come just after ls shows the result.
func (e *nodeEnv) logged(line string) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(e.log(), line) {
		if time.Now().After(deadline) {
			e.t.Errorf("the node manager did not log %s:\n%s", line, e.log())
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// finish is how a test ends: no slices, no vservers, the daemon stopped,
// and with it the vservers' cgroup gone.
func (e *nodeEnv) finish() {
	e.t.Helper()
	e.writeSlices(`{"slices":[]}`)
	for s, v := range e.vservers() {
		if v.Origin == "admin" {
			e.vserver("rm", s).ok(e.t)
		}
	}
	e.waitVservers("every vserver to be removed", func(vs map[string]nodeVserver) bool { return len(vs) == 0 })
	e.rememberIDs()
	e.stop()
	if left := e.parentCgroups(); len(left) > 0 {
		e.t.Errorf("the vservers' cgroup is left after the node manager stopped with no vserver: %v", left)
	}
	checkNoVserverLeaks(e.t, e.root)
}

// parentCgroups are the directories of the vservers' cgroup of this
// root that exist, in every hierarchy.
func (e *nodeEnv) parentCgroups() []string {
	sum := sha256.Sum256([]byte(e.root))
	name := "vservers-" + hex.EncodeToString(sum[:4])
	var out []string
	filepath.WalkDir("/sys/fs/cgroup", func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if d.Name() == name && filepath.Base(filepath.Dir(path)) == "pcr" {
			out = append(out, path)
			return filepath.SkipDir
		}
		if strings.Count(path, "/") > 9 {
			return filepath.SkipDir
		}
		return nil
	})
	return out
}

// cleanup, for a test that failed halfway: stop the daemon, remove its
// vservers on the store, then the cgroup it would have removed.
func (e *nodeEnv) cleanup() {
	if e.cmd != nil {
		syscall.Kill(e.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-e.done:
		case <-time.After(30 * time.Second):
			syscall.Kill(e.cmd.Process.Pid, syscall.SIGKILL)
			<-e.done
		}
		e.cmd = nil
	}
	if e.t.Failed() {
		for _, l := range e.logs {
			data, _ := os.ReadFile(l)
			e.t.Logf("%s:\n%s", filepath.Base(l), data)
		}
	}
	e.rememberIDs()
	if names := e.listed(); len(names) > 0 {
		e.pcr(append([]string{"vserver", "rm"}, names...)...)
	}
	for _, dir := range e.parentCgroups() {
		if err := syscall.Rmdir(dir); err != nil {
			e.t.Errorf("remove the vservers' cgroup %s: %v", dir, err)
		}
		// pcr's shared parent, when it was ours alone.
		syscall.Rmdir(filepath.Dir(dir))
	}
}

// A crashed node manager loses nothing: its vservers keep running, and
// the next one adopts them (same containers) and recreates one removed
// behind its back. A second node manager on the same root is refused.
func TestNodeReconcileAfterKill9(t *testing.T) {
	e := newNodeEnv(t)
	e.writeSlices(`{"slices":[{"slice":"pl_a","image":"busybox","rspec":{"memory":"64M"}},
		{"slice":"pl_b","image":"busybox","network":"none"}]}`)
	e.serve()
	vs := e.waitVservers("pl_a and pl_b to run", func(vs map[string]nodeVserver) bool { return running(vs, "pl_a", "pl_b") })
	idA, idB := vs["pl_a"].ContainerID, vs["pl_b"].ContainerID
	if o := vs["pl_a"].Origin; o != "slices-file" {
		t.Errorf("pl_a origin %q, want slices-file", o)
	}

	second := e.pcr("node", "serve", "--slices", e.slicesFile, "--socket", filepath.Join(e.dir, "other.sock"))
	second.fails(t, "another node manager (pid "+strconv.Itoa(e.pid())+") runs for root")

	e.kill9()
	after := e.vservers() // on the store: the socket is stale
	if !running(after, "pl_a", "pl_b") || after["pl_a"].ContainerID != idA {
		t.Fatalf("after kill -9 of the node manager: %+v, want pl_a and pl_b still running", after)
	}
	e.vserver("rm", "pl_b").ok(t)

	e.serve()
	vs = e.waitVservers("pl_b to be recreated", func(vs map[string]nodeVserver) bool { return running(vs, "pl_a", "pl_b") })
	if vs["pl_a"].ContainerID != idA {
		t.Errorf("pl_a was not adopted: container %s, was %s", vs["pl_a"].ContainerID, idA)
	}
	if vs["pl_b"].ContainerID == idB {
		t.Errorf("pl_b kept container %s although it was removed", idB)
	}
	e.logged(`action=create slice=pl_b reason=assigned`)
	if strings.Contains(e.log(), "slice=pl_a") {
		t.Errorf("the restarted node manager acted on pl_a, which needed nothing:\n%s", e.log())
	}
	e.finish()
}

// A vserver whose init is killed is started again, and counted.
func TestNodeRevivesKilledInit(t *testing.T) {
	e := newNodeEnv(t)
	e.writeSlices(`{"slices":[{"slice":"pl_a","image":"busybox"}]}`)
	e.serve()
	vs := e.waitVservers("pl_a to run", func(vs map[string]nodeVserver) bool { return running(vs, "pl_a") })
	old := vs["pl_a"]
	if old.Pid <= 0 || old.Restarts != 0 {
		t.Fatalf("pl_a: pid %d restarts %d", old.Pid, old.Restarts)
	}
	if err := syscall.Kill(old.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	vs = e.waitVservers("pl_a to run again", func(vs map[string]nodeVserver) bool {
		return running(vs, "pl_a") && vs["pl_a"].Pid != old.Pid
	})
	if v := vs["pl_a"]; v.Restarts != 1 || v.ContainerID != old.ContainerID {
		t.Errorf("pl_a after its init was killed: restarts %d container %s, want 1 and %s", v.Restarts, v.ContainerID, old.ContainerID)
	}
	e.logged(`action=revive slice=pl_a reason="its init exited (code 137)"`)
	e.finish()
}

// The slices file drives the node: a slice added is created, a changed
// memory rspec is applied to the running cgroup (same container), a
// slice taken out is removed.
func TestNodeFollowsSlicesFile(t *testing.T) {
	e := newNodeEnv(t)
	e.writeSlices(`{"slices":[{"slice":"pl_a","image":"busybox","rspec":{"memory":"64M"}}]}`)
	e.serve()
	vs := e.waitVservers("pl_a to run", func(vs map[string]nodeVserver) bool { return running(vs, "pl_a") })
	id := vs["pl_a"].ContainerID
	if got := e.cgroupFile(id, "memory", "memory.limit_in_bytes", "memory.max"); got != strconv.Itoa(64<<20) {
		t.Fatalf("pl_a memory limit %s, want 64M", got)
	}

	e.writeSlices(`{"slices":[{"slice":"pl_a","image":"busybox","rspec":{"memory":"96M"}},
		{"slice":"pl_b","image":"busybox","network":"none"}]}`)
	vs = e.waitVservers("pl_a at 96M and pl_b running", func(vs map[string]nodeVserver) bool {
		return running(vs, "pl_a", "pl_b") && vs["pl_a"].Applied["memory"] == 96<<20
	})
	if vs["pl_a"].ContainerID != id {
		t.Errorf("pl_a was recreated for a memory change: container %s, was %s", vs["pl_a"].ContainerID, id)
	}
	if got := e.cgroupFile(id, "memory", "memory.limit_in_bytes", "memory.max"); got != strconv.Itoa(96<<20) {
		t.Errorf("pl_a memory limit %s after the update, want 96M", got)
	}
	e.logged(`action=update slice=pl_a reason="rspec changed: memory 64M -> 96M"`)

	e.writeSlices(`{"slices":[{"slice":"pl_b","image":"busybox","network":"none"}]}`)
	e.waitVservers("pl_a to be removed", func(vs map[string]nodeVserver) bool {
		_, ok := vs["pl_a"]
		return !ok && running(vs, "pl_b")
	})
	e.logged(`action=remove slice=pl_a reason="no longer assigned"`)

	// A broken edit changes nothing and is reported with where it is.
	e.writeSlices("{\"slices\":[\n{\"slice\":\"pl_b\",}]}")
	waitFor(t, 10*time.Second, "the bad slices file to be reported", func() bool {
		return strings.Contains(e.log(), "keeping the previous slices")
	})
	e.logged("line 2")
	time.Sleep(2500 * time.Millisecond) // a periodic pass
	if vs := e.vservers(); !running(vs, "pl_b") {
		t.Errorf("a bad slices file changed the node: %+v", vs)
	}
	e.finish()
}

// Expiry is enforced by the node itself, for assigned vservers and the
// admin's alike.
func TestNodeExpiry(t *testing.T) {
	e := newNodeEnv(t)
	// Room for both to be running at once first: a vserver create took
	// 1.7 s in the cgroup v2 VM under emulation, and 4 s was too short.
	exp := time.Now().Add(10 * time.Second).UTC().Format(time.RFC3339)
	e.writeSlices(`{"slices":[{"slice":"pl_a","image":"busybox","network":"none","expires":"` + exp + `"}]}`)
	e.serve()
	e.vserver("create", "--image", "busybox", "--network", "none", "--expires", "10s", "pl_adm").ok(t)
	e.waitVservers("pl_a to run", func(vs map[string]nodeVserver) bool { return running(vs, "pl_a", "pl_adm") })
	e.waitVservers("pl_a and pl_adm to expire", func(vs map[string]nodeVserver) bool { return len(vs) == 0 })
	for _, s := range []string{"pl_a", "pl_adm"} {
		e.logged("action=remove slice=" + s + ` reason="expired at `)
	}
	// An expired assignment is not made again.
	time.Sleep(2500 * time.Millisecond)
	if vs := e.vservers(); len(vs) != 0 {
		t.Errorf("expired vservers came back: %+v", vs)
	}
	e.finish()
}

// The node owner's policy refuses, caps and limits, with the reason in
// ls and inspect; SIGHUP applies a changed policy.
func TestNodePolicy(t *testing.T) {
	e := newNodeEnv(t)
	e.writePolicy(`{"deny_sites":["spam"],"max_vservers":2,"caps":{"memory":"32M"}}`)
	e.writeSlices(`{"slices":[
		{"slice":"pl_a","image":"busybox","network":"none","rspec":{"memory":"64M"}},
		{"slice":"pl_b","image":"busybox","network":"none","rspec":{"memory":"16M"}},
		{"slice":"pl_c","image":"busybox","network":"none"},
		{"slice":"spam_x","image":"busybox","network":"none"}]}`)
	e.serve("--policy", e.policyFile)
	vs := e.waitVservers("the policy to be applied", func(vs map[string]nodeVserver) bool {
		return running(vs, "pl_a", "pl_b") && vs["pl_c"].State == "refused" && vs["spam_x"].State == "refused"
	})
	for slice, want := range map[string]string{
		"spam_x": "site spam is refused by the node's policy",
		"pl_c":   "the node's limit of 2 vservers is reached",
		"pl_a":   "memory capped from 64M to 32M by the node's policy",
	} {
		if got := vs[slice].Reason; got != want {
			t.Errorf("%s reason %q, want %q", slice, got, want)
		}
		if got := e.lsRow(slice)["REASON"]; got != want {
			t.Errorf("vserver ls: %s REASON %q, want %q", slice, got, want)
		}
		r := e.vserver("inspect", slice).ok(t)
		if !strings.Contains(r.stdout, `"reason": "`+want+`"`) {
			t.Errorf("vserver inspect %s lacks the reason %q:\n%s", slice, want, r.stdout)
		}
	}
	if a := vs["pl_a"]; a.Applied["memory"] != 32<<20 || a.Rspec["memory"] != 64<<20 {
		t.Errorf("pl_a rspec %v applied %v, want 64M asked and 32M applied", a.Rspec, a.Applied)
	}
	if got := e.cgroupFile(vs["pl_a"].ContainerID, "memory", "memory.limit_in_bytes", "memory.max"); got != strconv.Itoa(32<<20) {
		t.Errorf("pl_a memory limit %s, want the capped 32M", got)
	}
	if b := vs["pl_b"]; b.Applied["memory"] != 16<<20 || b.Reason != "" {
		t.Errorf("pl_b under the cap: applied %v reason %q", b.Applied, b.Reason)
	}
	e.vserver("create", "--image", "busybox", "--network", "none", "spam_y").fails(t, "vserver spam_y refused: site spam is refused by the node's policy")

	// A bad policy on reload is reported and the old one kept.
	e.writePolicy(`{"deny_site":["spam"]}`)
	syscall.Kill(e.pid(), syscall.SIGHUP)
	waitFor(t, 10*time.Second, "the bad policy to be reported", func() bool {
		return strings.Contains(e.log(), "policy not reloaded; keeping the previous one")
	})
	e.logged(`unknown field \"deny_site\"`)

	e.writePolicy(`{"deny_sites":["spam"],"max_vservers":3}`)
	syscall.Kill(e.pid(), syscall.SIGHUP)
	vs = e.waitVservers("the new policy to be applied", func(vs map[string]nodeVserver) bool {
		return running(vs, "pl_a", "pl_b", "pl_c") && vs["pl_a"].Applied["memory"] == 64<<20
	})
	if vs["pl_a"].Reason != "" || vs["spam_x"].State != "refused" {
		t.Errorf("after reload: pl_a reason %q, spam_x %s", vs["pl_a"].Reason, vs["spam_x"].State)
	}
	e.logged("policy reloaded")

	// A bad policy at start is one line and no daemon.
	e.writePolicy(`{"max_vservers":"two"}`)
	e.pcr("node", "serve", "--policy", e.policyFile, "--socket", filepath.Join(e.dir, "other.sock")).fails(t, "policy "+e.policyFile+": line 1")
	e.finish()
}

// Usage is served to Prometheus on loopback, and only root may use the
// API: another user gets the reason, in one line.
func TestNodeMetricsAndPermissions(t *testing.T) {
	e := newNodeEnv(t)
	e.writeSlices(`{"slices":[{"slice":"pl_a","image":"busybox","rspec":{"memory":"64M"}}]}`)
	port := strconv.Itoa(freePort(t))
	e.serve("--metrics-addr", ":"+port)
	e.waitVservers("pl_a to run", func(vs map[string]nodeVserver) bool { return running(vs, "pl_a") })

	var body string
	waitFor(t, 20*time.Second, "pl_a's usage in /metrics", func() bool {
		code, b := httpGet(t, "http://127.0.0.1:"+port+"/metrics")
		body = b
		return code == 200 && strings.Contains(b, `pcr_vserver_memory_limit_bytes{slice="pl_a"} 6.7108864e+07`)
	})
	for _, want := range []string{`pcr_vserver_up{slice="pl_a"} 1`, `pcr_vserver_restarts_total{slice="pl_a"} 0`,
		`pcr_node_vservers{state="running"} 1`, "pcr_node_reconcile_duration_seconds_count", "pcr_vserver_cpu_seconds_total{slice=\"pl_a\"}"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	st := e.vserver("stats", "--format", "json", "pl_a").ok(t)
	if !strings.Contains(st.stdout, `"memoryLimit":67108864`) {
		t.Errorf("vserver stats through the node manager: %s", st.stdout)
	}

	cmd := exec.Command(pcrBin, "--root", e.root, "--state", e.state, "vserver", "--socket", e.socket, "ls")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if want := "pcr: permission denied: only the node's admin (root) may list vservers\n"; err == nil || stderr.String() != want {
		t.Errorf("vserver ls as uid 65534: %v, stderr %q, want %q", err, stderr.String(), want)
	}
	cmd = exec.Command(pcrBin, "--root", e.root, "--state", e.state, "vserver", "--socket", e.socket, "rm", "pl_a")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, _ := cmd.CombinedOutput()
	if !strings.Contains(string(out), "permission denied: only the node's admin (root) may remove vservers") {
		t.Errorf("vserver rm as uid 65534: %s", out)
	}
	if vs := e.vservers(); !running(vs, "pl_a") {
		t.Errorf("a non-root peer's rm had an effect: %+v", vs)
	}
	e.finish()
}

// A node manager stopped while it has vservers leaves them running in its
// cgroup; removing the last of them on the store (no daemon) takes that
// cgroup away too, so nothing of pcr's is left behind.
func TestNodeStoppedThenVserversRemoved(t *testing.T) {
	e := newNodeEnv(t)
	e.writeSlices(`{"slices":[{"slice":"pl_a","image":"busybox","network":"none"},{"slice":"pl_b","image":"busybox","network":"none"}]}`)
	e.serve()
	e.waitVservers("pl_a and pl_b to run", func(vs map[string]nodeVserver) bool { return running(vs, "pl_a", "pl_b") })
	e.rememberIDs()
	e.stop()
	if len(e.parentCgroups()) == 0 {
		t.Fatal("the vservers' cgroup is gone while its vservers still run")
	}
	e.vserver("rm", "pl_a").ok(t)
	if len(e.parentCgroups()) == 0 {
		t.Fatal("the vservers' cgroup went with pl_a while pl_b still runs in it")
	}
	e.vserver("rm", "pl_b").ok(t)
	if left := e.parentCgroups(); len(left) > 0 {
		t.Errorf("the vservers' cgroup is left after its last vserver was removed: %v", left)
	}
	checkNoVserverLeaks(t, e.root)
}
