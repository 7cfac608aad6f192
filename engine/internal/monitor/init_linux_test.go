//go:build linux && cgo

package monitor

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// initCmd runs this test binary as the container's --init would run bin/pcr:
// argv [InitPath, --, CMD...], InitEnv=1, as PID 1 of a new pid namespace so
// orphans are really reparented to it.
func initCmd(t *testing.T, cmd ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	requireRoot(t)
	c := &exec.Cmd{
		Path:        "/proc/self/exe",
		Args:        append([]string{InitPath, "--"}, cmd...),
		Env:         append(os.Environ(), InitEnv+"=1"),
		SysProcAttr: &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID},
	}
	var stderr bytes.Buffer
	c.Stderr = &stderr
	return c, &stderr
}

func exitCode(t *testing.T, c *exec.Cmd, err error) int {
	t.Helper()
	if err == nil {
		return 0
	}
	if _, ok := err.(*exec.ExitError); !ok {
		t.Fatalf("run init: %v", err)
	}
	return c.ProcessState.ExitCode()
}

func TestInitExitCodes(t *testing.T) {
	notExec := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		cmd    []string
		code   int
		stderr string
	}{
		{"pass-through", []string{"sh", "-c", "exit 7"}, 7, ""},
		{"not found", []string{"/no/such/cmd"}, 127, "pcr-init: exec /no/such/cmd: not found\n"},
		{"not found in PATH", []string{"no-such-cmd-pcr"}, 127, "pcr-init: exec no-such-cmd-pcr: not found\n"},
		{"not executable", []string{notExec}, 126, "pcr-init: exec " + notExec + ": Permission denied\n"},
		{"killed", []string{"sh", "-c", "kill -9 $$"}, 137, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, stderr := initCmd(t, tc.cmd...)
			if code := exitCode(t, c, c.Run()); code != tc.code || stderr.String() != tc.stderr {
				t.Errorf("init %q: exit %d, stderr %q; want %d, %q", tc.cmd, code, stderr, tc.code, tc.stderr)
			}
		})
	}
}

func TestInitHidesItsVariable(t *testing.T) {
	c, _ := initCmd(t, "sh", "-c", "echo pid=$$; env")
	out, err := c.Output()
	if err != nil {
		t.Fatal(err)
	}
	// pid 2: the command is init's child in the new namespace.
	if !strings.HasPrefix(string(out), "pid=2\n") || strings.Contains(string(out), InitEnv) {
		t.Errorf("command output:\n%s\nwant pid=2 and no %s", out, InitEnv)
	}
}

// startInit runs cmd under the init and returns once cmd printed "ready".
func startInit(t *testing.T, cmd ...string) (*exec.Cmd, *bufio.Reader) {
	t.Helper()
	c, _ := initCmd(t, cmd...)
	out, err := c.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Process.Kill(); _ = c.Wait() })
	r := bufio.NewReader(out)
	if line, err := r.ReadString('\n'); line != "ready\n" {
		t.Fatalf("command printed %q, %v; want ready", line, err)
	}
	return c, r
}

func TestInitForwardsSignals(t *testing.T) {
	c, _ := startInit(t, "sh", "-c", `trap "exit 42" TERM; echo ready; while :; do sleep 0.05; done`)
	if err := c.Process.Signal(unix.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := exitCode(t, c, c.Wait()); code != 42 {
		t.Errorf("init exited %d after SIGTERM, want 42 (the command's trap)", code)
	}
}

func TestInitReapsOrphans(t *testing.T) {
	// The inner sh exits at once, leaving its background sleep to init.
	c, _ := startInit(t, "sh", "-c", `sh -c 'sleep 0.3 &'; echo ready; exec sleep 10`)
	pid := c.Process.Pid
	children := func() []string {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
		if err != nil {
			t.Fatal(err)
		}
		return strings.Fields(string(b))
	}
	// Zombies are listed too: two children now (sh and the orphan) shows the
	// orphan was handed to init; one later shows init reaped it.
	if got := children(); len(got) != 2 {
		t.Fatalf("init has children %v, want the command and the orphan", got)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(children()) != 1 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := children(); len(got) != 1 {
		t.Errorf("init still has children %v after the orphan exited", got)
	}
}
