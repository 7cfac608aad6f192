package build

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"pcr/runtime"
)

// canLockExclusive tells whether a new open of workRoot's lock gets it
// exclusively, that is whether no build holds it.
func canLockExclusive(t *testing.T, workRoot string) bool {
	t.Helper()
	f, err := os.Open(filepath.Join(workRoot, ".lock"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	if err != nil && !errors.Is(err, unix.EWOULDBLOCK) {
		t.Fatal(err)
	}
	return err == nil
}

// A failed upgrade drops the shared lock on Linux; the sweep must take it
// back, or the next build sees no holder and sweeps this one's workspaces.
func TestSweepKeepsSharedLockWhenAnotherBuildRuns(t *testing.T) {
	work := t.TempDir()
	other, err := lockBuilds(work)
	if err != nil {
		t.Fatal(err)
	}
	live := filepath.Join(work, "tmp-0123456789ab")
	if err := os.Mkdir(live, 0o700); err != nil {
		t.Fatal(err)
	}
	ours, err := lockBuilds(work)
	if err != nil {
		t.Fatal(err)
	}
	defer ours.Close()
	if err := sweepLeftovers(ours, work, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(live); err != nil {
		t.Errorf("the sweep removed a running build's workspace: %v", err)
	}
	other.Close()
	if canLockExclusive(t, work) {
		t.Error("after a failed upgrade this build no longer holds the shared lock")
	}
}

func TestSweepRemovesLeftoversAndKeepsSharedLock(t *testing.T) {
	work := t.TempDir()
	rt, err := runtime.New(t.TempDir(), nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	left := filepath.Join(work, "tmp-0123456789ab")
	if err := os.MkdirAll(filepath.Join(left, "upper/x"), 0o700); err != nil {
		t.Fatal(err)
	}
	ours, err := lockBuilds(work)
	if err != nil {
		t.Fatal(err)
	}
	defer ours.Close()
	if err := sweepLeftovers(ours, work, rt); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(left); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("leftover workspace still there: %v", err)
	}
	if canLockExclusive(t, work) {
		t.Error("after the sweep this build no longer holds the shared lock")
	}
}
