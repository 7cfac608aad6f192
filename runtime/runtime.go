// Package runtime is pcr's OCI bundle executor: the part that does what runc
// does. Each verb lives in its own file (create.go, start.go, kill.go, …);
// the re-exec'd child side lives in init*.go.
package runtime

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"

	"pcr/internal/fmtlite"
)

// Runtime owns the live state directory (runc's --root).
type Runtime struct {
	Root  string
	Trace *Tracer
	// Log receives warnings (unsupported fields and the like).
	Log io.Writer
	// InitBinaryRequired: this executable holds no container init
	// (pcr-oci), so every init and exec child runs the pcr-init beside it,
	// and create and exec fail, before they make anything, without one.
	InitBinaryRequired bool
}

// New makes sure the state root exists.
func New(root string, trace *Tracer, log io.Writer) (*Runtime, error) {
	if root == "" {
		return nil, errors.New("state root is empty")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmtlite.Errorf("state root %s: %w", root, err)
	}
	if err := os.MkdirAll(abs, 0o711); err != nil {
		return nil, fmtlite.Errorf("create state root %s: %w", abs, err)
	}
	if log == nil {
		log = io.Discard
	}
	if trace == nil {
		trace = NewTracer(nil)
	}
	return &Runtime{Root: abs, Trace: trace, Log: log}, nil
}

func (r *Runtime) warnf(format string, args ...any) {
	fmtlite.Fprintf(r.Log, "pcr: warning: "+format+"\n", args...)
}

func (r *Runtime) dir(id string) string { return filepath.Join(r.Root, id) }

// Load reads a container's record and derives its live status.
func (r *Runtime) Load(id string) (*State, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	dir := r.dir(id)
	data, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, os.ErrNotExist) {
		if _, serr := os.Stat(dir); serr == nil {
			// A create that was killed before its first save.
			st := &State{ID: id, dir: dir, Status: StatusCreating}
			return st, nil
		}
		return nil, fmtlite.Errorf("container %s: %w", id, ErrNotExist)
	}
	if err != nil {
		return nil, fmtlite.Errorf("load container %s: %w", id, err)
	}
	st, err := decodeState(data)
	if err != nil {
		return nil, fmtlite.Errorf("load container %s: parse %s: %w", id, stateFile, err)
	}
	st.dir = dir
	st.refresh()
	return st, nil
}

// List returns every container under the root, sorted by id.
func (r *Runtime) List() ([]*State, error) {
	// Unsorted (File.ReadDir, not os.ReadDir): the states are sorted below,
	// and os.ReadDir's sort of directory entries is code pcr-oci would map
	// on every run for nothing.
	dir, err := os.Open(r.Root)
	if err != nil {
		return nil, fmtlite.Errorf("list %s: %w", r.Root, err)
	}
	entries, err := dir.ReadDir(-1)
	dir.Close()
	if err != nil {
		return nil, fmtlite.Errorf("list %s: %w", r.Root, err)
	}
	var out []*State
	for _, e := range entries {
		if !e.IsDir() || ValidateID(e.Name()) != nil {
			continue
		}
		st, err := r.Load(e.Name())
		if err != nil {
			continue // deleted meanwhile
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}
