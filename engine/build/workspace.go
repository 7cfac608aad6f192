package build

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"

	"pcr/image"
	"pcr/image/layer"
	"pcr/runtime"
)

// workspace is one step's writable view of the current image: an overlay
// of its layers with a fresh upper directory, mounted on rootfs. Whatever
// the step writes lands in upper, which becomes the step's layer.
type workspace struct {
	dir                 string // <root>/build/tmp-<hex>
	hex                 string
	upper, work, rootfs string
	mounted             bool
}

// containerID is the RUN container's name, derived from the workspace so a
// sweep can find the container of a killed build.
func (w *workspace) containerID() string { return "build-" + w.hex }

// newWorkspace mounts a writable overlay of img (nil: an empty root).
func (b *builder) newWorkspace() (w *workspace, err error) {
	rnd := make([]byte, 6)
	rand.Read(rnd)
	h := hex.EncodeToString(rnd)
	dir := filepath.Join(b.o.WorkRoot, "tmp-"+h)
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create workspace: %w", err)
	}
	w = &workspace{dir: dir, hex: h, upper: filepath.Join(dir, "upper"), work: filepath.Join(dir, "work"), rootfs: filepath.Join(dir, "rootfs")}
	defer func() {
		if err != nil {
			w.remove()
		}
	}()
	for _, d := range []string{w.upper, w.work, w.rootfs} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return nil, fmt.Errorf("create workspace: %w", err)
		}
	}
	var lowers []string
	if b.img != nil {
		lowers = b.o.Store.LowerDirs(b.img)
	}
	if len(lowers) == 0 {
		// FROM scratch: overlay wants a lower, so an empty one.
		empty := filepath.Join(dir, "empty")
		if err := os.Mkdir(empty, 0o755); err != nil {
			return nil, fmt.Errorf("create workspace: %w", err)
		}
		lowers = []string{empty}
	}
	if err := layer.Mount(layer.Overlay{Lowers: lowers, Upper: w.upper, Work: w.work, Target: w.rootfs}); err != nil {
		return nil, fmt.Errorf("mount overlay for step: %w", err)
	}
	w.mounted = true
	return w, nil
}

func (w *workspace) unmount() error {
	if !w.mounted {
		return nil
	}
	if err := layer.Unmount(w.rootfs); err != nil {
		return fmt.Errorf("unmount step overlay %s: %w", w.rootfs, err)
	}
	w.mounted = false
	return nil
}

// remove unmounts and deletes the workspace; it is safe to call twice.
func (w *workspace) remove() error {
	err := w.unmount()
	if err != nil {
		// Never delete through a live mount: that would empty the image's layers.
		return err
	}
	if rerr := os.RemoveAll(w.dir); rerr != nil {
		return fmt.Errorf("remove workspace: %w", rerr)
	}
	return nil
}

// upperEmpty tells whether the step changed nothing.
func (w *workspace) upperEmpty() (bool, error) {
	entries, err := os.ReadDir(w.upper)
	if err != nil {
		return false, err
	}
	return len(entries) == 0, nil
}

// commitLayer unmounts w, streams its upper directory as a layer into a new
// image on top of the current one, and records it in the cache under key.
func (b *builder) commitLayer(w *workspace, key string, hist ocispec.History) error {
	if err := w.unmount(); err != nil {
		return err
	}
	pr, pw := io.Pipe()
	diffDone := make(chan error, 1)
	go func() {
		err := layer.Diff(pw, w.upper)
		pw.CloseWithError(err)
		diffDone <- err
	}()
	img, err := b.o.Store.CreateImage(image.NewImage{
		Parent: b.img, Layer: pr, Config: b.cfg, History: hist, Author: b.author,
	})
	// Unblocks Diff if the store stopped reading early.
	pr.CloseWithError(errors.New("layer not read to the end"))
	if derr := <-diffDone; derr != nil && err == nil {
		err = fmt.Errorf("diff %s: %w", w.upper, derr)
	}
	if err != nil {
		return err
	}
	return b.stepDone(key, img)
}

// sweepLeftovers removes the workspaces and RUN containers of builds that
// were killed. It runs only when no other build holds the shared lock, and
// returns with lock held shared again, whatever happened.
//
// Linux converts a flock by dropping the old lock first, so a failed
// upgrade leaves this build holding nothing: it must take the shared lock
// again, or a later build would see no holder and sweep our live
// workspaces. Nothing of ours exists yet while it is dropped, so a sweep by
// another build in that window is harmless.
func sweepLeftovers(lock *os.File, workRoot string, rt *runtime.Runtime) (err error) {
	if err := flock(lock, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		if !errors.Is(err, unix.EWOULDBLOCK) {
			return fmt.Errorf("build: lock %s for the sweep: %w", lock.Name(), err)
		}
		// Another build is running; its workspaces are live.
		if err := flock(lock, unix.LOCK_SH); err != nil {
			return fmt.Errorf("build: lock %s: %w", lock.Name(), err)
		}
		return nil
	}
	defer func() {
		if lerr := flock(lock, unix.LOCK_SH); lerr != nil && err == nil {
			err = fmt.Errorf("build: lock %s: %w", lock.Name(), lerr)
		}
	}()
	return sweepWorkspaces(workRoot, rt)
}

// sweepWorkspaces removes every workspace under workRoot and its RUN
// container; the caller holds the builds' lock exclusively.
func sweepWorkspaces(workRoot string, rt *runtime.Runtime) error {
	entries, err := os.ReadDir(workRoot)
	if err != nil {
		return fmt.Errorf("build: sweep %s: %w", workRoot, err)
	}
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() || !strings.HasPrefix(name, "tmp-") {
			continue
		}
		w := &workspace{dir: filepath.Join(workRoot, name), hex: strings.TrimPrefix(name, "tmp-")}
		w.rootfs = filepath.Join(w.dir, "rootfs")
		if _, err := rt.Load(w.containerID()); err == nil {
			if err := rt.Delete(w.containerID(), true); err != nil {
				return fmt.Errorf("build: remove leftover container %s: %w", w.containerID(), err)
			}
		}
		w.mounted = layer.IsMountPoint(w.rootfs)
		if err := w.remove(); err != nil {
			return fmt.Errorf("build: remove leftover workspace: %w", err)
		}
	}
	return nil
}
