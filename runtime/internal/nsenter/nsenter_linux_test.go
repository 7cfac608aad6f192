//go:build linux && cgo

package nsenter

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// helperEnv turns the test binary into the process under test: it reports
// what it sees from inside the namespaces the constructor put it in.
const (
	helperEnv = "_PCR_NSENTER_TEST_HELPER"
	markerEnv = "_PCR_NSENTER_TEST_MARKER"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(runHelper(mode))
	}
	os.Exit(m.Run())
}

type report struct {
	Pid    int
	PidNS  string
	MntNS  string
	UserNS string
	UIDMap string
	Marker bool
	Uptime float64
	Leaked []string // _PCR_NSENTER/_PCR_UNSHARE still visible to Go or in /proc/self/environ
	SyncFD string
}

func runHelper(mode string) int {
	r := report{Pid: os.Getpid(), SyncFD: os.Getenv(SyncFDEnv)}
	r.PidNS, _ = os.Readlink("/proc/self/ns/pid")
	r.MntNS, _ = os.Readlink("/proc/self/ns/mnt")
	r.UserNS, _ = os.Readlink("/proc/self/ns/user")
	uidMap, _ := os.ReadFile("/proc/self/uid_map")
	r.UIDMap = string(uidMap)
	if m := os.Getenv(markerEnv); m != "" {
		_, err := os.Stat(m)
		r.Marker = err == nil
	}
	if up, err := os.ReadFile("/proc/uptime"); err == nil {
		r.Uptime, _ = strconv.ParseFloat(strings.Fields(string(up))[0], 64)
	}
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, NsenterEnv+"=") || strings.HasPrefix(kv, UnshareEnv+"=") {
			r.Leaked = append(r.Leaked, "os.Environ: "+kv)
		}
	}
	if raw, err := os.ReadFile("/proc/self/environ"); err == nil {
		for _, kv := range bytes.Split(raw, []byte{0}) {
			if bytes.HasPrefix(kv, []byte(NsenterEnv+"=")) || bytes.HasPrefix(kv, []byte(UnshareEnv+"=")) {
				r.Leaked = append(r.Leaked, "/proc/self/environ: "+string(kv))
			}
		}
	}
	if err := json.NewEncoder(os.Stdout).Encode(r); err != nil {
		return 2
	}
	switch mode {
	case "wait": // hold still until the test closes stdin
		_, _ = io.Copy(io.Discard, os.Stdin)
	case "exit7":
		return 7
	}
	return 0
}

func requireRoot(t *testing.T) {
	t.Helper()
	missing := ""
	if os.Geteuid() != 0 {
		missing = "root"
	} else if _, err := exec.LookPath("unshare"); err != nil {
		missing = "unshare(1) from util-linux"
	}
	if missing == "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("needs %s", missing)
	}
	t.Skipf("needs %s", missing)
}

// readLine returns one line from r, failing the test after a timeout so a
// hung child cannot hang the suite.
func readLine(t *testing.T, r *bufio.Reader, what string) string {
	t.Helper()
	type result struct {
		line string
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		line, err := r.ReadString('\n')
		ch <- result{line, err}
	}()
	select {
	case res := <-ch:
		if res.err != nil {
			t.Fatalf("read %s: got %q: %v", what, res.line, res.err)
		}
		return res.line
	case <-time.After(20 * time.Second):
		t.Fatalf("read %s: timed out", what)
		return ""
	}
}

// startHolder runs unshare(1) with args, then script in the new namespaces,
// and returns the pid of the unshare process once the script printed ready.
// Cleanup kills the holder and any child it forked, by pid.
func startHolder(t *testing.T, args []string, script string, scriptArgs ...string) int {
	t.Helper()
	return startHolderAs(t, nil, args, script, scriptArgs...)
}

