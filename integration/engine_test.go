package integration

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
)

// TestEngineRunExitCodes: the container's own status, Docker's 126/127
// when the command cannot run, 125 when pcr fails.
func TestEngineRunExitCodes(t *testing.T) {
	e := newEngineEnv(t)
	e.importBusybox()
	r := e.pcr("run", "--rm", "busybox", "echo", "hello").ok(t)
	if r.stdout != "hello\n" {
		t.Fatalf("stdout %q, want hello", r.stdout)
	}
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"run", "--rm", "busybox", "sh", "-c", "exit 3"}, 3, ""},
		{[]string{"run", "--rm", "busybox", "/etc/passwd"}, 126, "permission denied"},
		{[]string{"run", "--rm", "busybox", "no-such-command"}, 127, "executable file not found"},
		{[]string{"run", "--rm", "no-such-image", "true"}, 125, "unable to find image 'no-such-image'"},
		{[]string{"run", "-d", "--rm", "busybox", "no-such-command"}, 127, "executable file not found"},
	} {
		r := e.pcr(c.args...)
		if r.code != c.code {
			t.Errorf("pcr %s: exit %d, want %d (stderr %q)", strings.Join(c.args, " "), r.code, c.code, r.stderr)
		}
		if c.msg != "" {
			r.fails(t, c.msg)
		}
	}
	if ids := e.containerIDs(); len(ids) != 0 {
		t.Errorf("--rm runs left containers: %v", ids)
	}
}

// TestEngineRmUpperIsVolatile: an --rm container's writable layer is never
// synced (it goes with the container), and is mounted again as often as the
// container needs: cp into a created --rm container, then start it.
func TestEngineRmUpperIsVolatile(t *testing.T) {
	e := newEngineEnv(t)
	e.importBusybox()
	root := e.pcr("run", "--rm", "busybox", "sh", "-c", "grep ' / / ' /proc/self/mountinfo").ok(t).stdout
	if !strings.Contains(root, "volatile") {
		t.Errorf("root of a run --rm container is not volatile: %s", root)
	}
	if root := e.pcr("run", "--name", "kept", "busybox", "grep", " / / ", "/proc/self/mountinfo").ok(t).stdout; strings.Contains(root, "volatile") {
		t.Errorf("root of a container kept after its run is volatile: %s", root)
	}
	id := strings.TrimSpace(e.pcr("create", "--rm", "busybox", "cat", "/in.txt").ok(t).stdout)
	host := filepath.Join(t.TempDir(), "in.txt")
	if err := os.WriteFile(host, []byte("copied in\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.pcr("cp", host, id+":/in.txt").ok(t)
	if out := e.pcr("start", "-a", id).ok(t).stdout; out != "copied in\n" {
		t.Errorf("start -a after cp: %q", out)
	}
	e.pcr("rm", "kept").ok(t)
	if ids := e.containerIDs(); len(ids) != 0 {
		t.Errorf("containers left: %v", ids)
	}
}

// TestEngineDetachedLogsWaitPs: a detached container's output, exit code
// and status are there after the pcr that started it has exited.
func TestEngineDetachedLogsWaitPs(t *testing.T) {
	e := newEngineEnv(t)
	e.importBusybox()
	r := e.pcr("run", "-d", "--name", "job", "busybox", "sh", "-c", "echo out; echo err >&2; sleep 0.3; exit 4").ok(t)
	id := strings.TrimSpace(r.stdout)
	if len(id) != 64 {
		t.Fatalf("run -d printed %q, want a 64-hex id", r.stdout)
	}
	if got := strings.TrimSpace(e.pcr("wait", "job").ok(t).stdout); got != "4" {
		t.Fatalf("wait printed %q, want 4", got)
	}
	logs := e.pcr("logs", "job").ok(t)
	if logs.stdout != "out\n" || logs.stderr != "err\n" {
		t.Fatalf("logs: stdout %q stderr %q", logs.stdout, logs.stderr)
	}
	if tail := e.pcr("logs", "--tail", "1", "job").ok(t); tail.stdout+tail.stderr != "err\n" {
		t.Fatalf("logs --tail 1: %q %q", tail.stdout, tail.stderr)
	}
	ps := e.pcr("ps", "-a").ok(t).stdout
	if !strings.Contains(ps, id[:12]) || !strings.Contains(ps, "Exited (4)") || !strings.Contains(ps, "job") {
		t.Fatalf("ps -a does not show the exited container:\n%s", ps)
	}
	if ps := e.pcr("ps").ok(t).stdout; strings.Contains(ps, id[:12]) {
		t.Fatalf("ps (running only) shows an exited container:\n%s", ps)
	}
	var list []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(e.pcr("ps", "-a", "--format", "json").ok(t).stdout), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("ps --format json: %v: %q", err, l)
		}
		list = append(list, m)
	}
	if len(list) != 1 || list[0]["State"] != "exited" {
		t.Fatalf("ps --format json: %v", list)
	}
	var insp []struct {
		ID    string `json:"Id"`
		State struct {
			Status   string
			ExitCode int
		}
		GraphDriver struct{ Data map[string]string }
	}
	if err := json.Unmarshal([]byte(e.pcr("inspect", id[:12]).ok(t).stdout), &insp); err != nil {
		t.Fatal(err)
	}
	if len(insp) != 1 || insp[0].ID != id || insp[0].State.Status != "exited" || insp[0].State.ExitCode != 4 || insp[0].GraphDriver.Data["UpperDir"] == "" {
		t.Fatalf("inspect: %+v", insp)
	}
	// follow ends by itself when the container exits
	r = e.pcr("run", "-d", "busybox", "sh", "-c", "for i in 1 2 3; do echo $i; sleep 0.1; done").ok(t)
	if f := e.pcr("logs", "-f", strings.TrimSpace(r.stdout)).ok(t); f.stdout != "1\n2\n3\n" {
		t.Fatalf("logs -f: %q", f.stdout)
	}
}

