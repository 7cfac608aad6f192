// Package node is the node manager (`pcr node serve`): a daemon per node
// that keeps this node's vservers matching what a source assigns (a local
// slices file now, the slice authority later), under the node owner's
// policy, enforces expiry locally, restarts crashed vservers, reports
// usage, and serves `pcr vserver` on a unix socket.
package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sync"
	"syscall"
	"time"

	"pcr/engine"
	"pcr/vserver"
)

// Source is what assigns vservers to this node. The slices file is one;
// the slice authority (issue 7) is another.
type Source interface {
	// Name is the Origin recorded on the vservers it assigns; the node
	// manager removes a vserver of this origin once it is no longer
	// assigned, and never touches those of other origins that way.
	Name() string
	// Desired is the set of vservers this node should run now. An error
	// means no set is known at all: the node manager then neither creates
	// nor removes anything on the source's behalf (it still enforces
	// expiry and restarts crashed vservers).
	Desired(ctx context.Context) ([]vserver.Spec, error)
	// Changed receives a value when Desired may return something new.
	Changed() <-chan struct{}
}

// Attacher is a Source that needs the node itself (the authority's
// follower: to report, to run exec jobs); the daemon calls Attach once,
// before its first pass.
type Attacher interface {
	Attach(n Node)
}

// PassObserver is a Source told the node's vservers after every reconcile
// pass, so that it can report a change of state at once.
type PassObserver interface {
	Passed(vs []*vserver.VServer)
}

// Node is what the daemon lends a Source: its vservers, their usage, a
// command run in one, its status and what it offers.
type Node interface {
	List() ([]*vserver.VServer, error)
	Stats(slice string) (*vserver.Stats, error)
	Exec(slice string, o engine.ExecOptions) (int, error)
	Info() *NodeInfo
	Capacity() Capacity
}

// FileSourceName is the origin of vservers assigned by --slices FILE.
const FileSourceName = "slices-file"

// sliceFile is the --slices file's format.
type sliceFile struct {
	Slices []vserver.Spec `json:"slices"`
}

// FileSource assigns the vservers listed in a local JSON file, re-read
// when it changes. A file that cannot be read or parsed is reported and
// the last good set kept: a half-saved edit must not remove vservers.
type FileSource struct {
	path    string
	log     *slog.Logger
	changed chan struct{}

	mu      sync.Mutex
	stamp   fileStamp
	content []byte
	specs   []vserver.Spec
	have    bool
	err     error
}

// fileStamp tells a changed file from an unchanged one without reading it.
type fileStamp struct {
	ino, size int64
	mtime     time.Time
	missing   bool
}

// pollInterval is how often the file is checked: cheap (one stat) and
// short enough that an edit is acted on at once for a person.
const pollInterval = time.Second

// NewFileSource reads path now and watches it until ctx ends.
func NewFileSource(ctx context.Context, path string, log *slog.Logger) *FileSource {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := &FileSource{path: path, log: log, changed: make(chan struct{}, 1)}
	f.refresh()
	go f.watch(ctx)
	return f
}

func (f *FileSource) Name() string { return FileSourceName }

func (f *FileSource) Changed() <-chan struct{} { return f.changed }

// Desired is the last good content of the file.
func (f *FileSource) Desired(context.Context) ([]vserver.Spec, error) {
	f.refresh()
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.have {
		return nil, f.err
	}
	return slices.Clone(f.specs), nil
}

// Err is what is wrong with the file now (nil when its content is in use).
func (f *FileSource) Err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// watch polls the file; a stat per second is cheaper than it sounds and,
// unlike inotify on the file, survives editors that replace it by rename.
func (f *FileSource) watch(ctx context.Context) {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if f.refresh() {
				select {
				case f.changed <- struct{}{}:
				default:
				}
			}
		}
	}
}

// refresh re-reads the file if its stamp changed and reports whether a
// new set was taken.
func (f *FileSource) refresh() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := statFile(f.path)
	if st == f.stamp && (f.have || f.err != nil) {
		return false
	}
	f.stamp = st
	data, err := os.ReadFile(f.path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			err = fmt.Errorf("slices file %s does not exist", f.path)
		} else {
			err = fmt.Errorf("read slices file: %w", err)
		}
		f.setErr(err)
		return false
	}
	if f.have && bytes.Equal(data, f.content) {
		f.err = nil
		return false
	}
	specs, err := ParseSlices(data)
	if err != nil {
		f.setErr(fmt.Errorf("slices file %s: %w", f.path, err))
		return false
	}
	f.content, f.specs, f.have, f.err = data, specs, true, nil
	f.log.Info("slices file read", "file", f.path, "slices", len(specs))
	return true
}

// setErr records a problem with the file and logs it once.
func (f *FileSource) setErr(err error) {
	if f.err == nil || f.err.Error() != err.Error() {
		if f.have {
			f.log.Error("slices file unusable; keeping the previous slices", "file", f.path, "error", err.Error(), "slices", len(f.specs))
		} else {
			f.log.Error("slices file unusable", "file", f.path, "error", err.Error())
		}
	}
	f.err = err
}

func statFile(path string) fileStamp {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{missing: true}
	}
	st := fileStamp{size: fi.Size(), mtime: fi.ModTime()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.ino = int64(sys.Ino)
	}
	return st
}

// ParseSlices reads a slices file: {"slices":[vserver.Spec, …]}. Unknown
// fields are refused (a misspelt "memroy" would silently mean no limit),
// as are invalid and repeated slice names; an rspec the node cannot honour
// is not a parse error: that slice alone is reported as failed.
func ParseSlices(data []byte) ([]vserver.Spec, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var sf sliceFile
	if err := dec.Decode(&sf); err != nil {
		return nil, jsonError(data, dec, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%s: unexpected content after the top-level object", position(data, dec.InputOffset()))
	}
	seen := map[string]bool{}
	for i, s := range sf.Slices {
		if err := vserver.ValidateSlice(s.Slice); err != nil {
			return nil, fmt.Errorf("slice %d: %w", i+1, err)
		}
		if seen[s.Slice] {
			return nil, fmt.Errorf("slice %s is listed twice", s.Slice)
		}
		seen[s.Slice] = true
	}
	return sf.Slices, nil
}

// jsonError says where in the file a decode error is, as a person would
// look for it: line and column.
func jsonError(data []byte, dec *json.Decoder, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Errorf("%s: %v", position(data, syn.Offset), err)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "value"
		}
		return fmt.Errorf("%s: %s: want %s, found %s", position(data, typ.Offset), field, typ.Type, typ.Value)
	case errors.Is(err, io.EOF):
		return fmt.Errorf("empty file: want {\"slices\": [...]}")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%s: the file ends in the middle of a value", position(data, int64(len(data))))
	}
	// Errors from a field's own parser (a size, a rate, an unknown field)
	// carry no offset; where the decoder stopped is near enough.
	return fmt.Errorf("%s: %v", position(data, dec.InputOffset()), err)
}

// position is "line L, column C" of a byte offset.
func position(data []byte, off int64) string {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	line, col := 1, 1
	for _, b := range data[:off] {
		if b == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return fmt.Sprintf("line %d, column %d", line, col)
}
