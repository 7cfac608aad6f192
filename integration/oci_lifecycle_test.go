package integration

// The runc contract of `pcr oci`: lifecycle states, exit statuses, the CLI
// verbs, hooks, bad input and crashes, as a tool driving runc sees them.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// outDir makes a host directory bound at /out in the container, so the
// payload can leave evidence the test reads from the host.
func (e *env) outDir(s *specs.Spec) string {
	e.t.Helper()
	dir, err := os.MkdirTemp(e.dir, "out")
	if err != nil {
		e.t.Fatal(err)
	}
	s.Mounts = append(s.Mounts, specs.Mount{Destination: "/out", Type: "bind", Source: dir, Options: []string{"rbind", "rw"}})
	return dir
}

// shBundle is a bundle running `sh -c script` with /out bound to the
// returned host directory.
func (e *env) shBundle(script string, mutate func(*specs.Spec)) (bundle, out string) {
	e.t.Helper()
	bundle = e.bundle(func(s *specs.Spec) {
		s.Process.Args = []string{"sh", "-c", script}
		out = e.outDir(s)
		if mutate != nil {
			mutate(s)
		}
	})
	return bundle, out
}

func (e *env) pcrCmd(args ...string) *exec.Cmd {
	return exec.Command(pcrBin, append([]string{"oci", "--root", e.root}, args...)...)
}

// detached runs a pcr command whose container outlives it (create, run
// --detach): the container keeps the stdio it inherits, so a pipe would
// never reach EOF; files stand in for the terminal a user would have.
func (e *env) detached(extra []*os.File, args ...string) result {
	e.t.Helper()
	so, err := os.CreateTemp(e.dir, "stdout")
	if err != nil {
		e.t.Fatal(err)
	}
	defer so.Close()
	se, err := os.CreateTemp(e.dir, "stderr")
	if err != nil {
		e.t.Fatal(err)
	}
	defer se.Close()
	cmd := e.pcrCmd(args...)
	cmd.Stdout, cmd.Stderr, cmd.ExtraFiles = so, se, extra
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		return result{args: args, err: err, code: -1}
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		err = <-done
		e.t.Errorf("pcr %s: timed out", strings.Join(args, " "))
	}
	r := result{args: args, code: cmd.ProcessState.ExitCode()}
	if _, ok := err.(*exec.ExitError); !ok {
		r.err = err
	}
	o, _ := os.ReadFile(so.Name())
	x, _ := os.ReadFile(se.Name())
	r.stdout, r.stderr = string(o), string(x)
	return r
}

func (e *env) statePid(id string) int {
	e.t.Helper()
	st := e.state(id)
	pid, ok := st["pid"].(float64)
	if !ok || pid <= 0 {
		e.t.Fatalf("state %s: no pid: %v", id, st)
	}
	return int(pid)
}

func (e *env) wantStatus(id, want string) {
	e.t.Helper()
	if got := e.state(id)["status"]; got != want {
		e.t.Fatalf("state %s: status %v, want %s", id, got, want)
	}
}

// waitFor polls cond every 5 ms until it holds or limit passes.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (e *env) waitStatus(id, want string) {
	e.t.Helper()
	waitFor(e.t, 5*time.Second, id+" to be "+want, func() bool {
		r := e.pcr("state", id)
		var m map[string]any
		return r.code == 0 && json.Unmarshal([]byte(r.stdout), &m) == nil && m["status"] == want
	})
}

func fileExists(path string) bool { _, err := os.Stat(path); return err == nil }