func startHolderAs(t *testing.T, cred *syscall.Credential, args []string, script string, scriptArgs ...string) int {
	t.Helper()
	argv := append(append(args, "sh", "-c", script+" && echo ready && exec sleep 60", "sh"), scriptArgs...)
	cmd := exec.Command("unshare", argv...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start holder unshare %v: %v", args, err)
	}
	pid := cmd.Process.Pid
	t.Cleanup(func() {
		children, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
		_ = cmd.Process.Kill()
		for _, c := range strings.Fields(string(children)) {
			if cpid, err := strconv.Atoi(c); err == nil {
				_ = unix.Kill(cpid, unix.SIGKILL)
			}
		}
		_ = cmd.Wait()
	})
	if line := readLine(t, bufio.NewReader(out), "holder readiness"); line != "ready\n" {
		t.Fatalf("holder unshare %v printed %q, want ready", args, line)
	}
	return pid
}

type helper struct {
	cmd    *exec.Cmd
	sync   *bufio.Reader
	stdout *bufio.Reader
	stdin  io.WriteCloser
	stderr bytes.Buffer
}

// startHelper re-execs this test binary with env; its sync fd is 3.
func startHelper(t *testing.T, mode string, env ...string) *helper {
	t.Helper()
	return startHelperAs(t, os.Args[0], nil, mode, env...)
}

func startHelperAs(t *testing.T, binary string, cred *syscall.Credential, mode string, env ...string) *helper {
	t.Helper()
	syncR, syncW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	h := &helper{cmd: exec.Command(binary)}
	h.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	h.cmd.Env = append(append(os.Environ(), helperEnv+"="+mode, SyncFDEnv+"=3"), env...)
	h.cmd.ExtraFiles = []*os.File{syncW}
	h.cmd.Stderr = &h.stderr
	stdout, err := h.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if h.stdin, err = h.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	syncW.Close()
	t.Cleanup(func() {
		syncR.Close()
		if h.cmd.ProcessState == nil {
			_ = h.cmd.Process.Kill()
			_ = h.cmd.Wait()
		}
	})
	h.sync = bufio.NewReader(syncR)
	h.stdout = bufio.NewReader(stdout)
	return h
}

func (h *helper) report(t *testing.T) report {
	t.Helper()
	var r report
	line := readLine(t, h.stdout, "helper report")
	if err := json.Unmarshal([]byte(line), &r); err != nil {
		t.Fatalf("helper report %q: %v (stderr: %s)", line, err, h.stderr.String())
	}
	if len(r.Leaked) > 0 {
		t.Errorf("constructor left its variables behind: %q", r.Leaked)
	}
	if r.SyncFD != "3" {
		t.Errorf("helper sees %s=%q, want 3 kept for the Go side", SyncFDEnv, r.SyncFD)
	}
	return r
}

// wait waits for the helper and returns everything left on the sync fd.
func (h *helper) wait(t *testing.T) (*os.ProcessState, string) {
	t.Helper()
	h.stdin.Close()
	rest, _ := io.ReadAll(h.sync) // EOF once the helper and any fork of it exit
	err := h.cmd.Wait()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatal(err)
	}
	return h.cmd.ProcessState, string(rest)
}

func nsLink(t *testing.T, path string) string {
	t.Helper()
	link, err := os.Readlink(path)
	if err != nil {
		t.Fatal(err)
	}
	return link
}

func TestNoEnvNoEffect(t *testing.T) {
	h := startHelper(t, "report")
	r := h.report(t)
	if r.Pid != h.cmd.Process.Pid {
		t.Errorf("helper runs as pid %d, want %d: the constructor forked without being asked", r.Pid, h.cmd.Process.Pid)
	}
	if own := nsLink(t, "/proc/self/ns/mnt"); r.MntNS != own {
		t.Errorf("helper mount ns %s, want ours %s", r.MntNS, own)
	}
	if st, rest := h.wait(t); st.ExitCode() != 0 || rest != "" {
		t.Errorf("helper exit %v, sync fd got %q; want 0 and nothing", st, rest)
	}
}

