package sigrelay

import (
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// received collects what a relay delivers.
type received chan unix.Signal

func (r received) fn(s unix.Signal) { r <- s }

func (r received) expect(t *testing.T, want unix.Signal) {
	t.Helper()
	select {
	case got := <-r:
		if got != want {
			t.Fatalf("relayed %v, want %v", got, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("%v was not relayed within 5 s", want)
	}
}

func TestRelayDeliversEachSignalSentToTheProcess(t *testing.T) {
	got := make(received, 16)
	rl, err := Start([]unix.Signal{unix.SIGUSR1, unix.SIGUSR2, unix.SIGWINCH, unix.SIGTERM}, got.fn)
	if err != nil {
		t.Fatal(err)
	}
	defer rl.Stop()
	for _, s := range []unix.Signal{unix.SIGUSR1, unix.SIGTERM, unix.SIGWINCH, unix.SIGUSR2} {
		// One at a time: two of one kind pending together are delivered once.
		if err := unix.Kill(unix.Getpid(), s); err != nil {
			t.Fatal(err)
		}
		got.expect(t, s)
	}
	// From another thread of ours, too.
	go unix.Tgkill(unix.Getpid(), unix.Gettid(), unix.SIGUSR1)
	got.expect(t, unix.SIGUSR1)
}

func TestOneRelayAtATime(t *testing.T) {
	got := make(received, 16)
	rl, err := Start([]unix.Signal{unix.SIGUSR1}, got.fn)
	if err != nil {
		t.Fatal(err)
	}
	if second, err := Start([]unix.Signal{unix.SIGUSR2}, got.fn); err == nil {
		second.Stop()
		t.Fatal("a second relay started beside the first")
	}
	rl.Stop()
	// Once the first has stopped, the next one works, and starts clean.
	rl, err = Start([]unix.Signal{unix.SIGUSR2}, got.fn)
	if err != nil {
		t.Fatal(err)
	}
	defer rl.Stop()
	unix.Kill(unix.Getpid(), unix.SIGUSR2)
	got.expect(t, unix.SIGUSR2)
}

func TestForwardableLeavesTheRuntimeItsSignals(t *testing.T) {
	sigs := Forwardable()
	for _, s := range []unix.Signal{unix.SIGKILL, unix.SIGSTOP, unix.SIGSEGV, unix.SIGBUS, unix.SIGFPE,
		unix.SIGILL, unix.SIGTRAP, unix.SIGSYS, unix.SIGURG, unix.SIGPROF, unix.SIGCHLD, 32, 33} {
		if slices.Contains(sigs, s) {
			t.Errorf("Forwardable includes %v", s)
		}
	}
	for _, s := range []unix.Signal{unix.SIGHUP, unix.SIGINT, unix.SIGQUIT, unix.SIGTERM, unix.SIGUSR1,
		unix.SIGWINCH, unix.SIGCONT, unix.SIGTSTP, unix.SIGPIPE, 34, 64} {
		if !slices.Contains(sigs, s) {
			t.Errorf("Forwardable lacks %v", s)
		}
	}
}
