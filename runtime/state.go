package runtime

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"pcr/cgroup"
	"pcr/internal/atomicfile"
	"pcr/internal/fmtlite"
)

// Status values follow the runtime spec; "paused" is runc's addition.
const (
	StatusCreating = "creating"
	StatusCreated  = "created"
	StatusRunning  = "running"
	StatusPaused   = "paused"
	StatusStopped  = "stopped"
)

// ErrNotExist and ErrExist let the CLI map errors to runc's messages.
var (
	ErrNotExist = errors.New("container does not exist")
	ErrExist    = errors.New("container with given ID already exists")
)

const (
	stateFile = "state.json"
	fifoName  = "exec.fifo"
)

// State is what pcr remembers about a container between invocations. The
// status is never trusted from disk: Load derives it from the init process
// (pid + start time, so a reused pid is not mistaken for ours) and the fifo.
type State struct {
	OCIVersion  string            `json:"ociVersion"`
	ID          string            `json:"id"`
	Bundle      string            `json:"bundle"`
	Rootfs      string            `json:"rootfs"`
	Pid         int               `json:"pid"`
	PidStart    uint64            `json:"pidStart"`
	Created     time.Time         `json:"created"`
	Owner       string            `json:"owner"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Cgroup      cgroup.State      `json:"cgroup"`
	// OwnPidNS says the init has its own pid namespace, so killing it kills everything.
	OwnPidNS bool `json:"ownPidNS"`
	// Config is the spec the container was created from, as JSON: the
	// bundle's config.json as read, or the spec the engine handed over.
	// exec, start, delete and update need it after the bundle may be gone;
	// Spec decodes it on first use. Bytes rather than a *specs.Spec, so
	// that create, which holds the parsed spec already, never builds
	// encoding/json's encoders for the spec's whole type graph: 230 KB of
	// heap, a fifth of pcr-oci run's.
	Config rawJSON `json:"config"`

	Status string `json:"-"`
	dir    string
	spec   *specs.Spec
}

// Spec is the container's spec, decoded from Config once; nil without
// an error for a record that has none (a create killed before its first save).
func (s *State) Spec() (*specs.Spec, error) {
	if s.spec == nil && len(s.Config) > 0 && string(s.Config) != "null" {
		spec, err := decodeSpec(s.Config)
		if err != nil {
			return nil, fmtlite.Errorf("container %s: parse its recorded config: %w", s.ID, err)
		}
		s.spec = spec
	}
	return s.spec, nil
}

// setSpec makes spec the container's, encoded anew: after create was
// handed a spec rather than a file, or once something changed it.
func (s *State) setSpec(spec *specs.Spec) error {
	s.Config, s.spec = encodeSpec(spec), spec
	return nil
}

// ValidateID refuses ids that could escape the state root or confuse tools:
// ^[A-Za-z0-9][A-Za-z0-9_.+-]*$, at most 1024 bytes. A loop rather than a
// package-level regexp, which the container's init would compile at start.
func ValidateID(id string) error {
	ok := len(id) > 0 && len(id) <= 1024
	for i := 0; ok && i < len(id); i++ {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case i > 0 && (c == '_' || c == '.' || c == '+' || c == '-'):
		default:
			ok = false
		}
	}
	if !ok {
		return fmtlite.Errorf("invalid container id %q: use letters, digits and _ . + -", id)
	}
	return nil
}

func (s *State) Dir() string { return s.dir }

// OwnerName is the user who created the container: the one the record
// names, or, as runc has it, the owner of the container's state
// directory. Looked up when shown, so that create never reads the
// user database.
func (s *State) OwnerName() string {
	if s.Owner != "" {
		return s.Owner
	}
	var st unix.Stat_t
	if s.dir == "" || unix.Stat(s.dir, &st) != nil {
		return ""
	}
	uid := strconv.FormatUint(uint64(st.Uid), 10)
	if fields, ok := passwdEntry("/etc/passwd", uid); ok {
		return fields[0]
	}
	return uid
}

func (s *State) fifoPath() string { return filepath.Join(s.dir, fifoName) }

// save writes state.json through a temp file and rename so a crash never
// leaves half a record.
func (s *State) save() error {
	data, err := s.encode()
	if err != nil {
		return fmtlite.Errorf("save state of %s: %w", s.ID, err)
	}
	return atomicfile.Write(filepath.Join(s.dir, stateFile), data, 0o600)
}

// refresh derives the live status from the kernel, never from the file.
func (s *State) refresh() {
	switch {
	case s.Pid == 0:
		s.Status = StatusStopped
		if _, err := os.Stat(s.fifoPath()); err == nil {
			// Creation was interrupted before init existed.
			s.Status = StatusCreating
		}
	case !processAlive(s.Pid, s.PidStart):
		s.Status = StatusStopped
	default:
		if _, err := os.Stat(s.fifoPath()); err == nil {
			s.Status = StatusCreated
			return
		}
		s.Status = StatusRunning
		if m, err := cgroup.Load(s.Cgroup); err == nil {
			if frozen, err := m.Frozen(); err == nil && frozen {
				s.Status = StatusPaused
			}
		}
	}
}

// processAlive reports whether pid still names the process we started:
// alive, not a zombie, and with the same start time.
func processAlive(pid int, start uint64) bool {
	st, state, err := procStat(pid)
	if err != nil || state == 'Z' || state == 'X' {
		return false
	}
	return start == 0 || st == start
}

// procStat returns the start time (field 22) and state (field 3) of pid.
func procStat(pid int) (uint64, byte, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	// comm may hold spaces and parens; fields resume after the last ')'.
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 || i+2 >= len(data) {
		return 0, 0, fmtlite.Errorf("parse /proc/%d/stat", pid)
	}
	fields := strings.Fields(string(data[i+2:]))
	if len(fields) < 20 {
		return 0, 0, fmtlite.Errorf("parse /proc/%d/stat", pid)
	}
	start, err := strconv.ParseUint(fields[19], 10, 64)
	return start, fields[0][0], err
}

// SpecState is the state object of the runtime spec, as `state` prints it
// and hooks read it on stdin.
func (s *State) SpecState() specs.State {
	st := specs.State{
		Version:     specs.Version,
		ID:          s.ID,
		Status:      specs.ContainerState(s.Status),
		Bundle:      s.Bundle,
		Annotations: s.Annotations,
	}
	if s.Status != StatusStopped {
		st.Pid = s.Pid
	}
	return st
}

// lock takes an exclusive flock on the container's directory. The lock lives
// on the directory itself, so it disappears with it and is never leaked.
func lockDir(dir string) (func(), error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(fd, unix.LOCK_EX); err != nil {
		unix.Close(fd)
		return nil, fmtlite.Errorf("lock %s: %w", dir, err)
	}
	return func() { unix.Close(fd) }, nil
}
