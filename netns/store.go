package netns

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"

	"golang.org/x/sys/unix"

	"pcr/internal/atomicfile"
	"pcr/netns/firewall"
)

// store is the on-disk part of the manager: every network and every lease in
// one record, <root>/networks/networks.json, read and rewritten under one
// flock (<root>/networks/lock). One record keeps "take an address" and
// "which containers share this network" a single consistent read, and
// pcr's scale (hundreds of containers) keeps it small.
type store struct {
	dir string
}

// db is the content of networks.json.
type db struct {
	Networks map[string]*Network `json:"networks"`
	Leases   []lease             `json:"leases"`
}

// lease is one container's address on one network, with everything needed
// to release it without the container: its veth, its held netns, and (on
// its first network) its published ports.
type lease struct {
	Network     string                 `json:"network"`
	IP          netip.Addr             `json:"ip"`
	ContainerID string                 `json:"container"`
	Name        string                 `json:"name,omitempty"`
	Aliases     []string               `json:"aliases,omitempty"`
	Netns       string                 `json:"netns"`
	Index       int                    `json:"index"` // eth<Index> inside, the veth's suffix outside
	MAC         string                 `json:"mac"`
	Veth        string                 `json:"veth"`
	Ports       []firewall.PortMapping `json:"ports,omitempty"`
}

func (s *store) recordPath() string { return filepath.Join(s.dir, "networks.json") }

// lock takes the store's exclusive lock; the returned func releases it.
// flock is per open file, so goroutines of one process exclude each other
// as separate processes do.
func (s *store) lock() (func(), error) {
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return nil, fmt.Errorf("network store %s: %w", s.dir, err)
	}
	path := filepath.Join(s.dir, "lock")
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock network store: open %s: %w", path, err)
	}
	for {
		err = unix.Flock(fd, unix.LOCK_EX)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("lock network store %s: %w", path, err)
	}
	return func() { unix.Close(fd) }, nil
}

func (s *store) load() (*db, error) {
	d := &db{Networks: map[string]*Network{}}
	data, err := os.ReadFile(s.recordPath())
	if errors.Is(err, fs.ErrNotExist) {
		return d, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read network store: %w", err)
	}
	if err := json.Unmarshal(data, d); err != nil {
		return nil, fmt.Errorf("read network store %s: %w", s.recordPath(), err)
	}
	if d.Networks == nil {
		d.Networks = map[string]*Network{}
	}
	return d, nil
}

func (s *store) save(d *db) error {
	data, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return fmt.Errorf("write network store: %w", err)
	}
	return atomicfile.Write(s.recordPath(), data, 0o600)
}

// update runs fn on the store's content under the lock and writes the
// result back when fn succeeds; a failing fn changes nothing on disk.
func (s *store) update(fn func(d *db) error) error {
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	defer unlock()
	d, err := s.load()
	if err != nil {
		return err
	}
	if err := fn(d); err != nil {
		return err
	}
	return s.save(d)
}

// view runs fn on the store's content under the lock, writing nothing.
func (s *store) view(fn func(d *db) error) error {
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	defer unlock()
	d, err := s.load()
	if err != nil {
		return err
	}
	return fn(d)
}

func (d *db) leasesOf(id string) []lease {
	var out []lease
	for _, l := range d.Leases {
		if l.ContainerID == id {
			out = append(out, l)
		}
	}
	slices.SortFunc(out, func(a, b lease) int { return a.Index - b.Index })
	return out
}

func (d *db) leasesOn(network string) []lease {
	var out []lease
	for _, l := range d.Leases {
		if l.Network == network {
			out = append(out, l)
		}
	}
	return out
}

// release drops the leases of id for which keep is false.
func (d *db) release(id string, drop func(lease) bool) {
	d.Leases = slices.DeleteFunc(d.Leases, func(l lease) bool { return l.ContainerID == id && drop(l) })
}
