package cgroup

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"time"

	"golang.org/x/sys/unix"

	"pcr/internal/fmtlite"
)

// mkdirAll creates dir and its missing parents and appends every directory
// it made to made, parents first. The common case (parent exists) is a
// single mkdir; a directory another process creates meanwhile is not ours
// and is not recorded.
func mkdirAll(dir string, made []string, mkdir func(string) error) ([]string, error) {
	err := mkdir(dir)
	if err == nil {
		return append(made, dir), nil
	}
	if err == unix.EEXIST {
		return made, nil
	}
	parent := filepath.Dir(dir)
	if err != unix.ENOENT || parent == dir {
		return made, &os.PathError{Op: "mkdir", Path: dir, Err: err}
	}
	if made, err = mkdirAll(parent, made, mkdir); err != nil {
		return made, err
	}
	if err := mkdir(dir); err != nil {
		if err == unix.EEXIST {
			return made, nil
		}
		return made, &os.PathError{Op: "mkdir", Path: dir, Err: err}
	}
	return append(made, dir), nil
}

// kernelMkdir creates a cgroup and returns a bare errno; tests swap in one that also writes the
// files cgroupfs would show, since a fixture tree is a plain directory.
func kernelMkdir(dir string) error { return unix.Mkdir(dir, 0o755) }

func kernelRmdir(dir string) error { return unix.Rmdir(dir) }

// removeCreated removes the directories pcr made, children first. A leaf
// (a container cgroup) must go: its processes may still be exiting, so EBUSY
// is retried for a bounded time. A shared parent such as "pcr" is removed
// only when it is empty; another container still using it is not an error.
func removeCreated(created []string, isLeaf func(string) bool, rmdir func(string) error) error {
	var errs []error
	for i := len(created) - 1; i >= 0; i-- {
		dir := created[i]
		if !isLeaf(dir) {
			if err := removeSharedParent(dir, rmdir); err != nil {
				errs = append(errs, &os.PathError{Op: "rmdir", Path: dir, Err: err})
			}
			continue
		}
		if err := removeLeaf(dir, rmdir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// removeSharedParent removes a parent such as "pcr" when no container
// cgroup is left below it. Another container's cgroup there is not an
// error. With no child left, EBUSY is the kernel still accounting a child
// removed a moment ago (its last task exiting), so it is retried briefly:
// the last container deleted must not leave the parent behind.
func removeSharedParent(dir string, rmdir func(string) error) error {
	deadline := time.Now().Add(500 * time.Millisecond)
	for {
		err := rmdir(dir)
		switch err {
		case nil, unix.ENOENT, unix.ENOTEMPTY, unix.EEXIST:
			return nil
		case unix.EBUSY:
			if subs, serr := subdirs(dir); serr != nil || len(subs) > 0 || time.Now().After(deadline) {
				return nil
			}
			time.Sleep(5 * time.Millisecond)
		default:
			return err
		}
	}
}

// removeLeaf also removes cgroups the container made below its own (systemd
// inside a container does that); they lie inside a cgroup pcr created.
func removeLeaf(dir string, rmdir func(string) error) error {
	subs, err := subdirs(dir)
	if err != nil {
		return fmtlite.Errorf("remove cgroup %s: %w", dir, err)
	}
	for _, s := range subs {
		if err := removeLeaf(filepath.Join(dir, s), rmdir); err != nil {
			return err
		}
	}
	delay := time.Millisecond
	deadline := time.Now().Add(2 * time.Second)
	for {
		err := rmdir(dir)
		if err == nil || err == unix.ENOENT {
			return nil
		}
		if err != unix.EBUSY || time.Now().After(deadline) {
			return fmtlite.Errorf("remove cgroup: %w", &os.PathError{Op: "rmdir", Path: dir, Err: err})
		}
		time.Sleep(delay)
		if delay < 100*time.Millisecond {
			delay *= 2
		}
	}
}

// waitFor polls done with a growing delay until it reports true or the
// bound passes; freezing is asynchronous in both cgroup versions.
func waitFor(bound time.Duration, done func() (bool, error)) (bool, error) {
	delay := 100 * time.Microsecond
	deadline := time.Now().Add(bound)
	for {
		ok, err := done()
		if ok || err != nil {
			return ok, err
		}
		if time.Now().After(deadline) {
			return false, nil
		}
		time.Sleep(delay)
		if delay < 50*time.Millisecond {
			delay *= 2
		}
	}
}

// WithSharedParents puts the shared parent of each container cgroup in
// paths (pcr's default "pcr/<id>" layout) before created, as Apply records
// them: for a create to record, ahead of Apply, what its delete must try
// to remove, even if the create is killed before it saves again.
func WithSharedParents(created []string, paths map[string]string) []string {
	leaves := make([]string, 0, len(paths))
	for _, d := range paths {
		leaves = append(leaves, d)
	}
	slices.Sort(leaves)
	return withSharedParents(created, nil, slices.Compact(leaves))
}

// withSharedParents puts the parent of each leaf before made when pcr's own
// default path ("pcr/<id>") is in use: that parent is pcr's, whoever made
// it, so every container records it and the last one deleted removes it
// (removeCreated skips a parent that is not empty yet).
func withSharedParents(made, created, leaves []string) []string {
	var parents []string
	for _, leaf := range leaves {
		p := filepath.Dir(leaf)
		if !slices.Contains(made, p) && !slices.Contains(created, p) && !slices.Contains(parents, p) {
			parents = append(parents, p)
		}
	}
	return append(parents, made...)
}
