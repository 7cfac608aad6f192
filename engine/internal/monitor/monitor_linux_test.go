//go:build linux && cgo

package monitor

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// testEnv turns this test binary into the start helper and the cleanup
// command: the monitor runs /proc/self/exe, which is this binary.
const testEnv = "_PCR_MONTEST_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(testEnv) == "1" && len(os.Args) > 1 {
		os.Exit(runHelper(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// runHelper plays the engine's start helper (start, start-exited, pty, fail,
// crash) or its cleanup command (cleanup).
func runHelper(args []string) int {
	switch args[0] {
	case "start", "start-exited", "start-reaped":
		cmd := exec.Command("sh", append([]string{"-c", args[1], "sh"}, args[2:]...)...)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Start(); err != nil {
			ReportFailed(err)
			return 1
		}
		if args[0] == "start-exited" {
			// Report only once the init has exited: the monitor must then
			// reap it as a zombie handed over with the helper's exit.
			var info unix.Siginfo
			if err := unix.Waitid(unix.P_PID, cmd.Process.Pid, &info, unix.WEXITED|unix.WNOWAIT, nil); err != nil {
				ReportFailed(err)
				return 1
			}
		}
		if args[0] == "start-reaped" {
			_ = cmd.Wait() // a helper that must not: the status is lost to the monitor
		}
		if err := ReportStarted(cmd.Process.Pid, nil); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return 0
	case "pty":
		master, slave, err := pty.Open()
		if err != nil {
			ReportFailed(err)
			return 1
		}
		cmd := exec.Command("sh", "-c", args[1])
		cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
		if err := cmd.Start(); err != nil {
			ReportFailed(err)
			return 1
		}
		slave.Close()
		if err := ReportStarted(cmd.Process.Pid, master); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return 0
	case "fail":
		ReportFailed(errors.New(args[1] + "\nsecond line is dropped"))
		return 1
	case "crash":
		fmt.Fprintln(os.Stderr, "helper crashed")
		return 3
	case "cleanup":
		var leaked []string
		for _, kv := range os.Environ() {
			if strings.HasPrefix(kv, "_PCR_MONITOR") {
				leaked = append(leaked, kv)
			}
		}
		fds, _ := os.ReadDir("/proc/self/fd")
		msg := fmt.Sprintf("args=%q leaked=%q fds=%d\n", args[1:], leaked, len(fds))
		// Atomic: the test polls for the file.
		marker := filepath.Join(args[1], "cleanup-ran")
		if os.WriteFile(marker+".tmp", []byte(msg), 0o644) != nil || os.Rename(marker+".tmp", marker) != nil {
			return 1
		}
		return 0
	}
	return 2
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("needs root")
	}
	t.Skip("needs root")
}

func options(t *testing.T, mode string, args ...string) Options {
	dir := t.TempDir()
	return Options{
		Dir:         dir,
		StartArgs:   append([]string{"helper", mode}, args...),
		CleanupArgs: []string{"cleanup", "cleanup", dir},
		Env:         append(os.Environ(), testEnv+"=1"),
	}
}

// waitExit polls for the exit record the monitor writes once the init is
// reaped, then for the cleanup command, which runs after it (and must be done
// before the test removes the directory).
func waitExit(t *testing.T, dir string) *Exit {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		e, err := ReadExit(dir)
		if err == nil {
			waitFile(t, filepath.Join(dir, "cleanup-ran"))
			return e
		}
		if !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
	}
	t.Fatalf("no exit record in %s after 20s", dir)
	return nil
}

func waitFile(t *testing.T, path string) []byte {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if b, err := os.ReadFile(path); err == nil {
			return b
		}
	}
	t.Fatalf("%s did not appear within 20s", path)
	return nil
}