func readTrim(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func procCmdline(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
}

func procPPid(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "PPid:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	t.Fatalf("no PPid in /proc/%d/status", pid)
	return 0
}

// residentPcr lists pcr CLI processes still running with this test's
// --root: after a detached create or start there must be none.
func (e *env) residentPcr() []string {
	var out []string
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if strings.Contains(string(b), e.root) {
			out = append(out, filepath.Base(filepath.Dir(p))+": "+strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	return out
}

// assertNoResidentPcr checks that the container's init is not a child of a
// pcr process and that no pcr command of this test is still running.
func (e *env) assertNoResidentPcr(pid int) {
	e.t.Helper()
	ppid := procPPid(e.t, pid)
	pexe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", ppid))
	self, _ := filepath.EvalSymlinks(pcrBin)
	if pexe == self || strings.Contains(procCmdline(ppid), e.root) {
		e.t.Fatalf("init %d has a resident pcr parent %d (%s %s)", pid, ppid, pexe, procCmdline(ppid))
	}
	if left := e.residentPcr(); len(left) > 0 {
		e.t.Fatalf("pcr processes stay resident: %v", left)
	}
}

// openFDs returns the fds of pid and whether each is close-on-exec.
func openFDs(t *testing.T, pid int) map[int]bool {
	t.Helper()
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]bool{}
	for _, en := range entries {
		fd, _ := strconv.Atoi(en.Name())
		info, err := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/%d", pid, fd))
		if err != nil {
			continue
		}
		cloexec := false
		for _, l := range strings.Split(string(info), "\n") {
			if v, ok := strings.CutPrefix(l, "flags:"); ok {
				flags, _ := strconv.ParseUint(strings.TrimSpace(v), 8, 64)
				cloexec = flags&unix.O_CLOEXEC != 0
			}
		}
		out[fd] = cloexec
	}
	return out
}

func TestOCILifecycleCreateStartKillDelete(t *testing.T) {
	e := newEnv(t)
	b, out := e.shBundle("echo $$ > /out/ran; exec sleep 100", nil)
	id := e.id()

	// A stray non-cloexec fd in the caller must not reach the init (CVE-2024-21626).
	leak, err := os.Open(b)
	if err != nil {
		t.Fatal(err)
	}
	defer leak.Close()
	// Ten copies put it at fds 3..12; pcr's own extra fds cover only the first.
	leaks := []*os.File{leak, leak, leak, leak, leak, leak, leak, leak, leak, leak}
	e.detached(leaks, "create", "--bundle", b, id).ok(t)
	e.wantStatus(id, "created")
	pid := e.statePid(id)
	if cl := procCmdline(pid); cl != "pcr init" {
		t.Fatalf("created init %d runs %q, want the blocked pcr init", pid, cl)
	}
	if fileExists(filepath.Join(out, "ran")) {
		t.Fatal("payload ran before start")
	}
	e.assertNoResidentPcr(pid)
	fifo := filepath.Join(e.root, id, "exec.fifo")
	// Besides stdio and the fifo only the Go runtime's own fds may be open
	// (netpoller, /dev/null, the cgroup cpu files it reads for GOMAXPROCS):
	// an exec'd process can open /proc/<init>/fd/N, so even a cloexec fd of
	// the caller's would hand the container a host file.
	for fd := range openFDs(t, pid) {
		target, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%d", pid, fd))
		if fd <= 2 || target == fifo || target == "/dev/null" || strings.HasPrefix(target, "anon_inode:") ||
			strings.Contains(target, "/cpu.cfs_") || strings.HasSuffix(target, "/cpu.max") {
			continue
		}
		t.Errorf("created init has fd %d -> %s", fd, target)
	}

	e.pcr("start", id).ok(t)
	e.wantStatus(id, "running")
	waitFor(t, 5*time.Second, "payload to write /out/ran", func() bool { return fileExists(filepath.Join(out, "ran")) })
	waitFor(t, 5*time.Second, "sh to exec sleep", func() bool { return procCmdline(pid) == "sleep 100" })
	if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); exe != "/bin/busybox" {
		t.Fatalf("payload exe is %q, want /bin/busybox", exe)
	}
	if got := readTrim(t, filepath.Join(out, "ran")); got != "1" {
		t.Fatalf("payload pid in its namespace is %s, want 1", got)
	}
	fds := openFDs(t, pid)
	if len(fds) != 3 || !has3(fds) {
		t.Fatalf("payload fds %v, want only 0 1 2", fds)
	}
	e.assertNoResidentPcr(pid)
	e.pcr("start", id).fails(t, "running")
	if len(e.processesIn(b)) == 0 {
		t.Fatal("processesIn does not see the running container: the leak checks below would be blind")
	}

	e.pcr("kill", id, "KILL").ok(t)
	e.waitStatus(id, "stopped")
	if e.state(id)["pid"] != nil && e.state(id)["pid"].(float64) != 0 {
		t.Fatalf("stopped container still reports pid %v", e.state(id)["pid"])
	}
	e.pcr("delete", id).ok(t)
	if r := e.pcr("list", "-q").ok(t); strings.Contains(r.stdout, id) {
		t.Fatalf("deleted %s still listed: %s", id, r.stdout)
	}
	e.pcr("state", id).fails(t, "does not exist")
	if left := e.processesIn(b); len(left) > 0 {
		t.Fatalf("processes left after delete: %v", left)
	}
}

func has3(fds map[int]bool) bool {
	_, a := fds[0]
	_, b := fds[1]
	_, c := fds[2]
	return a && b && c
}

// A default kill is SIGTERM, delivered to a payload that handles it.
func TestOCIKillDefaultIsSIGTERM(t *testing.T) {
	e := newEnv(t)
	b, out := e.shBundle(`trap 'echo term > /out/sig; exit 0' TERM; echo up > /out/up; while :; do sleep 0.02; done`, nil)
	id := e.id()
	e.detached(nil, "run", "--detach", "--bundle", b, id).ok(t)
	waitFor(t, 5*time.Second, "payload up", func() bool { return fileExists(filepath.Join(out, "up")) })
	e.pcr("kill", id).ok(t)
	e.waitStatus(id, "stopped")
	if got := readTrim(t, filepath.Join(out, "sig")); got != "term" {
		t.Fatalf("payload saw %q, want term", got)
	}
	e.pcr("kill", id, "KILL").fails(t, "not running")
	e.pcr("delete", id).ok(t)
}

func TestOCIRunExitStatus(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		script string
		want   int
		pidNS  bool
	}{{"exit 0", 0, true}, {"exit 7", 7, true}, {"exit 255", 255, true},
		// An init ignores its own SIGKILL; only a non-init payload can die of it.
		{"kill -9 $$", 137, false}, {"kill -9 $$", 0, true}} {
		b := e.bundle(func(s *specs.Spec) {
			s.Process.Args = []string{"sh", "-c", tc.script}
			if !tc.pidNS {
				dropNS(s, specs.PIDNamespace)
			}
		})
		id := e.id()
		r := e.pcr("run", "--bundle", b, id)
		if r.code != tc.want {
			t.Errorf("run %q: exit %d, want %d (stderr %q)", tc.script, r.code, tc.want, r.stderr)
		}
		if fileExists(filepath.Join(e.root, id)) {
			t.Errorf("run %q: state of %s left after a foreground run", tc.script, id)
		}
	}
}

// SIGTERM to a foreground `pcr oci run` reaches the payload.
// TestOCIRunForwardsSignals: a foreground run passes the signals it gets to
// the payload, from pcr oci and from the slim pcr-oci alike (which catches
// them without os/signal, runtime/internal/sigrelay).
func TestOCIRunForwardsSignals(t *testing.T) {
	e := newEnv(t)
	ociBin := filepath.Join(filepath.Dir(pcrBin), "pcr-oci")
	if _, err := os.Stat(ociBin); err != nil {
		t.Fatalf("bin/pcr-oci: %v", err)
	}
	runners := []struct {
		name string
		cmd  func(args ...string) *exec.Cmd
	}{
		{"pcr oci", e.pcrCmd},
		{"pcr-oci", func(args ...string) *exec.Cmd {
			return exec.Command(ociBin, append([]string{"--root", e.root}, args...)...)
		}},
	}
	for _, r := range runners {
		t.Run(r.name, func(t *testing.T) {
			t.Run("handled", func(t *testing.T) {
				b, out := e.shBundle(`trap 'echo got > /out/sig; exit 3' TERM; echo up > /out/up; while :; do sleep 0.02; done`, nil)
				code := runAndSignal(t, r.cmd("run", "--bundle", b, e.id()), out, syscall.SIGTERM)
				if code != 3 {
					t.Fatalf("exit %d, want 3 from the payload's trap", code)
				}
				if got := readTrim(t, filepath.Join(out, "sig")); got != "got" {
					t.Fatalf("payload saw %q", got)
				}
			})
			t.Run("user and realtime", func(t *testing.T) {
				b, out := e.shBundle(`trap 'echo usr1 >> /out/sig' USR1; trap 'echo hup >> /out/sig' HUP; `+
					`trap 'echo rt >> /out/sig; exit 4' 40; echo up > /out/up; while :; do sleep 0.02; done`, nil)
				code := runAndSignal(t, r.cmd("run", "--bundle", b, e.id()), out, syscall.SIGUSR1, syscall.SIGHUP, syscall.Signal(40))
				if code != 4 {
					t.Fatalf("exit %d, want 4 from the payload's trap of signal 40", code)
				}
				if got := readTrim(t, filepath.Join(out, "sig")); got != "usr1\nhup\nrt" {
					t.Fatalf("payload saw %q, want usr1, hup, rt", got)
				}
			})
			t.Run("default", func(t *testing.T) {
				// Without a pid namespace the payload is not an init, so SIGTERM kills it.
				b, out := e.shBundle(`echo up > /out/up; exec sleep 100`, func(s *specs.Spec) { dropNS(s, specs.PIDNamespace) })
				if code := runAndSignal(t, r.cmd("run", "--bundle", b, e.id()), out, syscall.SIGTERM); code != 143 {
					t.Fatalf("exit %d, want 143 (killed by SIGTERM)", code)
				}
			})
		})
	}
}

