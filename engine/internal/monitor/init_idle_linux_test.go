//go:build linux && cgo

package monitor

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// startIdleInit runs this test binary as IdleInit runs bin/pcr: argv
// [InitPath, IdleArg], InitEnv=1, PID 1 of a new pid namespace.
func startIdleInit(t *testing.T) *exec.Cmd {
	t.Helper()
	requireRoot(t)
	c := &exec.Cmd{
		Path:        "/proc/self/exe",
		Args:        []string{InitPath, IdleArg},
		Env:         append(os.Environ(), InitEnv+"=1"),
		SysProcAttr: &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID},
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Process.Kill(); _ = c.Wait() })
	// It must be waiting in sigwaitinfo, not still starting, before a test
	// signals it: a signal that came first would hit the default action.
	deadline := time.Now().Add(5 * time.Second)
	for !sleeping(c.Process.Pid) {
		if time.Now().After(deadline) {
			t.Fatalf("idle init %d never went to sleep", c.Process.Pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return c
}

// sleeping says whether pid is in sigwaitinfo: the idle init waiting. Its
// SigBlk cannot tell, as the kernel unblocks the awaited set meanwhile.
func sleeping(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/syscall", pid))
	if err != nil {
		return false
	}
	f := strings.Fields(string(data))
	return len(f) > 0 && f[0] == strconv.Itoa(unix.SYS_RT_SIGTIMEDWAIT)
}

func childrenOf(t *testing.T, pid int) []string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(b))
}

// spawnInto runs a shell in init's pid namespace that leaves a background
// sleep behind when it exits: an orphan, which the kernel hands to init.
// The thread that joined the namespace is never unlocked: it dies with the
// goroutine rather than fork anything else into that namespace.
func spawnInto(t *testing.T, initPid int, script string) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		fd, err := unix.Open(fmt.Sprintf("/proc/%d/ns/pid", initPid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWPID); err != nil {
			errc <- fmt.Errorf("setns pid: %w", err)
			return
		}
		errc <- exec.Command("sh", "-c", script).Run()
	}()
	if err := <-errc; err != nil {
		t.Fatalf("run %q in init's pid namespace: %v", script, err)
	}
}

func TestIdleInitRunsNothingAndReapsOrphans(t *testing.T) {
	c := startIdleInit(t)
	pid := c.Process.Pid
	if got := childrenOf(t, pid); len(got) != 0 {
		t.Fatalf("idle init has children %v, want none", got)
	}
	// A signal it does not act on changes nothing.
	if err := c.Process.Signal(unix.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	spawnInto(t, pid, "sleep 0.3 & sleep 0.3 &")
	if got := childrenOf(t, pid); len(got) != 2 {
		t.Fatalf("idle init has children %v, want the two orphaned sleeps", got)
	}
	// Zombies are listed too: none left means init reaped both.
	deadline := time.Now().Add(5 * time.Second)
	for len(childrenOf(t, pid)) != 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := childrenOf(t, pid); len(got) != 0 {
		t.Fatalf("idle init still has children %v after they exited", got)
	}
	spawnInto(t, pid, "sleep 0.1 &")
	time.Sleep(300 * time.Millisecond)
	if got := childrenOf(t, pid); len(got) != 0 {
		t.Fatalf("idle init did not reap a second orphan: %v", got)
	}
	if !sleeping(pid) {
		t.Fatalf("idle init is no longer waiting")
	}
}

func TestIdleInitExitsZeroOnStopSignals(t *testing.T) {
	for _, sig := range []unix.Signal{unix.SIGTERM, unix.SIGINT, unix.SIGHUP} {
		t.Run(unix.SignalName(sig), func(t *testing.T) {
			c := startIdleInit(t)
			spawnInto(t, c.Process.Pid, "sleep 30 &")
			if err := c.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- c.Wait() }()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("idle init after %v: %v, want exit 0", sig, err)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("idle init still running 5s after %v", sig)
			}
		})
	}
}