func readLog(t *testing.T, dir string) []LogEntry {
	t.Helper()
	b, err := os.ReadFile(LogPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	var entries []LogEntry
	for _, line := range bytes.SplitAfter(b, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		if line[len(line)-1] != '\n' {
			t.Fatalf("log line %q does not end in a newline", line)
		}
		e, err := ParseLogLine(line)
		if err != nil {
			t.Fatal(err)
		}
		if time.Since(e.Time) > time.Minute || time.Until(e.Time) > time.Second {
			t.Errorf("log entry time %v is not now", e.Time)
		}
		entries = append(entries, e)
	}
	return entries
}

func start(t *testing.T, o Options) int {
	t.Helper()
	pid, err := Start(o)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	// If an assertion fails early, do not leave the container running; once
	// the exit is recorded the pid is no longer ours to signal.
	t.Cleanup(func() {
		if _, err := ReadExit(o.Dir); errors.Is(err, os.ErrNotExist) {
			_ = unix.Kill(pid, unix.SIGKILL)
			waitExit(t, o.Dir)
		}
	})
	return pid
}

func TestMonitorRecordsExitLogAndRunsCleanup(t *testing.T) {
	requireRoot(t)
	o := options(t, "start", `echo out; echo err >&2; (ls /proc/$$/fd) >"$1/fds"; env >"$1/env"; exit 3`)
	o.StartArgs = append(o.StartArgs, o.Dir)
	before := time.Now()
	pid := start(t, o)
	if pid <= 0 {
		t.Fatalf("pid %d", pid)
	}
	e := waitExit(t, o.Dir)
	if e.Code != 3 || e.Signal != 0 || e.FinishedAt.Before(before.Add(-time.Second)) || time.Since(e.FinishedAt) > time.Minute {
		t.Errorf("exit record %+v, want code 3 finished after %v", e, before)
	}
	ran := string(waitFile(t, filepath.Join(o.Dir, "cleanup-ran")))
	if want := fmt.Sprintf("args=[%q]", o.Dir); !strings.HasPrefix(ran, want) || !strings.Contains(ran, "leaked=[]") {
		t.Errorf("cleanup saw %q, want %s and no monitor variables", ran, want)
	}
	entries := readLog(t, o.Dir)
	if len(entries) != 2 {
		t.Fatalf("log has %d entries, want 2: %+v", len(entries), entries)
	}
	got := map[string]string{}
	for _, e := range entries {
		if e.Partial {
			t.Errorf("entry %+v is partial", e)
		}
		got[e.Stream] = string(e.Text)
	}
	if got["stdout"] != "out" || got["stderr"] != "err" {
		t.Errorf("log streams %q, want stdout out, stderr err", got)
	}
	// The container must inherit neither the report pipe nor the socket.
	if fds, _ := os.ReadFile(filepath.Join(o.Dir, "fds")); string(fds) != "0\n1\n2\n" {
		t.Errorf("container fds %q, want only 0 1 2", fds)
	}
	if env, _ := os.ReadFile(filepath.Join(o.Dir, "env")); bytes.Contains(env, []byte("_PCR_MONITOR")) || len(env) == 0 {
		t.Errorf("container environment leaks the monitor's variables:\n%s", env)
	}
	if _, err := os.Stat(filepath.Join(o.Dir, "exit.json.tmp")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary exit record left behind: %v", err)
	}
}

func TestMonitorInitExitsBeforeHelper(t *testing.T) {
	requireRoot(t)
	for mode, code := range map[string]int{"start-exited": 4, "start-reaped": 255} {
		t.Run(mode, func(t *testing.T) {
			o := options(t, mode, `echo early; exit 4`)
			start(t, o)
			if e := waitExit(t, o.Dir); e.Code != code {
				t.Errorf("exit record %+v, want code %d", e, code)
			}
			if entries := readLog(t, o.Dir); len(entries) != 1 || string(entries[0].Text) != "early" {
				t.Errorf("log %+v, want one entry early", entries)
			}
		})
	}
}

func TestMonitorHelperFailure(t *testing.T) {
	requireRoot(t)
	for _, tc := range []struct {
		mode, arg, want string
	}{
		{"fail", "create container x: no such image", "create container x: no such image"},
		{"crash", "", "start helper exited with status 3"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			o := options(t, tc.mode, tc.arg)
			pid, err := Start(o)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("Start = %d, %v; want error %q", pid, err, tc.want)
			}
			time.Sleep(200 * time.Millisecond)
			if _, err := ReadExit(o.Dir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("exit record after a failed start: %v", err)
			}
			if _, err := os.Stat(filepath.Join(o.Dir, "cleanup-ran")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("cleanup ran after a failed start")
			}
			if tc.mode == "crash" {
				if log, _ := os.ReadFile(LogPath(o.Dir)); !bytes.Contains(log, []byte(" stderr F helper crashed\n")) {
					t.Errorf("the helper's stderr is not in the log: %q", log)
				}
			}
		})
	}
}