func (e *engineEnv) runningBusybox(extra ...string) string {
	e.t.Helper()
	args := append(append([]string{"run", "-d"}, extra...), "busybox", "sleep", "60")
	return strings.TrimSpace(e.pcr(args...).ok(e.t).stdout)
}

func (e *engineEnv) status(ref string) string {
	e.t.Helper()
	var insp []struct{ State struct{ Status string } }
	if err := json.Unmarshal([]byte(e.pcr("inspect", ref).ok(e.t).stdout), &insp); err != nil || len(insp) != 1 {
		e.t.Fatalf("inspect %s: %v", ref, err)
	}
	return insp[0].State.Status
}

// TestEngineExecStopKillRestartRm: the verbs on a running container, and
// the refusals on a stopped one or without -f.
func TestEngineExecStopKillRestartRm(t *testing.T) {
	e := newEngineEnv(t)
	e.importBusybox()
	id := e.runningBusybox("--name", "svc")
	if out := e.pcr("exec", "svc", "sh", "-c", "echo $HOSTNAME; cat /proc/1/cmdline | tr '\\0' ' '").ok(t).stdout; out != id[:12]+"\nsleep 60 " {
		t.Fatalf("exec output %q", out)
	}
	if r := e.pcr("exec", "svc", "sh", "-c", "exit 5"); r.code != 5 {
		t.Fatalf("exec exit status %d, want 5", r.code)
	}
	if r := e.pcr("exec", "svc", "nope"); r.code != 127 {
		t.Fatalf("exec of a missing command: exit %d, want 127", r.code)
	}
	e.pcr("rm", "svc").fails(t, "running")
	if s := e.status("svc"); s != "running" {
		t.Fatalf("after refused rm: %s", s)
	}
	// sleep as PID 1 ignores SIGTERM: stop falls back to SIGKILL after -t
	start := time.Now()
	e.pcr("stop", "-t", "1", "svc").ok(t)
	if d := time.Since(start); d > 8*time.Second {
		t.Fatalf("stop -t 1 took %v", d)
	}
	if s := e.status("svc"); s != "exited" {
		t.Fatalf("after stop: %s", s)
	}
	e.pcr("exec", "svc", "true").fails(t, "not running")
	e.pcr("kill", "svc").fails(t, "not running")
	e.pcr("restart", "svc").ok(t)
	if s := e.status("svc"); s != "running" {
		t.Fatalf("after restart: %s", s)
	}
	// PID 1 of a pid namespace ignores signals it has no handler for,
	// except SIGKILL: as in Docker, kill -s USR1 would not end sleep.
	e.pcr("kill", "-s", "KILL", "svc").ok(t)
	if code := strings.TrimSpace(e.pcr("wait", "svc").ok(t).stdout); code != "137" {
		t.Fatalf("wait after SIGKILL: %s, want 137", code)
	}
	e.pcr("start", "svc").ok(t)
	e.pcr("rm", "-f", "svc").ok(t)
	if ids := e.containerIDs(); len(ids) != 0 {
		t.Fatalf("rm -f left %v", ids)
	}
	e.pcr("rm", "svc").fails(t, "no such container")
}