func TestJoinMountNamespace(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	marker := filepath.Join(dir, "marker")
	holder := startHolder(t, []string{"--mount", "--propagation", "private"},
		`mount -t tmpfs pcr-nsenter-test "$1" && touch "$1/marker"`, dir)
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Fatalf("the test's own mount ns sees %s (err %v): the holder's tmpfs leaked to the host", marker, err)
	}
	t.Cleanup(func() { assertNotMounted(t, dir) })

	h := startHelper(t, "report", NsenterEnv+"=mnt:/proc/"+strconv.Itoa(holder)+"/ns/mnt", markerEnv+"="+marker)
	r := h.report(t)
	if !r.Marker {
		t.Errorf("helper does not see %s inside the holder's mount namespace", marker)
	}
	if want := nsLink(t, fmt.Sprintf("/proc/%d/ns/mnt", holder)); r.MntNS != want {
		t.Errorf("helper mount ns %s, want the holder's %s", r.MntNS, want)
	}
	if st, rest := h.wait(t); st.ExitCode() != 0 || rest != "" {
		t.Errorf("helper exit %v, sync fd got %q; want 0 and nothing", st, rest)
	}
}

// assertNotMounted checks the test's mount namespace, which never had the
// holder's tmpfs: private propagation must have kept it inside.
func assertNotMounted(t *testing.T, dir string) {
	t.Helper()
	info, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(info), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == dir {
			t.Errorf("host mountinfo has a mount at %s: %s", dir, line)
		}
	}
}

func TestJoinUserNamespace(t *testing.T) {
	requireRoot(t)
	holder := startHolder(t, []string{"--user", "--map-root-user"}, "true")
	want, err := os.ReadFile(fmt.Sprintf("/proc/%d/uid_map", holder))
	if err != nil {
		t.Fatal(err)
	}
	if own, _ := os.ReadFile("/proc/self/uid_map"); bytes.Equal(own, want) {
		t.Fatalf("holder uid_map %q equals ours: the test could not tell the namespaces apart", want)
	}
	h := startHelper(t, "report", NsenterEnv+"=user:/proc/"+strconv.Itoa(holder)+"/ns/user")
	r := h.report(t)
	if r.UIDMap != string(want) {
		t.Errorf("helper uid_map %q, want the holder's %q", r.UIDMap, want)
	}
	if st, rest := h.wait(t); st.ExitCode() != 0 || rest != "" {
		t.Errorf("helper exit %v, sync fd got %q; want 0 and nothing", st, rest)
	}
}

// Unprivileged, a process may join a user namespace it owns, and a mount
// namespace only from inside that user namespace: this passes only if user is
// joined first even when listed last. (Root may join in any order.)
func TestJoinUserBeforeMountRootless(t *testing.T) {
	requireRoot(t) // to create the unprivileged user and clean up
	nobody := &syscall.Credential{Uid: 65534, Gid: 65534}
	dir, err := os.MkdirTemp("", "pcr-nsenter-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	mnt := filepath.Join(dir, "mnt")
	binary := filepath.Join(dir, "nsenter.test")
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	// The test binary's own directory is private to root.
	if err := copyFile(os.Args[0], binary); err != nil {
		t.Fatal(err)
	}

	holder := startHolderAs(t, nobody, []string{"--user", "--map-root-user", "--mount"},
		`mount -t tmpfs pcr-nsenter-test "$1" && touch "$1/marker"`, mnt)
	ns := "/proc/" + strconv.Itoa(holder) + "/ns/"
	h := startHelperAs(t, binary, nobody, "report", NsenterEnv+"=mnt:"+ns+"mnt,user:"+ns+"user", markerEnv+"="+filepath.Join(mnt, "marker"))
	out, _ := io.ReadAll(h.stdout)
	if st, rest := h.wait(t); st.ExitCode() != 0 || rest != "" {
		t.Fatalf("helper exit %v, sync fd got %q; want 0 and nothing", st, rest)
	}
	var r report
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("helper report %q: %v", out, err)
	}
	if !r.Marker || r.UserNS != nsLink(t, ns+"user") || r.MntNS != nsLink(t, ns+"mnt") {
		t.Errorf("helper marker=%v user ns %s mnt ns %s; want the holder's marker, %s and %s",
			r.Marker, r.UserNS, r.MntNS, nsLink(t, ns+"user"), nsLink(t, ns+"mnt"))
	}
	assertNotMounted(t, mnt)
}