// TestOCIRunTerminalOutlivesAClosedStdout: a foreground run with a
// terminal copies the pty to its stdout. When whoever reads that goes away
// (run ... | head -1), pcr-oci keeps waiting for its payload, returns the
// payload's status and deletes the container, instead of dying of SIGPIPE
// with the container left running.
func TestOCIRunTerminalOutlivesAClosedStdout(t *testing.T) {
	e := newEnv(t)
	ociBin := filepath.Join(filepath.Dir(pcrBin), "pcr-oci")
	master, slave := openPty(t)
	defer master.Close()
	defer slave.Close()
	b, _ := e.shBundle(`echo first; sleep 0.3; i=0; while [ $i -lt 300 ]; do echo more output $i; i=$((i+1)); done; exit 7`,
		func(s *specs.Spec) { s.Process.Terminal = true })
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(ociBin, "--root", e.root, "run", "--bundle", b, e.id())
	var stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, w, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	got := make(chan string, 1)
	go func() {
		var seen []byte
		buf := make([]byte, 256)
		for !bytes.Contains(seen, []byte("first")) {
			n, err := r.Read(buf)
			if err != nil {
				break
			}
			seen = append(seen, buf[:n]...)
		}
		got <- string(seen)
	}()
	select {
	case s := <-got:
		if !strings.Contains(s, "first") {
			t.Fatalf("the pty's output never reached stdout: %q; stderr %s", s, stderr.String())
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("no output within 10 s: %s", stderr.String())
	}
	r.Close() // the reader goes away
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("pcr-oci run did not end after its payload: %s", stderr.String())
	}
	if ws := cmd.ProcessState.Sys().(syscall.WaitStatus); ws.Signaled() {
		t.Fatalf("pcr-oci was killed by %v once its stdout closed; stderr %s", ws.Signal(), stderr.String())
	}
	if code := cmd.ProcessState.ExitCode(); code != 7 {
		t.Fatalf("exit %d, want the payload's 7; stderr %s", code, stderr.String())
	}
	if ents, _ := os.ReadDir(e.root); len(ents) != 0 {
		t.Fatalf("the container is still in the state root (%d entries)", len(ents))
	}
}

// openPty opens a pseudo-terminal pair for a test to play the user's terminal.
func openPty(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		t.Fatalf("unlock pty: %v", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		m.Close()
		t.Fatalf("pty number: %v", err)
	}
	sl, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		m.Close()
		t.Fatal(err)
	}
	return m, sl
}

func dropNS(s *specs.Spec, t specs.LinuxNamespaceType) {
	var ns []specs.LinuxNamespace
	for _, n := range s.Linux.Namespaces {
		if n.Type != t {
			ns = append(ns, n)
		}
	}
	s.Linux.Namespaces = ns
}