// TestEngineInit: --init makes /dev/init PID 1, which forwards stop's
// SIGTERM to the command and reaps orphans.
func TestEngineInit(t *testing.T) {
	e := newEngineEnv(t)
	e.importBusybox()
	e.runningBusybox("--init", "--name", "ini")
	if out := e.pcr("exec", "ini", "cat", "/proc/1/cmdline").ok(t).stdout; !strings.HasPrefix(out, "/dev/init\x00") {
		t.Fatalf("PID 1 is %q, want /dev/init", out)
	}
	// an orphan: its parent exits, init must reap it when it dies
	e.pcr("exec", "ini", "sh", "-c", "sh -c 'sleep 0.2 &' ; true").ok(t)
	time.Sleep(600 * time.Millisecond)
	if out := e.pcr("exec", "ini", "sh", "-c", "grep -l '^State:.*Z' /proc/[0-9]*/status || true").ok(t).stdout; strings.TrimSpace(out) != "" {
		t.Fatalf("zombies left: %s", out)
	}
	start := time.Now()
	e.pcr("stop", "ini").ok(t) // -t 10: only a forwarded SIGTERM makes this quick
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("stop with --init took %v: SIGTERM not forwarded", d)
	}
	if code := strings.TrimSpace(e.pcr("wait", "ini").ok(t).stdout); code != "143" {
		t.Fatalf("exit code %s, want 143 (SIGTERM)", code)
	}
}

// TestEngineNameInUse: a second container with a taken name is refused
// and nothing changes.
func TestEngineNameInUse(t *testing.T) {
	e := newEngineEnv(t)
	e.importBusybox()
	id := strings.TrimSpace(e.pcr("create", "--name", "taken", "busybox", "true").ok(t).stdout)
	before := e.pcr("ps", "-a", "-q", "--no-trunc").ok(t).stdout
	e.pcr("create", "--name", "taken", "busybox", "true").fails(t, "already in use")
	e.pcr("run", "--rm", "--name", "taken", "busybox", "true").fails(t, "already in use")
	if after := e.pcr("ps", "-a", "-q", "--no-trunc").ok(t).stdout; after != before || strings.TrimSpace(after) != id {
		t.Fatalf("containers changed: before %q after %q", before, after)
	}
	// the created container still runs
	if r := e.pcr("start", "-a", "taken").ok(t); r.code != 0 {
		t.Fatal(r.stderr)
	}
	// racing creates of one name: exactly one wins
	var wg sync.WaitGroup
	codes := make([]int, 6)
	for i := range codes {
		wg.Add(1)
		go func() { defer wg.Done(); codes[i] = e.pcr("create", "--name", "race", "busybox", "true").code }()
	}
	wg.Wait()
	wins := 0
	for _, c := range codes {
		if c == 0 {
			wins++
		}
	}
	if wins != 1 {
		t.Fatalf("%d of %d racing creates of one name succeeded (%v)", wins, len(codes), codes)
	}
}