func copyFile(from, to string) error {
	data, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, data, 0o755)
}

func readPidMessage(t *testing.T, h *helper) int {
	t.Helper()
	m, err := ParseMessage([]byte(readLine(t, h.sync, "pid message")))
	if err != nil || m.Type != "pid" {
		t.Fatalf("first sync message = %+v, %v; want a pid", m, err)
	}
	return m.Pid
}

// nsPids returns the NSpid line of /proc/pid/status: the pid in each
// namespace from the caller's down to the process's own.
func nsPids(t *testing.T, pid int) []string {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "NSpid:"); ok {
			return strings.Fields(rest)
		}
	}
	t.Fatalf("/proc/%d/status has no NSpid", pid)
	return nil
}

func TestJoinPIDNamespace(t *testing.T) {
	requireRoot(t)
	holder := startHolder(t, []string{"--pid", "--fork", "--kill-child"}, "true")
	target := nsLink(t, fmt.Sprintf("/proc/%d/ns/pid_for_children", holder))

	h := startHelper(t, "wait", NsenterEnv+"=pid:/proc/"+strconv.Itoa(holder)+"/ns/pid_for_children")
	pid := readPidMessage(t, h)
	r := h.report(t)
	if r.PidNS != target {
		t.Errorf("helper pid ns %s, want the holder's %s", r.PidNS, target)
	}
	if pid == h.cmd.Process.Pid {
		t.Errorf("pid message names the waiting parent %d, want its child", pid)
	}
	// While the helper waits on stdin, the reported pid must be the same
	// process seen from outside and inside.
	if ids := nsPids(t, pid); len(ids) != 2 || ids[1] != strconv.Itoa(r.Pid) {
		t.Errorf("NSpid of reported pid %d = %v, want [%d %d]", pid, ids, pid, r.Pid)
	}
	if st, rest := h.wait(t); st.ExitCode() != 0 || rest != "" {
		t.Errorf("helper exit %v, sync fd after the pid line %q; want 0 and nothing", st, rest)
	}
}

func TestPIDForkPassesStatusAndSignals(t *testing.T) {
	requireRoot(t)
	holder := startHolder(t, []string{"--pid", "--fork", "--kill-child"}, "true")
	join := NsenterEnv + "=pid:/proc/" + strconv.Itoa(holder) + "/ns/pid_for_children"

	h := startHelper(t, "exit7", join)
	readPidMessage(t, h)
	h.report(t)
	if st, _ := h.wait(t); st.ExitCode() != 7 {
		t.Errorf("waiting parent exited %v, want the child's status 7", st)
	}

	h = startHelper(t, "wait", join)
	pid := readPidMessage(t, h)
	h.report(t) // Go runs in the child: its default SIGTERM action applies
	if err := h.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := h.cmd.Wait()
	ws, _ := h.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
		t.Errorf("waiting parent ended with %v, want killed by the forwarded SIGTERM", err)
	}
	if err := unix.Kill(pid, 0); !errors.Is(err, unix.ESRCH) {
		t.Errorf("child %d still exists after the parent ended (kill 0: %v)", pid, err)
	}
}

func TestUnsharePIDForks(t *testing.T) {
	requireRoot(t)
	h := startHelper(t, "report", UnshareEnv+"="+strconv.Itoa(unix.CLONE_NEWPID|unix.CLONE_NEWNS))
	readPidMessage(t, h)
	r := h.report(t)
	if r.Pid != 1 {
		t.Errorf("helper pid %d after unshare(CLONE_NEWPID), want 1", r.Pid)
	}
	if r.MntNS == nsLink(t, "/proc/self/ns/mnt") {
		t.Errorf("helper still in our mount namespace %s after unshare(CLONE_NEWNS)", r.MntNS)
	}
	if st, rest := h.wait(t); st.ExitCode() != 0 || rest != "" {
		t.Errorf("helper exit %v, sync fd after the pid line %q; want 0 and nothing", st, rest)
	}
}