// runAndSignal starts a foreground run, waits for its payload to write
// /out/up, sends it sigs one by one (after each but the last, waiting for
// the payload to log it as a line of /out/sig), and returns its exit code.
func runAndSignal(t *testing.T, cmd *exec.Cmd, out string, sigs ...syscall.Signal) int {
	t.Helper()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	waitFor := func(what string, ready func() bool) {
		deadline := time.Now().Add(5 * time.Second)
		for !ready() {
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				<-done
				t.Fatalf("%s: %s", what, stderr.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitFor("payload never came up", func() bool { return fileExists(filepath.Join(out, "up")) })
	for i, sig := range sigs {
		cmd.Process.Signal(sig)
		if i < len(sigs)-1 {
			waitFor(fmt.Sprintf("payload did not see %v", sig), func() bool {
				b, _ := os.ReadFile(filepath.Join(out, "sig"))
				return strings.Count(string(b), "\n") > i
			})
		}
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("pcr oci run did not end after %v", sigs[len(sigs)-1])
	}
	return cmd.ProcessState.ExitCode()
}

func TestOCIRunDetachPidFileAndState(t *testing.T) {
	e := newEnv(t)
	b := e.bundle(func(s *specs.Spec) {
		s.Process.Args = []string{"sleep", "100"}
		s.Annotations = map[string]string{"org.pcr.test": "lifecycle"}
	})
	id := e.id()
	pidFile := filepath.Join(e.dir, "init.pid")
	start := time.Now()
	e.detached(nil, "run", "--detach", "--pid-file", pidFile, "--bundle", b, id).ok(t)
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("run --detach took %v", d)
	}
	st := e.state(id)
	pid := e.statePid(id)
	if got := readTrim(t, pidFile); got != strconv.Itoa(pid) {
		t.Fatalf("pid file has %q, state says %d", got, pid)
	}
	e.assertNoResidentPcr(pid)
	want := map[string]any{"ociVersion": specs.Version, "id": id, "status": "running", "bundle": b}
	for k, v := range want {
		if st[k] != v {
			t.Errorf("state[%s] = %v, want %v", k, st[k], v)
		}
	}
	ann, _ := st["annotations"].(map[string]any)
	if ann["org.pcr.test"] != "lifecycle" {
		t.Errorf("state annotations %v, want org.pcr.test=lifecycle", st["annotations"])
	}
	if _, err := time.Parse(time.RFC3339Nano, fmt.Sprint(st["created"])); err != nil {
		t.Errorf("state created %v: %v", st["created"], err)
	}
	e.pcr("delete", id).fails(t, "not stopped")
	e.wantStatus(id, "running")
	e.pcr("delete", "--force", id).ok(t)
	if fileExists(fmt.Sprintf("/proc/%d/stat", pid)) && procCmdline(pid) == "sleep 100" {
		t.Fatalf("payload %d survived delete --force", pid)
	}
}

// Bad input: each refused with one line naming the cause, nothing left.
func TestOCIBadInput(t *testing.T) {
	e := newEnv(t)
	create := func(bundle string) (string, result) {
		id := e.id()
		r := e.detached(nil, "create", "--bundle", bundle, id)
		if fileExists(filepath.Join(e.root, id)) {
			t.Errorf("failed create of %s left %s", id, filepath.Join(e.root, id))
		}
		return id, r
	}
	cases := []struct {
		name   string
		bundle func() string
		want   string
	}{
		{"missing bundle", func() string { return filepath.Join(e.dir, "nope") }, "no such file or directory"},
		{"no config.json", func() string {
			d := filepath.Join(e.dir, "empty")
			os.Mkdir(d, 0o755)
			return d
		}, "no config.json"},
		{"malformed json", func() string {
			b := e.bundle(nil)
			os.WriteFile(filepath.Join(b, "config.json"), []byte(`{"ociVersion": "1.0.2", "process": {`), 0o644)
			return b
		}, "parse"},
		{"ociVersion 2.0.0", func() string { return e.bundle(func(s *specs.Spec) { s.Version = "2.0.0" }) }, `unsupported ociVersion "2.0.0"`},
		{"args[0] not found", func() string {
			return e.bundle(func(s *specs.Spec) { s.Process.Args = []string{"no-such-cmd"} })
		}, "no-such-cmd"},
		{"args[0] not executable", func() string {
			b := e.bundle(func(s *specs.Spec) { s.Process.Args = []string{"/noexec"} })
			os.WriteFile(filepath.Join(b, "rootfs", "noexec"), []byte("#!/bin/sh\n"), 0o644)
			return b
		}, "permission denied"},
		{"missing cwd", func() string { return e.bundle(func(s *specs.Spec) { s.Process.Cwd = "/no/such/dir" }) }, "/no/such/dir"},
		{"relative cwd", func() string { return e.bundle(func(s *specs.Spec) { s.Process.Cwd = "tmp" }) }, "absolute"},
		{"no args", func() string { return e.bundle(func(s *specs.Spec) { s.Process.Args = nil }) }, "process.args"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, r := create(tc.bundle())
			r.fails(t, tc.want)
		})
	}
}

func TestOCIBadVerbs(t *testing.T) {
	e := newEnv(t)
	b := e.bundle(func(s *specs.Spec) { s.Process.Args = []string{"sleep", "100"} })
	id := e.id()
	e.detached(nil, "create", "--bundle", b, id).ok(t)
	pid := e.statePid(id)

	e.detached(nil, "create", "--bundle", b, id).fails(t, "already exists")
	e.wantStatus(id, "created")
	if e.statePid(id) != pid || procCmdline(pid) != "pcr init" {
		t.Fatalf("second create disturbed the first container (pid %d -> %d)", pid, e.statePid(id))
	}
	e.pcr("start", id).ok(t)
	e.pcr("delete", id).fails(t, "not stopped")
	e.wantStatus(id, "running")
	e.pcr("kill", id, "SIGNOPE").fails(t, "unknown signal")
	e.pcr("kill", id, "99").fails(t, "invalid signal")
	e.wantStatus(id, "running")
	e.pcr("pause", "no-such-id").fails(t, "does not exist")
	e.pcr("state", "../x").fails(t, "invalid container id")
	e.detached(nil, "create", "--bundle", b, "../x").fails(t, "invalid container id")
	e.detached(nil, "create", "--bundle", b, "a/b").fails(t, "invalid container id")
	if fileExists(filepath.Join(e.dir, "x")) || fileExists(filepath.Join(e.root, "a")) {
		t.Fatal("an invalid id made a directory")
	}
	e.pcr("--systemd-cgroup", "list").fails(t, "--systemd-cgroup is not supported")
	e.pcr("kill", id, "KILL").ok(t)
	e.waitStatus(id, "stopped")
	e.pcr("kill", id, "TERM").fails(t, "not running")
	e.pcr("start", id).fails(t, "stopped")
	e.pcr("exec", id, "true").fails(t, "stopped")
	e.pcr("delete", id).ok(t)
	e.pcr("delete", id).fails(t, "does not exist")
	e.pcr("delete", "--force", id).ok(t)
}

// A `pcr oci run` killed at any point of its life leaves a container that
// delete --force removes completely: state, cgroup, processes, mounts.
func TestOCIRunSIGKILLedAtRandomPoints(t *testing.T) {
	e := newEnv(t)
	b := e.bundle(func(s *specs.Spec) { s.Process.Args = []string{"sleep", "100"} })
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	for i := 0; i < 15; i++ {
		id := e.id()
		delay := time.Duration(i*60/15)*time.Millisecond + time.Duration(rng.Intn(3000))*time.Microsecond
		cmd := e.pcrCmd("run", "--bundle", b, id)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(delay)
		cmd.Process.Kill()
		cmd.Wait()
		e.pcr("delete", "--force", id).ok(t)
		if fileExists(filepath.Join(e.root, id)) {
			t.Fatalf("killed after %v: state of %s survives delete --force", delay, id)
		}
		// The init may still be dying of its closed sync socket: give it a moment.
		waitFor(t, 3*time.Second, "no process of "+id, func() bool { return len(e.processesIn(b)) == 0 })
		e.checkNoLeaks()
		if t.Failed() {
			t.Fatalf("killed after %v: leaks above", delay)
		}
	}
}

func TestOCIParallelLifecycles(t *testing.T) {
	e := newEnv(t)
	b := e.bundle(func(s *specs.Spec) { s.Process.Args = []string{"sleep", "100"} })
	const n = 20
	ids := make([]string, n)
	for i := range ids {
		ids[i] = e.id()
	}
	var wg sync.WaitGroup
	errs := make(chan string, 4*n)
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			steps := [][]string{{"create", "--bundle", b, id}, {"start", id}, {"state", id}, {"delete", "--force", id}}
			for _, s := range steps {
				var r result
				if s[0] == "create" {
					r = e.detached(nil, s...)
				} else {
					r = e.pcr(s...)
				}
				if r.code != 0 {
					errs <- fmt.Sprintf("%v: exit %d: %s", s, r.code, r.stderr)
					return
				}
				if s[0] == "state" {
					var m map[string]any
					if err := json.Unmarshal([]byte(r.stdout), &m); err != nil || m["id"] != id || m["status"] != "running" {
						errs <- fmt.Sprintf("state %s: %v %s", id, err, r.stdout)
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if r := e.pcr("list", "-q").ok(t); strings.TrimSpace(r.stdout) != "" {
		t.Fatalf("containers left after parallel deletes: %q", r.stdout)
	}
}

func TestOCIParallelSameID(t *testing.T) {
	e := newEnv(t)
	b := e.bundle(func(s *specs.Spec) { s.Process.Args = []string{"sleep", "100"} })
	for round := 0; round < 3; round++ {
		id := e.id()
		const n = 4
		results := make([]result, n)
		var wg sync.WaitGroup
		for i := range results {
			wg.Add(1)
			go func() { defer wg.Done(); results[i] = e.detached(nil, "create", "--bundle", b, id) }()
		}
		wg.Wait()
		won := 0
		for _, r := range results {
			if r.code == 0 {
				won++
			} else if !strings.Contains(r.stderr, "already exists") {
				t.Errorf("losing create of %s: exit %d %q, want already exists", id, r.code, r.stderr)
			}
		}
		if won != 1 {
			t.Fatalf("%d of %d parallel creates of %s succeeded, want exactly 1", won, n, id)
		}
		e.wantStatus(id, "created")
		pid := e.statePid(id)
		if procCmdline(pid) != "pcr init" {
			t.Fatalf("winner's init %d is %q", pid, procCmdline(pid))
		}
		e.pcr("delete", id).ok(t)
	}
}

// hookScript appends "<name> <state json>" to the log named by its args.
const hookScript = "#!/bin/sh\nstate=$(cat)\necho \"$1 $state\" >> \"$2\"\n"

type hookLine struct {
	name  string
	state specs.State
}

func readHookLog(t *testing.T, path string) []hookLine {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []hookLine
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		name, js, _ := strings.Cut(l, " ")
		var st specs.State
		if err := json.Unmarshal([]byte(js), &st); err != nil {
			t.Fatalf("hook %s got state %q: %v", name, js, err)
		}
		out = append(out, hookLine{name, st})
	}
	return out
}

func TestOCIHooksOrderAndState(t *testing.T) {
	e := newEnv(t)
	host := filepath.Join(e.dir, "hook.sh")
	os.WriteFile(host, []byte(hookScript), 0o755)
	var out string
	b := e.bundle(func(s *specs.Spec) {
		s.Process.Args = []string{"sleep", "100"}
		out = e.outDir(s)
		log := filepath.Join(out, "log")
		h := func(name, path, log string) specs.Hook {
			return specs.Hook{Path: path, Args: []string{"hook", name, log}}
		}
		s.Hooks = &specs.Hooks{
			Prestart:      []specs.Hook{h("prestart", host, log)}, //nolint:staticcheck
			CreateRuntime: []specs.Hook{h("createRuntime", host, log)},
			// Runs in the container's mount namespace before pivot_root.
			CreateContainer: []specs.Hook{h("createContainer", host, log)},
			// Runs in the container: its path and log are the container's.
			StartContainer: []specs.Hook{h("startContainer", "/hook.sh", "/out/log")},
			Poststart:      []specs.Hook{h("poststart", host, log)},
			Poststop:       []specs.Hook{h("poststop", host, log)},
		}
	})
	os.WriteFile(filepath.Join(b, "rootfs", "hook.sh"), []byte(hookScript), 0o755)
	id := e.id()
	log := filepath.Join(out, "log")
	e.detached(nil, "create", "--bundle", b, id).ok(t)
	pid := e.statePid(id)
	e.pcr("start", id).ok(t)
	waitFor(t, 5*time.Second, "startContainer and poststart hooks", func() bool {
		d, _ := os.ReadFile(log)
		return strings.Count(string(d), "\n") >= 5
	})
	e.pcr("kill", id, "KILL").ok(t)
	e.waitStatus(id, "stopped")
	e.pcr("delete", id).ok(t)

	lines := readHookLog(t, log)
	want := []struct{ name, status string }{
		{"prestart", "creating"}, {"createRuntime", "creating"}, {"createContainer", "creating"},
		{"startContainer", "created"}, {"poststart", "running"}, {"poststop", "stopped"},
	}
	if len(lines) != len(want) {
		t.Fatalf("hooks ran %d times, want %d: %v", len(lines), len(want), lines)
	}
	for i, w := range want {
		l := lines[i]
		if l.name != w.name {
			t.Errorf("hook #%d is %s, want %s", i, l.name, w.name)
		}
		if string(l.state.Status) != w.status || l.state.ID != id || l.state.Bundle != b {
			t.Errorf("%s saw id=%s status=%s bundle=%s, want %s %s %s", l.name, l.state.ID, l.state.Status, l.state.Bundle, id, w.status, b)
		}
		// createContainer and startContainer run inside the container's
		// namespaces, so they see its pid there (runc does the same).
		wantPid := pid
		switch w.name {
		case "createContainer", "startContainer":
			wantPid = 1
		case "poststop":
			wantPid = 0
		}
		if l.state.Pid != wantPid {
			t.Errorf("%s saw pid %d, want %d", l.name, l.state.Pid, wantPid)
		}
	}
}

func TestOCIHookFailures(t *testing.T) {
	e := newEnv(t)
	fail := filepath.Join(e.dir, "fail.sh")
	os.WriteFile(fail, []byte("#!/bin/sh\necho 'hook says no' >&2\nexit 3\n"), 0o755)
	slow := filepath.Join(e.dir, "slow.sh")
	os.WriteFile(slow, []byte("#!/bin/sh\nexec sleep 5\n"), 0o755)
	for _, tc := range []struct {
		name  string
		hooks specs.Hooks
		want  string
	}{
		{"createRuntime fails", specs.Hooks{CreateRuntime: []specs.Hook{{Path: fail}}}, "hook says no"},
		{"createContainer fails", specs.Hooks{CreateContainer: []specs.Hook{{Path: fail}}}, "createContainer"},
		{"createRuntime times out", specs.Hooks{CreateRuntime: []specs.Hook{{Path: slow, Timeout: ptr(1)}}}, "timed out"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := e.bundle(func(s *specs.Spec) { s.Process.Args = []string{"sleep", "100"}; s.Hooks = &tc.hooks })
			id := e.id()
			start := time.Now()
			e.detached(nil, "create", "--bundle", b, id).fails(t, tc.want)
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("failing create took %v", d)
			}
			if fileExists(filepath.Join(e.root, id)) {
				t.Errorf("failed create left its state")
			}
			waitFor(t, 3*time.Second, "no process of "+id, func() bool { return len(e.processesIn(b)) == 0 })
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestOCIListPsEvents(t *testing.T) {
	e := newEnv(t)
	b := e.bundle(func(s *specs.Spec) { s.Process.Args = []string{"sh", "-c", "sleep 100 & exec sleep 100"} })
	id := e.id()
	e.detached(nil, "run", "--detach", "--bundle", b, id).ok(t)
	pid := e.statePid(id)

	r := e.pcr("list").ok(t)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 2 || strings.Join(strings.Fields(lines[0]), " ") != "ID PID STATUS BUNDLE CREATED OWNER" {
		t.Fatalf("list table:\n%s", r.stdout)
	}
	if f := strings.Fields(lines[1]); len(f) != 6 || f[0] != id || f[1] != strconv.Itoa(pid) || f[2] != "running" || f[3] != b || f[5] != "root" {
		t.Fatalf("list row %q, want %s %d running %s ... root", lines[1], id, pid, b)
	}
	var list []map[string]any
	if err := json.Unmarshal([]byte(e.pcr("list", "--format", "json").ok(t).stdout), &list); err != nil || len(list) != 1 {
		t.Fatalf("list --format json: %v %v", err, list)
	}
	if list[0]["id"] != id || list[0]["status"] != "running" || list[0]["pid"] != float64(pid) {
		t.Fatalf("list json entry %v", list[0])
	}

	var pids []int
	waitFor(t, 5*time.Second, "two processes in the container", func() bool {
		pids = nil
		json.Unmarshal([]byte(e.pcr("ps", "--format", "json", id).ok(t).stdout), &pids)
		return len(pids) == 2
	})
	if !contains(pids, pid) {
		t.Fatalf("ps json %v lacks the init %d", pids, pid)
	}
	// pcr ps runs the host's ps -ef, procps (UID PID PPID …) or busybox
	// (PID USER …, it ignores -ef): expect that header and one row per
	// container pid in its PID column.
	hostPs, err := exec.Command("ps", "-ef").Output()
	if err != nil {
		t.Fatalf("host ps -ef: %v", err)
	}
	header := strings.SplitN(string(hostPs), "\n", 2)[0]
	pidCol := slices.Index(strings.Fields(header), "PID")
	r = e.pcr("ps", id).ok(t)
	rows := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	var rowPids []int
	for _, row := range rows[1:] {
		f := strings.Fields(row)
		if pidCol < 0 || len(f) <= pidCol || !strings.Contains(row, "sleep 100") {
			t.Fatalf("ps row %q: want a container process under the header %q", row, header)
		}
		p, _ := strconv.Atoi(f[pidCol])
		rowPids = append(rowPids, p)
	}
	slices.Sort(rowPids)
	slices.Sort(pids)
	if rows[0] != header || !slices.Equal(rowPids, pids) {
		t.Fatalf("ps printed:\n%s\nwant the host ps header %q and rows for pids %v", r.stdout, header, pids)
	}

	var ev struct {
		Type string `json:"type"`
		ID   string `json:"id"`
		Data struct {
			Memory struct {
				Usage struct {
					Usage uint64 `json:"usage"`
				} `json:"usage"`
			} `json:"memory"`
			Pids struct {
				Current uint64 `json:"current"`
			} `json:"pids"`
		} `json:"data"`
	}
	r = e.pcr("events", "--stats", id).ok(t)
	if err := json.Unmarshal([]byte(r.stdout), &ev); err != nil {
		t.Fatalf("events --stats: %v: %s", err, r.stdout)
	}
	if ev.Type != "stats" || ev.ID != id || ev.Data.Memory.Usage.Usage == 0 || ev.Data.Pids.Current != 2 {
		t.Fatalf("events --stats: %+v from %s", ev, r.stdout)
	}
	e.pcr("delete", "--force", id).ok(t)
	e.pcr("ps", id).fails(t, "does not exist")
}

func contains(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

func TestOCIPauseResume(t *testing.T) {
	e := newEnv(t)
	b, out := e.shBundle(`i=0; while :; do i=$((i+1)); echo $i > /out/n; done`, nil)
	id := e.id()
	e.detached(nil, "run", "--detach", "--bundle", b, id).ok(t)
	counter := func() int { n, _ := strconv.Atoi(readTrim(t, filepath.Join(out, "n"))); return n }
	waitFor(t, 5*time.Second, "counter running", func() bool { return fileExists(filepath.Join(out, "n")) && counter() > 0 })
	e.pcr("pause", id).ok(t)
	e.wantStatus(id, "paused")
	before := counter()
	time.Sleep(100 * time.Millisecond)
	if after := counter(); after != before {
		t.Fatalf("counter moved from %d to %d while paused", before, after)
	}
	e.pcr("pause", id).fails(t, "paused")
	e.pcr("resume", id).ok(t)
	e.wantStatus(id, "running")
	waitFor(t, 5*time.Second, "counter moving after resume", func() bool { return counter() > before })
	e.pcr("resume", id).fails(t, "not paused")
	// delete --force must also take down a paused container.
	e.pcr("pause", id).ok(t)
	e.pcr("delete", "--force", id).ok(t)
}

func TestOCIExec(t *testing.T) {
	e := newEnv(t)
	b := e.bundle(func(s *specs.Spec) { s.Process.Args = []string{"sleep", "100"}; s.Hostname = "lifecycle-box" })
	id := e.id()
	e.detached(nil, "run", "--detach", "--bundle", b, id).ok(t)

	r := e.pcr("exec", id, "--", "sh", "-c", "echo $$; hostname; readlink /proc/1/exe").ok(t)
	f := strings.Fields(r.stdout)
	if len(f) != 3 || f[0] == "1" || f[1] != "lifecycle-box" || f[2] != "/bin/busybox" {
		t.Fatalf("exec printed %q, want a pid other than 1, lifecycle-box, /bin/busybox", r.stdout)
	}
	if n, _ := strconv.Atoi(f[0]); n <= 1 || n > 1000 {
		t.Fatalf("exec'd shell has pid %s: not in the container's pid namespace", f[0])
	}
	// In the container's cgroup namespace and in its cgroup, every
	// hierarchy shows the process at the namespace's root.
	cg := e.pcr("exec", id, "cat", "/proc/self/cgroup").ok(t).stdout
	for _, l := range ociLines(cg) {
		if !strings.HasSuffix(l, ":/") {
			t.Fatalf("exec'd process /proc/self/cgroup:\n%s\nwant every line at the namespace root /", cg)
		}
	}
	if r := e.pcr("exec", id, "sh", "-c", "exit 42"); r.code != 42 {
		t.Fatalf("exec exit 42: got %d (%s)", r.code, r.stderr)
	}
	p := specs.Process{Args: []string{"sh", "-c", "echo $FOO $(pwd) $(id -u)"}, Env: []string{"FOO=from-json", "PATH=/bin"}, Cwd: "/tmp"}
	data, _ := json.Marshal(p)
	pj := filepath.Join(e.dir, "p.json")
	os.WriteFile(pj, data, 0o644)
	if r := e.pcr("exec", "--process", pj, id).ok(t); strings.TrimSpace(r.stdout) != "from-json /tmp 0" {
		t.Fatalf("exec --process printed %q", r.stdout)
	}
	e.pcr("exec", id, "no-such-cmd").fails(t, "no-such-cmd")

	e.pcr("kill", id, "KILL").ok(t)
	e.waitStatus(id, "stopped")
	e.pcr("exec", id, "true").fails(t, "stopped")
	e.pcr("delete", id).ok(t)
}

// consoleReceiver listens like runc's recvtty and returns what the pty
// master it receives reads until EOF.
func consoleReceiver(t *testing.T, dir string) (string, <-chan string) {
	t.Helper()
	path := filepath.Join(dir, "console.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	go func() {
		defer l.Close()
		l.SetDeadline(time.Now().Add(10 * time.Second))
		c, err := l.AcceptUnix()
		if err != nil {
			got <- "accept: " + err.Error()
			return
		}
		defer c.Close()
		buf, oob := make([]byte, 256), make([]byte, unix.CmsgSpace(4))
		_, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
		if err != nil {
			got <- "recvmsg: " + err.Error()
			return
		}
		msgs, _ := unix.ParseSocketControlMessage(oob[:oobn])
		if len(msgs) != 1 {
			got <- "no SCM_RIGHTS message"
			return
		}
		fds, err := unix.ParseUnixRights(&msgs[0])
		if err != nil || len(fds) != 1 {
			got <- fmt.Sprintf("no fd: %v", err)
			return
		}
		master := os.NewFile(uintptr(fds[0]), "pty-master")
		defer master.Close()
		var out bytes.Buffer
		tmp := make([]byte, 4096)
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			n, err := master.Read(tmp)
			out.Write(tmp[:n])
			if err != nil || strings.Contains(out.String(), "END") {
				break
			}
		}
		got <- out.String()
	}()
	return path, got
}

func TestOCIConsoleSocket(t *testing.T) {
	e := newEnv(t)
	t.Run("run", func(t *testing.T) {
		b := e.bundle(func(s *specs.Spec) {
			s.Process.Terminal = true
			s.Process.Args = []string{"sh", "-c", "tty; [ -t 0 ] && echo stdin-is-tty; echo END; sleep 100"}
		})
		sock, got := consoleReceiver(t, e.dir)
		id := e.id()
		e.detached(nil, "run", "--detach", "--console-socket", sock, "--bundle", b, id).ok(t)
		out := <-got
		if !strings.Contains(out, "/dev/pts/0") || !strings.Contains(out, "stdin-is-tty") {
			t.Fatalf("pty master read %q, want /dev/pts/0 and stdin-is-tty", out)
		}
		e.pcr("delete", "--force", id).ok(t)
	})
	t.Run("exec", func(t *testing.T) {
		b := e.bundle(func(s *specs.Spec) { s.Process.Args = []string{"sleep", "100"} })
		id := e.id()
		e.detached(nil, "run", "--detach", "--bundle", b, id).ok(t)
		sock, got := consoleReceiver(t, e.dir)
		e.detached(nil, "exec", "--tty", "--detach", "--console-socket", sock, id, "sh", "-c", "tty; [ -t 1 ] && echo out-is-tty; echo END").ok(t)
		out := <-got
		if !strings.Contains(out, "/dev/pts/") || !strings.Contains(out, "out-is-tty") {
			t.Fatalf("exec pty read %q", out)
		}
		e.pcr("delete", "--force", id).ok(t)
	})
	t.Run("terminal without socket", func(t *testing.T) {
		b := e.bundle(func(s *specs.Spec) { s.Process.Terminal = true })
		e.detached(nil, "create", "--bundle", b, e.id()).fails(t, "--console-socket")
	})
}

func TestOCIDebugTrace(t *testing.T) {
	e := newEnv(t)
	b := e.bundle(nil)
	r := e.pcr("--debug", "run", "--bundle", b, e.id()).ok(t)
	for _, stage := range []string{"clone flags", "cgroup created", "mounted proc on /proc", "pivot_root", "execve"} {
		found := false
		for _, l := range strings.Split(r.stderr, "\n") {
			if strings.Contains(l, stage) {
				found = true
				// "pcr: trace   1234µs (+   56µs) stage"
				var total, delta int
				i := strings.Index(l, "trace")
				if i < 0 {
					t.Fatalf("stage line without trace: %q", l)
				}
				if _, err := fmt.Sscanf(strings.ReplaceAll(l[i:], " ", ""), "trace%dµs(+%dµs)", &total, &delta); err != nil || total < delta {
					t.Fatalf("stage line %q: want microsecond total and delta (%v)", l, err)
				}
			}
		}
		if !found {
			t.Errorf("--debug output has no %q stage:\n%s", stage, r.stderr)
		}
	}
	if r := e.pcr("run", "--bundle", b, e.id()).ok(t); strings.Contains(r.stderr, "trace") {
		t.Fatalf("trace printed without --debug: %s", r.stderr)
	}
}

// CVE-2019-5736: until it execs the payload, the container's init runs pcr's
// own binary inside the container's namespaces. What /proc/<init>/exe holds
// must be a sealed view, never the host's bin/pcr-init opened for writing.
func TestOCIInitRunsASealedBinary(t *testing.T) {
	e := newEnv(t)
	initBin := filepath.Join(filepath.Dir(pcrBin), "pcr-init")
	before, err := os.ReadFile(initBin)
	if err != nil {
		t.Fatalf("bin/pcr-init: %v", err)
	}
	for _, tc := range []struct {
		name string
		edit func(*specs.Spec)
	}{
		{"C init", func(s *specs.Spec) { s.Process.Args = []string{"sleep", "100"} }},
		// A hook keeps the Go init (fastplan.go), which waits on the fifo too.
		{"Go init", func(s *specs.Spec) {
			s.Process.Args = []string{"sleep", "100"}
			s.Hooks = &specs.Hooks{StartContainer: []specs.Hook{{Path: "/bin/true"}}}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := e.id()
			e.detached(nil, "create", "--bundle", e.bundle(tc.edit), id).ok(t)
			defer e.pcr("delete", "--force", id)
			exe := fmt.Sprintf("/proc/%d/exe", e.statePid(id))
			if link, err := os.Readlink(exe); err != nil || link == initBin {
				t.Errorf("%s -> %q (%v): the init runs the host's binary itself", exe, link, err)
			}
			f, err := os.OpenFile(exe, os.O_WRONLY, 0)
			if err == nil {
				_, err = f.Write([]byte("#!/bin/sh\n"))
				f.Close()
			}
			// A sealed copy refuses with EPERM, or ETXTBSY while it runs.
			if !errors.Is(err, syscall.EROFS) && !errors.Is(err, syscall.EPERM) && !errors.Is(err, syscall.ETXTBSY) {
				t.Errorf("writing %s: %v, want EROFS (sealed overlay) or EPERM/ETXTBSY (sealed copy)", exe, err)
			}
			if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", e.statePid(id))); strings.TrimSpace(string(comm)) != "pcr-init" {
				t.Errorf("the waiting init is named %q, want pcr-init", comm)
			}
			e.pcr("start", id).ok(t)
		})
	}
	if after, _ := os.ReadFile(initBin); !bytes.Equal(before, after) {
		t.Fatal("bin/pcr-init changed")
	}
}

func TestOCIBinaryNameAndVersion(t *testing.T) {
	e := newEnv(t)
	ociBin := filepath.Join(filepath.Dir(pcrBin), "pcr-oci")
	if _, err := os.Stat(ociBin); err != nil {
		t.Fatalf("bin/pcr-oci: %v", err)
	}
	b := e.bundle(func(s *specs.Spec) { s.Process.Args = []string{"sleep", "100"} })
	id := e.id()
	e.detached(nil, "create", "--bundle", b, id).ok(t)
	out, err := exec.Command(ociBin, "--root", e.root, "list", "-q").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != id {
		t.Fatalf("pcr-oci --root list -q: %v %q, want %s", err, out, id)
	}
	out, err = exec.Command(ociBin, "--root", e.root, "state", id).CombinedOutput()
	if err != nil || !strings.Contains(string(out), `"status": "created"`) {
		t.Fatalf("pcr-oci state: %v %s", err, out)
	}
	e.pcr("delete", id).ok(t)
	for _, cmd := range [][]string{{ociBin, "--version"}, {pcrBin, "oci", "--version"}} {
		out, err := exec.Command(cmd[0], cmd[1:]...).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "version") || !strings.Contains(string(out), "spec: "+specs.Version) {
			t.Errorf("%v: %v %q, want a version and spec: %s", cmd, err, out, specs.Version)
		}
	}
}

// TestOCIRuntimeBinaryNeedsItsInit: pcr-oci holds no container init and
// runs the pcr-init beside it; copied somewhere alone it says so, and
// leaves nothing behind.
func TestOCIRuntimeBinaryNeedsItsInit(t *testing.T) {
	e := newEnv(t)
	src, err := os.ReadFile(filepath.Join(filepath.Dir(pcrBin), "pcr-oci"))
	if err != nil {
		t.Fatalf("bin/pcr-oci: %v", err)
	}
	alone := filepath.Join(t.TempDir(), "pcr-oci")
	if err := os.WriteFile(alone, src, 0o755); err != nil {
		t.Fatal(err)
	}
	b := e.bundle(func(s *specs.Spec) { s.Process.Args = []string{"true"} })
	id := e.id()
	out, err := exec.Command(alone, "--root", e.root, "run", "--bundle", b, id).CombinedOutput()
	want := filepath.Join(filepath.Dir(alone), "pcr-init")
	if err == nil || !strings.Contains(string(out), "needs "+want+" beside it") || strings.Count(strings.TrimSpace(string(out)), "\n") != 0 {
		t.Fatalf("pcr-oci alone: %v %q, want one line that asks for %s", err, out, want)
	}
	if ents, _ := os.ReadDir(e.root); len(ents) != 0 {
		t.Fatalf("pcr-oci alone left %d entries in its state root", len(ents))
	}
	// Beside its pcr-init it runs.
	if err := os.WriteFile(want, mustRead(t, filepath.Join(filepath.Dir(pcrBin), "pcr-init")), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(alone, "--root", e.root, "run", "--bundle", b, e.id()).CombinedOutput(); err != nil {
		t.Fatalf("pcr-oci beside pcr-init: %v %s", err, out)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestOCISpecAndFeatures(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	e.pcr("spec", "--bundle", dir).ok(t)
	s := e.readSpec(dir)
	if s.Version != specs.Version || s.Process == nil || s.Root.Path != "rootfs" {
		t.Fatalf("spec wrote %+v", s)
	}
	e.pcr("spec", "--bundle", dir).fails(t, "already exists")
	rl := t.TempDir()
	e.pcr("spec", "--rootless", "--bundle", rl).ok(t)
	rs := e.readSpec(rl)
	userNS := false
	for _, n := range rs.Linux.Namespaces {
		userNS = userNS || n.Type == specs.UserNamespace
	}
	if !userNS || len(rs.Linux.UIDMappings) == 0 || len(rs.Linux.GIDMappings) == 0 {
		t.Fatalf("spec --rootless: user namespace %v, mappings %v %v", userNS, rs.Linux.UIDMappings, rs.Linux.GIDMappings)
	}

	var f struct {
		Min   string   `json:"ociVersionMin"`
		Max   string   `json:"ociVersionMax"`
		Hooks []string `json:"hooks"`
	}
	r := e.pcr("features").ok(t)
	if err := json.Unmarshal([]byte(r.stdout), &f); err != nil {
		t.Fatal(err)
	}
	if f.Min == "" || f.Max != specs.Version {
		t.Errorf("features ociVersionMin %q Max %q, want Max %s", f.Min, f.Max, specs.Version)
	}
	for _, h := range []string{"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"} {
		if !strings.Contains(strings.Join(f.Hooks, ","), h) {
			t.Errorf("features hooks %v lack %s", f.Hooks, h)
		}
	}
}

// podman reads the cause of a failed create from --log in json.
func TestOCILogFileJSON(t *testing.T) {
	e := newEnv(t)
	b := e.bundle(func(s *specs.Spec) { s.Process.Args = []string{"no-such-cmd"} })
	logPath := filepath.Join(e.dir, "runtime.log")
	e.detached(nil, "--log", logPath, "--log-format", "json", "create", "--bundle", b, e.id()).fails(t, "no-such-cmd")
	data, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	var last map[string]string
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if err := json.Unmarshal([]byte(l), &last); err != nil {
			t.Fatalf("log line %q is not JSON: %v", l, err)
		}
	}
	if last["level"] != "error" || !strings.Contains(last["msg"], "no-such-cmd") || last["time"] == "" {
		t.Fatalf("last log entry %v, want an error naming no-such-cmd", last)
	}
	e.pcr("--log-format", "xml", "list").fails(t, "--log-format")
}
