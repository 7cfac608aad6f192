package image

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// Progress reports blob transfers (pull, push, load) as they happen.
type Progress interface {
	// Task announces one blob: action is "Pulling", "Pushing", "Loading";
	// size is -1 when unknown.
	Task(action string, d digest.Digest, size int64) Task
}

// Task is one blob's transfer.
type Task interface {
	// Reader counts the bytes read through r as this task's progress.
	Reader(r io.Reader) io.Reader
	// Done ends the task with a status word ("done", "exists") or an error.
	Done(status string, err error)
}

// NoProgress reports nothing.
type NoProgress struct{}

func (NoProgress) Task(string, digest.Digest, int64) Task { return noTask{} }

type noTask struct{}

func (noTask) Reader(r io.Reader) io.Reader { return r }
func (noTask) Done(string, error)           {}

func progressOrNone(p Progress) Progress {
	if p == nil {
		return NoProgress{}
	}
	return p
}

func shortDigest(d digest.Digest) string {
	e := d.Encoded()
	if len(e) > 12 {
		e = e[:12]
	}
	return string(d.Algorithm()) + ":" + e
}

// Lines writes one plain line per finished blob ("Pulling sha256:ab12… done"),
// for logs and pipes.
type Lines struct {
	mu sync.Mutex
	w  io.Writer
}

func NewLines(w io.Writer) *Lines { return &Lines{w: w} }

func (l *Lines) Task(action string, d digest.Digest, size int64) Task {
	return &lineTask{l: l, action: action, d: d}
}

type lineTask struct {
	l      *Lines
	action string
	d      digest.Digest
}

func (t *lineTask) Reader(r io.Reader) io.Reader { return r }

func (t *lineTask) Done(status string, err error) {
	if err != nil {
		status = "failed"
	}
	t.l.mu.Lock()
	defer t.l.mu.Unlock()
	fmt.Fprintf(t.l.w, "%s %s… %s\n", t.action, shortDigest(t.d), status)
}

// Bars draws a progress bar per blob on a terminal; Wait must be called
// once the operation is over, before anything else is printed.
type Bars struct{ p *mpb.Progress }

func NewBars(w io.Writer) *Bars {
	return &Bars{p: mpb.New(mpb.WithOutput(w), mpb.WithWidth(40), mpb.WithRefreshRate(120*time.Millisecond))}
}

func (b *Bars) Task(action string, d digest.Digest, size int64) Task {
	total := size
	if total < 0 {
		total = 0
	}
	t := &barTask{status: "done"}
	t.bar = b.p.AddBar(total,
		mpb.PrependDecorators(decor.Name(action+" "+shortDigest(d), decor.WC{C: decor.DindentRight | decor.DextraSpace})),
		mpb.AppendDecorators(decor.OnComplete(decor.Counters(decor.SizeB1024(0), "% .1f / % .1f"), "")),
		mpb.AppendDecorators(decor.Any(func(decor.Statistics) string { return t.statusWord() })),
	)
	return t
}

func (b *Bars) Wait() { b.p.Wait() }

type barTask struct {
	bar    *mpb.Bar
	mu     sync.Mutex
	status string
	done   bool
}

func (t *barTask) statusWord() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		return " " + t.status
	}
	return ""
}

func (t *barTask) Reader(r io.Reader) io.Reader { return t.bar.ProxyReader(r) }

func (t *barTask) Done(status string, err error) {
	t.mu.Lock()
	t.done, t.status = true, status
	if err != nil {
		t.status = "failed"
	}
	t.mu.Unlock()
	if err != nil {
		t.bar.Abort(false)
		return
	}
	t.bar.SetTotal(-1, true)
}