// A joined time namespace applies to the caller at once: no fork.
func TestJoinTimeNamespace(t *testing.T) {
	requireRoot(t)
	if _, err := os.Stat("/proc/self/ns/time"); err != nil {
		t.Skip("kernel without time namespaces")
	}
	const offset = 10 * 365 * 86400
	holder := startHolder(t, []string{"--time", "--fork", "--kill-child", "--boottime", strconv.Itoa(offset)}, "true")
	h := startHelper(t, "report", NsenterEnv+"=time:/proc/"+strconv.Itoa(holder)+"/ns/time_for_children")
	r := h.report(t)
	if r.Uptime < offset {
		t.Errorf("helper uptime %.0fs, want at least the holder's boottime offset %d", r.Uptime, offset)
	}
	if r.Pid != h.cmd.Process.Pid {
		t.Errorf("helper pid %d, want %d: joining a time namespace needs no fork", r.Pid, h.cmd.Process.Pid)
	}
	if st, rest := h.wait(t); st.ExitCode() != 0 || rest != "" {
		t.Errorf("helper exit %v, sync fd got %q; want 0 and nothing", st, rest)
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name, env, want string
		root            bool
	}{
		{"missing path", NsenterEnv + "=mnt:/nonexistent/pcr-ns",
			"nsenter: open mnt /nonexistent/pcr-ns: No such file or directory", false},
		{"quotes and backslashes", NsenterEnv + `=net:/nonexistent/a"b\c` + "\x01",
			`nsenter: open net /nonexistent/a"b\c` + "\x01" + ": No such file or directory", false},
		{"unknown type", NsenterEnv + "=mount:/proc/self/ns/mnt", `nsenter: unknown namespace type "mount"`, false},
		{"no colon", NsenterEnv + "=mnt", `nsenter: bad entry "mnt" (want TYPE:PATH)`, false},
		{"duplicate", NsenterEnv + "=net:/a,net:/b", "nsenter: namespace type net given twice", false},
		{"new user ns", UnshareEnv + "=" + strconv.Itoa(unix.CLONE_NEWUSER),
			"nsenter: unshare: user namespaces must be created by the parent", false},
		{"wrong namespace type", NsenterEnv + "=net:/proc/self/ns/uts",
			"nsenter: setns net /proc/self/ns/uts: Invalid argument", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.root {
				requireRoot(t)
			}
			h := startHelper(t, "report", tc.env)
			out, _ := io.ReadAll(h.stdout)
			st, rest := h.wait(t)
			if st.ExitCode() != 1 {
				t.Errorf("exit %v, want 1", st)
			}
			m, err := ParseMessage([]byte(rest))
			if err != nil || m.Type != "error" || m.Error != tc.want {
				t.Errorf("sync fd got %q (%+v, %v), want error %q", rest, m, err, tc.want)
			}
			if !strings.HasSuffix(rest, "}\n") || strings.Count(rest, "\n") != 1 {
				t.Errorf("sync fd got %q, want exactly one JSON line", rest)
			}
			if len(out) > 0 || h.stderr.Len() > 0 {
				t.Errorf("the Go side ran: stdout %q stderr %q", out, h.stderr.String())
			}
		})
	}
}

func TestErrorWithoutSyncFD(t *testing.T) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), helperEnv+"=report", NsenterEnv+"=mnt:/nonexistent/pcr-ns")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 1 {
		t.Errorf("exit %v, want 1", err)
	}
	if want := "nsenter: open mnt /nonexistent/pcr-ns: No such file or directory\n"; stderr.String() != want || stdout.Len() > 0 {
		t.Errorf("stderr %q stdout %q, want stderr %q and no report", stderr.String(), stdout.String(), want)
	}
}
