package runtime

import (
	"io"
	"sync"
	"time"

	"pcr/internal/fmtlite"
)

// Tracer prints each stage of container creation with its duration, for
// --debug and PCR_TRACE=1: the student's view of what a runtime does.
type Tracer struct {
	w     io.Writer
	start time.Time
	who   string
	mu    sync.Mutex // stages may end on two goroutines (the engine's network)
	last  time.Time
}

// NewTracer returns a tracer writing to w; a nil w makes a silent tracer.
func NewTracer(w io.Writer) *Tracer {
	now := time.Now()
	return &Tracer{w: w, start: now, last: now, who: "pcr"}
}

func (t *Tracer) Enabled() bool { return t != nil && t.w != nil }

// Stage records that a stage ended now.
func (t *Tracer) Stage(format string, args ...any) {
	if !t.Enabled() {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	fmtlite.Fprintf(t.w, "%s: trace %8dµs (+%6dµs) %s\n", t.who,
		now.Sub(t.start).Microseconds(), now.Sub(t.last).Microseconds(), fmtlite.Sprintf(format, args...))
	t.last = now
}
