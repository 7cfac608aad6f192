package vserver

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"pcr/cgroup"
)

// CgroupParent is the cgroup (relative to pcr's base) that a node manager
// puts root's vservers in, limited by the node's reserve: one per root,
// so two node managers on a machine never share it.
func CgroupParent(root string) string {
	sum := sha256.Sum256([]byte(root))
	return "pcr/vservers-" + hex.EncodeToString(sum[:4])
}

// AdoptCgroupParent is a cgroup manager for an existing vservers' parent,
// owning its directories (and pcr's shared parent above): it is named
// after a root, so a node manager of that root made it, and pcr may limit
// and remove it. It creates nothing.
func AdoptCgroupParent(path string) (cgroup.Manager, error) {
	host, err := cgroup.DetectHost()
	if err != nil {
		return nil, err
	}
	m, err := host.New(path, "")
	if err != nil {
		return nil, err
	}
	st := m.State()
	var dirs []string
	for _, d := range st.Paths {
		dirs = append(dirs, d)
	}
	slices.Sort(dirs)
	dirs = slices.Compact(dirs)
	var created []string
	for _, d := range dirs {
		if p := filepath.Dir(d); !slices.Contains(created, p) {
			created = append(created, p)
		}
	}
	st.Created = append(created, dirs...)
	return cgroup.Load(st)
}

// RemoveCgroupParentIfEmpty removes a vservers' parent cgroup when no
// vserver is left in it (the last vserver removed after its node manager
// stopped); while one is, it stays, limits and all, for the next node
// manager. It reports whether it removed it.
func RemoveCgroupParentIfEmpty(m cgroup.Manager) (bool, error) {
	for _, d := range m.State().Paths {
		ents, err := os.ReadDir(d)
		if err != nil {
			if os.IsNotExist(err) {
				continue
			}
			return false, err
		}
		for _, e := range ents {
			if e.IsDir() {
				return false, nil
			}
		}
		if procs, _ := os.ReadFile(filepath.Join(d, "cgroup.procs")); len(strings.TrimSpace(string(procs))) > 0 {
			return false, nil
		}
	}
	if err := m.Delete(); err != nil {
		return false, fmt.Errorf("remove the vservers' cgroup: %w", err)
	}
	return true, nil
}

// releaseCgroupParent removes the node manager's parent cgroup of this
// root once its last vserver is gone, when no node manager runs (one
// that runs keeps it, limits and all, and removes it at its shutdown).
// The daemon's lock on <root>/node.lock tells; it is held here only for
// the check and the removal.
func (m *Manager) releaseCgroupParent(parent string) {
	if parent == "" || parent != CgroupParent(m.eng.Root()) {
		return
	}
	fd, err := unix.Open(filepath.Join(m.eng.Root(), "node.lock"), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err == nil {
		defer unix.Close(fd)
		if unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB) != nil {
			return // a node manager runs
		}
	}
	cm, err := AdoptCgroupParent(parent)
	if err == nil {
		_, err = RemoveCgroupParentIfEmpty(cm)
	}
	if err != nil {
		m.log.Warn("vservers' cgroup left", "cgroup", parent, "error", err)
	}
}