// TestEngineBadFlags: a clear one-line error, exit 125, nothing made.
func TestEngineBadFlags(t *testing.T) {
	e := newEngineEnv(t)
	e.importBusybox()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-m", "12zb"}, "12zb"},
		{[]string{"--cpus", "-1"}, "--cpus"},
		{[]string{"--cpus", "lots"}, "--cpus"},
		{[]string{"--memory-swap", "1m", "-m", "64m"}, "memory-swap"},
		{[]string{"--name", "bad/name"}, "invalid container name"},
		{[]string{"-v", "relative:/x"}, "absolute"},
		{[]string{"--cap-add", "NOT_A_CAP"}, "unknown capability"},
		{[]string{"--net", "bad/net"}, "bad/net"},
		{[]string{"-u", "nobody-here"}, "unable to find user"},
	} {
		args := append(append([]string{"run", "--rm"}, c.args...), "busybox", "true")
		r := e.pcr(args...).fails(t, c.want)
		if r.code != 125 {
			t.Errorf("pcr %s: exit %d, want 125", strings.Join(args, " "), r.code)
		}
	}
	if ids := e.containerIDs(); len(ids) != 0 {
		t.Fatalf("bad flags left containers: %v", ids)
	}
}

// TestEngineMounts: -v (rw and ro), --read-only and --tmpfs as seen from
// inside.
func TestEngineMounts(t *testing.T) {
	e := newEngineEnv(t)
	e.importBusybox()
	host := filepath.Join(e.dir, "shared")
	os.Mkdir(host, 0o755)
	os.WriteFile(filepath.Join(host, "in"), []byte("from host\n"), 0o644)
	script := `cat /data/in; echo rw > /rw/out; ! touch /data/x 2>/dev/null && echo data-ro;
		! touch /root-file 2>/dev/null && echo root-ro; echo t > /scratch/t && grep -q ' /scratch tmpfs' /proc/mounts && echo tmpfs-ok`
	out := e.pcr("run", "--rm", "-v", host+":/data:ro", "-v", host+":/rw", "--read-only", "--tmpfs", "/scratch",
		"busybox", "sh", "-c", script).ok(t).stdout
	if out != "from host\ndata-ro\nroot-ro\ntmpfs-ok\n" {
		t.Fatalf("output %q", out)
	}
	if b, err := os.ReadFile(filepath.Join(host, "out")); err != nil || string(b) != "rw\n" {
		t.Fatalf("rw bind: %q %v", b, err)
	}
}

// TestEngineProcessFlags: -e, --env-file, -w, -u, --hostname and
// --entrypoint as seen from inside; Docker's default capabilities.
func TestEngineProcessFlags(t *testing.T) {
	e := newEngineEnv(t)
	e.importBusybox()
	envFile := filepath.Join(e.dir, "env")
	os.WriteFile(envFile, []byte("# comment\nFROM_FILE=yes\n"), 0o644)
	out := e.pcr("run", "--rm", "-e", "A=1,2", "--env-file", envFile, "-w", "/made/here", "-u", "1000:1000", "--hostname", "box",
		"busybox", "sh", "-c", `echo $A $FROM_FILE; pwd; id -u; id -g; hostname; cat /etc/hostname; grep CapEff /proc/self/status`).ok(t).stdout
	want := "1,2 yes\n/made/here\n1000\n1000\nbox\nbox\nCapEff:\t0000000000000000\n"
	if out != want {
		t.Fatalf("output\n%q\nwant\n%q", out, want)
	}
	out = e.pcr("run", "--rm", "busybox", "sh", "-c", "grep CapBnd /proc/self/status; cat /proc/self/status | grep -E '^(NoNewPrivs|Seccomp):'").ok(t).stdout
	// CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP
	if !strings.Contains(out, "CapBnd:\t00000000a80425fb") || !strings.Contains(out, "NoNewPrivs:\t0") || !strings.Contains(out, "Seccomp:\t2") {
		t.Fatalf("default security: %q", out)
	}
	if out := e.pcr("run", "--rm", "--entrypoint", "echo", "busybox", "via", "entrypoint").ok(t).stdout; out != "via entrypoint\n" {
		t.Fatalf("--entrypoint: %q", out)
	}
	if out := e.pcr("run", "--rm", "--security-opt", "no-new-privileges", "--cap-drop", "ALL", "busybox", "grep", "-E", "^(NoNewPrivs|CapBnd)", "/proc/self/status").ok(t).stdout; out != "CapBnd:\t0000000000000000\nNoNewPrivs:\t1\n" {
		t.Fatalf("no-new-privileges, cap-drop ALL: %q", out)
	}
	// a blocked syscall fails with EPERM; unconfined lifts it
	if r := e.pcr("run", "--rm", "--cap-add", "SYS_ADMIN", "--security-opt", "seccomp=unconfined", "busybox", "sh", "-c", "grep Seccomp: /proc/self/status"); !strings.Contains(r.stdout, "Seccomp:\t0") {
		t.Fatalf("seccomp=unconfined: %q %q", r.stdout, r.stderr)
	}
	limits := `for f in memory/memory.limit_in_bytes memory.max; do test -f /sys/fs/cgroup/$f && cat /sys/fs/cgroup/$f; done;
		for f in pids/pids.max pids.max; do test -f /sys/fs/cgroup/$f && cat /sys/fs/cgroup/$f; done; true`
	if out := e.pcr("run", "--rm", "-m", "64m", "--pids-limit", "50", "--cpus", "0.5", "busybox", "sh", "-c", limits).ok(t).stdout; out != "67108864\n50\n" {
		t.Fatalf("limits seen in the container's cgroup: %q", out)
	}
	if out := e.pcr("run", "--rm", "busybox", "sh", "-c", "ip addr show lo | grep -c 'inet 127.0.0.1'; cat /etc/hosts | grep -c localhost").ok(t).stdout; out != "1\n2\n" {
		t.Fatalf("--net none loopback and /etc/hosts: %q", out)
	}
}

