package engine

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"pcr/engine/internal/monitor"
)

// A runtime record with no state.json reads as "creating": a container being
// started, or one that exited and whose runtime record the monitor's cleanup
// is deleting. The exit record, removed by start and written at exit, tells
// them apart; `pcr top` after `pcr wait` hit the second case.
func TestStateOfHalfDeletedRuntimeRecord(t *testing.T) {
	e, err := New(t.TempDir(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	const id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	if err := os.MkdirAll(filepath.Join(e.state, "runtime", id), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(e.dir(id), 0o700); err != nil {
		t.Fatal(err)
	}
	rec := &Record{ID: id, StartedAt: time.Now()}
	if st := e.stateOf(rec); !st.Running || st.Status != StatusRunning {
		t.Fatalf("being started: got %+v, want running", st)
	}
	if err := monitor.WriteExit(e.dir(id), monitor.Exit{Code: 137, FinishedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if st := e.stateOf(rec); st.Running || st.Status != StatusExited || st.ExitCode != 137 {
		t.Fatalf("exited, runtime record half deleted: got %+v, want exited 137", st)
	}
}
