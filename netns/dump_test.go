package netns

import (
	"errors"
	"testing"

	"github.com/vishvananda/netlink"
)

func TestRetryDumpRetriesAnInterruptedDump(t *testing.T) {
	calls := 0
	got, err := retryDump(func() ([]int, error) {
		calls++
		if calls < 3 {
			return []int{1}, netlink.ErrDumpInterrupted // partial
		}
		return []int{1, 2}, nil
	})
	if err != nil || len(got) != 2 || calls != 3 {
		t.Fatalf("got %v, %v after %d dumps; want the whole [1 2] from the third", got, err, calls)
	}
}

func TestRetryDumpGivesUpAndSaysWhy(t *testing.T) {
	calls := 0
	got, err := retryDump(func() ([]int, error) {
		calls++
		return []int{1}, netlink.ErrDumpInterrupted
	})
	if !errors.Is(err, netlink.ErrDumpInterrupted) || got != nil || calls != dumpTries {
		t.Fatalf("got %v, %v after %d dumps; want no result and ErrDumpInterrupted after %d", got, err, calls, dumpTries)
	}
	other := errors.New("permission denied")
	calls = 0
	if _, err := retryDump(func() ([]int, error) { calls++; return nil, other }); err != other || calls != 1 {
		t.Fatalf("another error: %v after %d dumps, want it at once", err, calls)
	}
}