// TestEngineIsolation: a file written in one container is seen neither in
// another nor in the image.
func TestEngineIsolation(t *testing.T) {
	e := newEngineEnv(t)
	e.importBusybox()
	e.pcr("run", "--name", "writer", "busybox", "sh", "-c", "echo secret > /etc/written; rm /bin/ls").ok(t)
	if out := e.pcr("run", "--rm", "busybox", "sh", "-c", "test -e /etc/written && echo seen; test -e /bin/ls && echo ls-there").ok(t).stdout; out != "ls-there\n" {
		t.Fatalf("second container sees the first's changes: %q", out)
	}
	// the writer's change is in its own upper dir, not in any layer
	var insp []struct {
		GraphDriver struct{ Data map[string]string }
	}
	json.Unmarshal([]byte(e.pcr("inspect", "writer").ok(t).stdout), &insp)
	data := insp[0].GraphDriver.Data
	if b, err := os.ReadFile(filepath.Join(data["UpperDir"], "etc", "written")); err != nil || string(b) != "secret\n" {
		t.Fatalf("upper dir lacks the file: %v", err)
	}
	for _, l := range strings.Split(data["LowerDir"], ":") {
		if _, err := os.Stat(filepath.Join(l, "etc", "written")); err == nil {
			t.Fatalf("the image layer %s got the file", l)
		}
		if _, err := os.Stat(filepath.Join(l, "bin", "ls")); err != nil {
			t.Fatalf("the image layer %s lost /bin/ls: %v", l, err)
		}
	}
	// restarting the writer keeps its own changes
	if out := e.pcr("start", "-a", "writer").stdout; out != "" {
		t.Fatalf("start -a: %q", out)
	}
}

