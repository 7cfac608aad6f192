package vserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"pcr/internal/atomicfile"
)

// OriginAdmin marks a vserver the node's admin made by hand (pcr vserver
// create); the node manager never removes those as "no longer assigned".
const OriginAdmin = "admin"

// Vserver states as ls shows them. Running and stopped come from the
// container; the others are the record's own.
const (
	StateCreating = "creating"
	StateRunning  = "running"
	StateStopped  = "stopped"
	StateRefused  = "refused"
	StateFailed   = "failed"
)

// Spec is what a slice asks of this node: the desired vserver.
type Spec struct {
	Slice string `json:"slice"`
	Image string `json:"image"`
	Rspec Rspec  `json:"rspec"`
	// Expires is when the node stops and removes the vserver; zero never.
	Expires time.Time `json:"expires,omitzero"`
	// Network is the engine network it joins; empty is pcr's default.
	Network string   `json:"network,omitempty"`
	Volumes []string `json:"volumes,omitempty"`
	// Overlay is its place on the slice's network across nodes, joined
	// beside Network; nil for none.
	Overlay *Overlay `json:"overlay,omitempty"`
	// Stopped is the source's wish that the vserver not run (a slice
	// stopped at its authority); on a record it says the source stopped
	// it, so the node manager does not take it for crashed.
	Stopped bool `json:"stopped,omitempty"`
	// RestartGeneration grows with each restart the source asks for; a
	// record keeps the generation last applied.
	RestartGeneration int64 `json:"restartGeneration,omitempty"`
}

// VServer is a vserver as ls and inspect show it: the record, with the
// state of its container read when it was listed.
type VServer struct {
	Spec
	// Origin is OriginAdmin or the name of the source that assigned it.
	Origin string `json:"origin"`
	// Applied is what the kernel enforces: the rspec after the node's caps.
	Applied Rspec  `json:"applied"`
	State   string `json:"state"`
	// Reason says in plain words why it is refused, failed, capped or
	// stopped by the node.
	Reason      string `json:"reason,omitempty"`
	ContainerID string `json:"containerId,omitempty"`
	// HostUID is the host UID (and GID) that root in the vserver is; the
	// range is IDSize long.
	HostUID uint32    `json:"hostUid,omitempty"`
	IDSize  uint32    `json:"idSize,omitempty"`
	Created time.Time `json:"created"`
	// Held says the admin stopped it: the node manager leaves it stopped.
	Held      bool      `json:"held,omitempty"`
	Restarts  int       `json:"restarts,omitempty"`
	Pid       int       `json:"pid,omitempty"`
	StartedAt time.Time `json:"startedAt,omitzero"`
	ExitCode  int       `json:"exitCode,omitempty"`
	IPAddress string    `json:"ipAddress,omitempty"`
	// status is the stored state (creating, refused, failed or empty).
	Status string `json:"status,omitempty"`
}

func (m *Manager) recordPath(slice string) string { return filepath.Join(m.dir, slice+".json") }

func (m *Manager) readRecord(slice string) (*VServer, error) {
	data, err := os.ReadFile(m.recordPath(slice))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, slice)
	}
	if err != nil {
		return nil, err
	}
	v := &VServer{}
	if err := json.Unmarshal(data, v); err != nil {
		return nil, fmt.Errorf("parse vserver record %s: %w", m.recordPath(slice), err)
	}
	return v, nil
}

func (m *Manager) writeRecord(v *VServer) error {
	stored := *v
	// Live fields are read from the container each time, never stored.
	stored.State, stored.Pid, stored.StartedAt, stored.ExitCode, stored.IPAddress = "", 0, time.Time{}, 0, ""
	data, err := json.MarshalIndent(&stored, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(m.recordPath(v.Slice), data, 0o600)
}

func (m *Manager) slices() ([]string, error) {
	ents, err := os.ReadDir(m.dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if n, ok := strings.CutSuffix(e.Name(), ".json"); ok && ValidateSlice(n) == nil {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out, nil
}

// lock takes the manager's lock, held for short record and range changes.
func (m *Manager) lock() (func(), error) { return flock(filepath.Join(m.dir, ".lock")) }

// lockSlice serializes the operations on one vserver (create, start,
// stop, update, remove) between the node manager and direct CLI use.
// A slice with no record (an operation on a missing slice, a failed
// create, a removal) has its lock file removed as the lock is released,
// so that nothing of it is left.
func (m *Manager) lockSlice(slice string) (func(), error) {
	path := filepath.Join(m.dir, "locks", slice)
	unlock, err := flock(path)
	if err != nil {
		return nil, err
	}
	return func() {
		if _, err := os.Stat(m.recordPath(slice)); errors.Is(err, os.ErrNotExist) {
			os.Remove(path)
		}
		unlock()
	}, nil
}

func flock(path string) (func(), error) {
	for {
		fd, err := unix.Open(path, unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if err := unix.Flock(fd, unix.LOCK_EX); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		// The holder we waited for may have removed the file: a lock on
		// that orphan excludes no one who opens the path now.
		var held, now unix.Stat_t
		if unix.Fstat(fd, &held) == nil && unix.Stat(path, &now) == nil && held.Dev == now.Dev && held.Ino == now.Ino {
			return func() { unix.Close(fd) }, nil
		}
		unix.Close(fd)
	}
}
