package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"syscall"
)

// PruneContainers removes every container that is not running (exited,
// created, dead) and returns their ids and the bytes their directories
// held. Each is checked again under its lock, so one started meanwhile is
// left alone.
func (e *Engine) PruneContainers() ([]string, int64, error) {
	list, err := e.List(true)
	if err != nil {
		return nil, 0, err
	}
	var removed []string
	var total int64
	var errs []error
	for _, c := range list {
		if c.State.Running {
			continue
		}
		size, ok, err := e.removeIfStopped(c.ID)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ok {
			removed = append(removed, c.ID)
			total += size
		}
	}
	if err := e.sweepNetworks(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return removed, total, fmt.Errorf("container prune: %w", errors.Join(errs...))
	}
	return removed, total, nil
}

func (e *Engine) removeIfStopped(id string) (int64, bool, error) {
	dir := e.dir(id)
	unlock, err := lockContainer(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || !exists(dir) {
			return 0, false, nil // removed meanwhile
		}
		return 0, false, err
	}
	defer unlock()
	c, err := e.load(id)
	if err != nil || c.State.Running {
		return 0, false, nil
	}
	size := removedSize(dir)
	if err := e.teardown(id); err != nil {
		return 0, false, fmt.Errorf("remove container %s: %w", ShortID(id), err)
	}
	if err := e.removeFiles(id, c.Name); err != nil {
		return 0, false, err
	}
	return size, true, nil
}

// DirSize is the size of the files under dir (apparent sizes, as Docker
// reports a container's size; each inode counted once), staying on dir's filesystem so that a mount
// below it (a running container's rootfs) is not counted.
func DirSize(dir string) int64 {
	var root syscall.Stat_t
	if syscall.Lstat(dir, &root) != nil {
		return 0
	}
	seen := map[uint64]bool{}
	var total int64
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		var st syscall.Stat_t
		if syscall.Lstat(p, &st) != nil {
			return nil
		}
		if st.Dev != root.Dev {
			return filepath.SkipDir
		}
		if d.IsDir() {
			return nil
		}
		if st.Nlink > 1 {
			if seen[st.Ino] {
				return nil
			}
			seen[st.Ino] = true
		}
		total += st.Size
		return nil
	})
	return total
}
