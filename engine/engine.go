// Package engine makes containers from images, as Docker does: each
// container is a directory under <root>/containers holding a record of
// what was asked, an OCI bundle the runtime (or runc) can run, the
// overlay's upper and work dirs, and what its monitor wrote (log, exit).
// The engine drives pcr/runtime in-process; nothing of it stays resident
// but a small C monitor per detached container.
package engine

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"pcr/image"
	"pcr/netns"
	"pcr/runtime"
)

// Engine owns a root (images, layers, containers) and a state dir (live
// runtime state). It holds no lock of its own: every operation locks the
// one container it changes, so parallel pcr processes do not serialise.
type Engine struct {
	root  string
	state string
	trace *runtime.Tracer
	log   io.Writer
	rt    *runtime.Runtime
	// images is opened on first use: commands that only read containers
	// need no image store.
	images *image.Store
	// net is opened on first use, as images: none and host runs need none.
	net *netns.Manager
}

// Option changes how New sets up an Engine.
type Option func(*Engine)

// WithTrace prints each stage with its duration to w (pcr --debug).
func WithTrace(w io.Writer) Option {
	return func(e *Engine) { e.trace = runtime.NewTracer(w) }
}

// WithLog sends warnings to w (stderr by default).
func WithLog(w io.Writer) Option {
	return func(e *Engine) { e.log = w }
}

// New opens the engine under root and state, creating their directories.
func New(root, state string, opts ...Option) (*Engine, error) {
	absRoot, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("root %s: %w", root, err)
	}
	absState, err := filepath.Abs(state)
	if err != nil {
		return nil, fmt.Errorf("state %s: %w", state, err)
	}
	e := &Engine{root: absRoot, state: absState, log: os.Stderr}
	for _, o := range opts {
		o(e)
	}
	if e.trace == nil {
		e.trace = runtime.NewTracer(nil)
	}
	if err := os.MkdirAll(filepath.Join(absRoot, containersDir, namesDir), 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", filepath.Join(absRoot, containersDir), err)
	}
	e.rt, err = runtime.New(filepath.Join(absState, "runtime"), e.trace, e.log)
	if err != nil {
		return nil, err
	}
	return e, nil
}

// Root is where images, layers and containers live.
func (e *Engine) Root() string { return e.root }

// Runtime is the OCI runtime the engine drives, for commands built on it
// (stats, top, pause).
func (e *Engine) Runtime() *runtime.Runtime { return e.rt }

// Images opens the image store on first use.
func (e *Engine) Images() (*image.Store, error) {
	if e.images == nil {
		s, err := image.Open(e.root)
		if err != nil {
			return nil, err
		}
		e.images = s
	}
	return e.images, nil
}

func (e *Engine) containersDir() string { return filepath.Join(e.root, containersDir) }

func (e *Engine) dir(id string) string { return filepath.Join(e.root, containersDir, id) }

func (e *Engine) namePath(name string) string {
	return filepath.Join(e.root, containersDir, namesDir, name)
}
