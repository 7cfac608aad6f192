//go:build amd64 || arm64

package sigrelay

import (
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// actions reads the kernel's handler of each signal.
func actions(t *testing.T, sigs []unix.Signal) []sigaction {
	t.Helper()
	var acts []sigaction
	for _, s := range sigs {
		var a sigaction
		if err := rtSigaction(s, nil, &a); err != nil {
			t.Fatalf("rt_sigaction %v: %v", s, err)
		}
		acts = append(acts, a)
	}
	return acts
}

func TestStopGivesTheSignalsBackAsTheyWere(t *testing.T) {
	sigs := []unix.Signal{unix.SIGUSR1, unix.SIGHUP, unix.Signal(39)}
	before := actions(t, sigs)
	got := make(received, 16)
	rl, err := Start(sigs, got.fn)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(actions(t, sigs), before) {
		t.Fatal("Start left the handlers as they were")
	}
	rl.Stop()
	if after := actions(t, sigs); !slices.Equal(after, before) {
		t.Fatalf("after Stop the handlers are %+v, want %+v", after, before)
	}
	// Back with the Go runtime, which ignores SIGUSR1 when nobody asked for it.
	unix.Kill(unix.Getpid(), unix.SIGUSR1)
	select {
	case s := <-got:
		t.Fatalf("%v relayed after Stop", s)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestStartRefusesWhatCannotBeCaughtAndTakesNothing(t *testing.T) {
	before := actions(t, []unix.Signal{unix.SIGUSR1})
	if rl, err := Start([]unix.Signal{unix.SIGUSR1, unix.SIGKILL}, func(unix.Signal) {}); err == nil {
		rl.Stop()
		t.Fatal("Start took SIGKILL")
	}
	if after := actions(t, []unix.Signal{unix.SIGUSR1}); !slices.Equal(after, before) {
		t.Fatal("a failed Start kept SIGUSR1")
	}
	rl, err := Start([]unix.Signal{unix.SIGUSR1}, func(unix.Signal) {})
	if err != nil {
		t.Fatalf("a failed Start left the relay held: %v", err)
	}
	rl.Stop()
}