func TestMonitorBadOptions(t *testing.T) {
	for _, o := range []Options{
		{Dir: "relative", StartArgs: []string{"x"}},
		{Dir: "/tmp"},
		{Dir: "/tmp", StartArgs: []string{"a\x00b"}},
	} {
		if _, err := Start(o); err == nil {
			t.Errorf("Start(%+v) succeeded", o)
		}
	}
	// The constructor refuses what Start would never send.
	dir := t.TempDir()
	r, w, _ := os.Pipe()
	defer r.Close()
	cmd := exec.Command("/proc/self/exe", "x")
	cmd.Env = append(os.Environ(), monitorEnv+"="+dir, monitorOptsEnv+"=5")
	cmd.ExtraFiles = []*os.File{w}
	err := cmd.Run()
	w.Close()
	line, _ := bufio.NewReader(r).ReadString('\n')
	if err == nil || line != "error monitor: bad _PCR_MONITOR_OPTS\n" {
		t.Errorf("monitor with a bad argument count: %v, %q", err, line)
	}
}

func TestMonitorInitKilledBySignal(t *testing.T) {
	requireRoot(t)
	o := options(t, "start", `kill -9 $$`)
	start(t, o)
	if e := waitExit(t, o.Dir); e.Code != 137 || e.Signal != 9 {
		t.Errorf("exit record %+v, want code 137 signal 9", e)
	}
}

func TestMonitorLongLines(t *testing.T) {
	requireRoot(t)
	o := options(t, "start", `head -c 100000 /dev/zero | tr '\0' a; echo; printf tail`)
	start(t, o)
	waitExit(t, o.Dir)
	entries := readLog(t, o.Dir)
	var line []byte
	i := 0
	for ; i < len(entries); i++ {
		line = append(line, entries[i].Text...)
		if !entries[i].Partial {
			break
		}
	}
	if i < 1 || len(line) != 100000 || strings.Trim(string(line), "a") != "" {
		t.Fatalf("long line came back as %d entries, %d bytes", i+1, len(line))
	}
	rest := entries[i+1:]
	if len(rest) != 1 || !rest[0].Partial || string(rest[0].Text) != "tail" {
		t.Errorf("unterminated last line logged as %+v, want one P entry tail", rest)
	}
}

func TestMonitorTerminal(t *testing.T) {
	requireRoot(t)
	o := options(t, "pty", `[ -t 1 ] && echo hello-tty; exit 5`)
	o.Terminal = true
	start(t, o)
	if e := waitExit(t, o.Dir); e.Code != 5 {
		t.Errorf("exit record %+v, want code 5", e)
	}
	entries := readLog(t, o.Dir)
	if len(entries) != 1 || entries[0].Stream != "stdout" || strings.TrimSuffix(string(entries[0].Text), "\r") != "hello-tty" {
		t.Errorf("terminal log %+v, want stdout hello-tty", entries)
	}
}

// TestMonitorMemory reports what a monitor costs while its container runs.
// The number that matters is bin/pcr's (static), measured by hand with
// PCR_BIN; this binary is linked dynamically, so its RSS also counts the
// shared libc pages.
func TestMonitorMemory(t *testing.T) {
	requireRoot(t)
	o := options(t, "start", `echo ready; exec sleep 30`)
	pid := start(t, o)
	var monitor int
	for deadline := time.Now().Add(10 * time.Second); monitor == 0 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		ppid := statusField(t, pid, "PPid")
		if cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", ppid)); bytes.HasPrefix(cmd, []byte("pcr-monitor\x00")) {
			monitor = ppid
		}
	}
	if monitor == 0 {
		t.Fatal("the container was not reparented to its monitor")
	}
	rss := statusField(t, monitor, "VmRSS")
	rollup, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", monitor))
	if err != nil {
		t.Fatal(err)
	}
	pss := 0
	for _, l := range strings.Split(string(rollup), "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[0] == "Pss:" {
			pss, _ = strconv.Atoi(f[1])
		}
	}
	t.Logf("monitor %d: VmRSS %d KiB, Pss %d KiB", monitor, rss, pss)
	// Generous: a Go runtime alone would be several MiB.
	if pss == 0 || pss > 2048 {
		t.Errorf("monitor Pss %d KiB", pss)
	}
	// A stray SIGTERM (or HUP, INT, PIPE) must not cost the exit record.
	for _, sig := range []unix.Signal{unix.SIGTERM, unix.SIGHUP, unix.SIGINT, unix.SIGPIPE} {
		if err := unix.Kill(monitor, sig); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(50 * time.Millisecond)
	if err := unix.Kill(pid, unix.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if e := waitExit(t, o.Dir); e.Signal != int(unix.SIGTERM) || e.Code != 143 {
		t.Errorf("exit record %+v, want SIGTERM", e)
	}
}

func statusField(t *testing.T, pid int, name string) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[0] == name+":" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	t.Fatalf("no %s in /proc/%d/status", name, pid)
	return 0
}