// TestEngineInteractiveTerminal: -it is a real terminal: a prompt, PID 1,
// the window size, Ctrl-C reaching the container, the exit code.
func TestEngineInteractiveTerminal(t *testing.T) {
	e := newEngineEnv(t)
	e.importBusybox()
	cmd := e.command("run", "-it", "--rm", "busybox", "sh")
	f, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 37, Cols: 111})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := &lockedBuffer{}
	go io.Copy(out, f)
	expect := func(what string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(out.String(), what) {
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				t.Fatalf("no %q on the terminal; got %q", what, out.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	expect("# ")
	fmt.Fprint(f, "echo pid=$$; stty size\r")
	expect("pid=1")
	expect("37 111")
	fmt.Fprint(f, "sleep 30; echo after-sleep\r")
	time.Sleep(300 * time.Millisecond)
	f.Write([]byte{3}) // Ctrl-C
	fmt.Fprint(f, "echo back-$((20+22))\r")
	expect("back-42")
	if strings.Contains(out.String(), "\nafter-sleep") {
		t.Fatalf("Ctrl-C did not interrupt sleep: %q", out.String())
	}
	fmt.Fprint(f, "exit 7\r")
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if cmd.ProcessState.ExitCode() != 7 {
			t.Fatalf("exit %v (%d), want 7; output %q", err, cmd.ProcessState.ExitCode(), out.String())
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatal("pcr run -it did not exit")
	}
}

// TestEngineExecTerminal: exec -it gets its own terminal and exit code.
func TestEngineExecTerminal(t *testing.T) {
	e := newEngineEnv(t)
	e.importBusybox()
	e.runningBusybox("--name", "host")
	// stty size at once: the pty must be sized before the command starts.
	cmd := e.command("exec", "-it", "host", "sh", "-c", "tty; stty size; exit 3")
	f, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 20, Cols: 70})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := &lockedBuffer{}
	copied := make(chan struct{})
	go func() { io.Copy(out, f); close(copied) }()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("exec -it did not exit; output %q", out.String())
	}
	select {
	case <-copied:
	case <-time.After(2 * time.Second):
	}
	if code := cmd.ProcessState.ExitCode(); code != 3 || !strings.Contains(out.String(), "/dev/pts/") || !strings.Contains(out.String(), "20 70") {
		t.Fatalf("exec -it: exit %d, output %q", code, out.String())
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestEngineParallelRuns: 20 `run --rm` at once all succeed and leave
// nothing (the cleanup checks mounts, dirs, state, cgroups).
func TestEngineParallelRuns(t *testing.T) {
	e := newEngineEnv(t)
	e.importBusybox()
	var wg sync.WaitGroup
	results := make([]result, 20)
	for i := range results {
		wg.Add(1)
		go func() { defer wg.Done(); results[i] = e.pcr("run", "--rm", "busybox", "true") }()
	}
	wg.Wait()
	for _, r := range results {
		r.ok(t)
	}
	if ids := e.containerIDs(); len(ids) != 0 {
		t.Fatalf("left: %v", ids)
	}
}

// TestEngineKilledRun: SIGKILL of `pcr run` at random points; ps -a still
// works and rm -f undoes whatever was half made.
func TestEngineKilledRun(t *testing.T) {
	e := newEngineEnv(t)
	e.importBusybox()
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	for i := 0; i < 8; i++ {
		args := []string{"run", "busybox", "sleep", "0.2"}
		if i%2 == 1 {
			args = []string{"run", "-d", "--rm", "busybox", "sleep", "0.2"}
		}
		cmd := e.command(args...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		delay := time.Duration(rng.Intn(250)) * time.Millisecond
		time.Sleep(delay)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
	}
	// A detached --rm run may remove itself while ps runs: ps must list
	// every container there before and after it, and only those there
	// before.
	before := e.containerIDs()
	ps := e.pcr("ps", "-a", "-q", "--no-trunc").ok(t)
	after := e.containerIDs()
	sc := bufio.NewScanner(strings.NewReader(ps.stdout))
	var ids []string
	for sc.Scan() {
		ids = append(ids, sc.Text())
	}
	for _, id := range ids {
		if !slices.Contains(before, id) {
			t.Errorf("ps -a lists %s, which was not in the root", id)
		}
	}
	for _, id := range after {
		if slices.Contains(before, id) && !slices.Contains(ids, id) {
			t.Errorf("ps -a does not list %s (listed: %v)", id, ids)
		}
	}
	for _, id := range ids {
		// a detached --rm run goes on after its starter was killed, and
		// may remove itself meanwhile
		if r := e.pcr("rm", "-f", id); r.code != 0 && !strings.Contains(r.stderr, "no such container") {
			r.ok(t)
		}
	}
	// the leak check in cleanup asserts the rest
}
