package engine

import (
	"errors"
	"fmt"

	"pcr/image/layer"
)

// The container's storage is what its overlay stacks besides the overlay
// itself: the image's layers (idmapped with a user namespace) and its
// writable upper and work dirs (on its disk image with a StorageSize).

// createStorage readies the writable layer at create, after the bundle:
// owned by the container's root, on a disk image when asked for.
func (e *Engine) createStorage(dir string, rec *Record) error {
	if err := secureContainerDir(dir, &rec.Options); err != nil {
		return err
	}
	if len(rec.Options.UIDMap) > 0 {
		if err := e.makeReachable(&rec.Options); err != nil {
			return err
		}
	}
	if err := chownWritable(dir, &rec.Options); err != nil {
		return err
	}
	if rec.Options.StorageSize > 0 {
		if err := createDisk(dir, &rec.Options); err != nil {
			return err
		}
		e.trace.Stage("disk image of %d bytes made", rec.Options.StorageSize)
	}
	return nil
}

// mountOverlay mounts the container's overlay on target, with what it
// stacks (mountStorage), and undoes all of it when it fails. forRun is a
// start: the upper is there even for --read-only (the runtime makes its
// mountpoints), and on plain layers those mountpoints are made first.
// Otherwise (cp on a stopped container) --read-only mounts no upper.
func (e *Engine) mountOverlay(rec *Record, lowers []string, target string, forRun bool) error {
	o, idmapped, err := e.mountStorage(rec, lowers, target, !forRun && rec.Options.ReadOnly)
	if err != nil {
		return err
	}
	if err := layer.Mount(o); err != nil {
		e.unmountStorage(rec.ID)
		return fmt.Errorf("mount rootfs: %w", err)
	}
	if forRun && len(rec.Options.UIDMap) > 0 && !idmapped {
		if err := makeMountpoints(target, e.dir(rec.ID)); err != nil {
			e.unmountRootfs(rec.ID)
			return err
		}
	}
	return nil
}

// mountStorage mounts what the overlay on target stacks (the disk, the
// idmapped layers) and returns that overlay, and whether its layers are
// idmapped. Where idmapped mounts are unavailable the plain layers are
// used, and the trace says so. noUpper leaves the upper out.
func (e *Engine) mountStorage(rec *Record, lowers []string, target string, noUpper bool) (layer.Overlay, bool, error) {
	o := layer.Overlay{Lowers: lowers, Target: target}
	if err := secureContainerDir(e.dir(rec.ID), &rec.Options); err != nil {
		return o, false, err
	}
	if rec.Options.StorageSize > 0 {
		// The overlay is not mounted (callers check), so a mounted disk
		// is left from a run whose teardown failed: busy still, it may be
		// the upper of that run's lazily unmounted overlay, and a second
		// overlay on the same upper is undefined behaviour.
		if err := unmountDisk(e.dir(rec.ID)); err != nil {
			return o, false, fmt.Errorf("disk left mounted by the last run: %w", err)
		}
		// Mounted even without the upper: the /etc files are on it.
		if err := e.mountDisk(rec); err != nil {
			return o, false, err
		}
	}
	if !noUpper {
		o.Upper, o.Work = e.upperDir(rec), e.workDir(rec)
		// --rm: the upper goes with the container, so nothing need wait
		// for it to reach the disk (the unmount would, for each run). A
		// disk image is its own filesystem: its unmount syncs it anyway.
		o.Volatile = rec.Options.Rm && rec.Options.StorageSize == 0
	}
	if len(rec.Options.UIDMap) == 0 {
		return o, false, nil
	}
	mapped, err := e.idmapLowers(rec, lowers)
	switch {
	case err == nil:
		o.Lowers = mapped
		e.trace.Stage("%d layers idmapped", len(mapped))
		return o, true, nil
	case errors.Is(err, errIDMapUnsupported):
		e.trace.Stage("no idmapped layers (%v): the image's files stay owned by the host's IDs, unmapped inside", err)
		e.warnf("container %s: the image's files are owned by nobody inside, not by its root: %v", ShortID(rec.ID), err)
		return o, false, nil
	}
	e.unmountStorage(rec.ID)
	return o, false, err
}

// unmountStorage undoes mountStorage once the overlay is gone, from what
// is mounted (the record may be unreadable): each part tolerates being
// gone, so that every teardown path can call it.
func (e *Engine) unmountStorage(id string) error {
	dir := e.dir(id)
	var errs []error
	if err := unmountLowers(dir); err != nil {
		errs = append(errs, err)
	}
	if err := unmountDisk(dir); err != nil {
		errs = append(errs, err)
	}
	// Callers name the container.
	return errors.Join(errs...)
}
