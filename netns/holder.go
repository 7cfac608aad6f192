package netns

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// A container's network namespace is held by a bind mount of its nsfs file
// on <state>/netns/<id>, so it outlives the processes in it and the runtime
// can join it by path (linux.namespaces[].path), as `ip netns add` does.

func (m *Manager) netnsPath(id string) string { return filepath.Join(m.nsDir, id) }

// isNetnsMount says whether path holds a network namespace (an nsfs mount).
func isNetnsMount(path string) bool {
	var st unix.Statfs_t
	return path != "" && unix.Statfs(path, &st) == nil && st.Type == unix.NSFS_MAGIC
}

// prepareNetnsDir makes <state>/netns a private bind mount of itself, like
// `ip netns` does with /run/netns: the nsfs mounts under it then never
// propagate into other mount namespaces (a shared /run would copy them
// into every peer, pinning namespaces after pcr unmounts them).
func (m *Manager) prepareNetnsDir() error {
	if err := os.MkdirAll(m.nsDir, 0o700); err != nil {
		return fmt.Errorf("netns dir %s: %w", m.nsDir, err)
	}
	mounted, err := mountinfo.Mounted(m.nsDir)
	if err != nil {
		return fmt.Errorf("netns dir %s: %w", m.nsDir, err)
	}
	if !mounted {
		if err := unix.Mount(m.nsDir, m.nsDir, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("netns dir %s: bind mount: %w", m.nsDir, err)
		}
	}
	if err := unix.Mount("", m.nsDir, "", unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("netns dir %s: make private: %w", m.nsDir, err)
	}
	return nil
}

// releaseNetnsDir unmounts <state>/netns once no namespace is held, so an
// engine with no bridged container leaves no mount behind (and its
// state dir can be removed).
func (m *Manager) releaseNetnsDir() error {
	entries, err := os.ReadDir(m.nsDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil || len(entries) > 0 {
		return err
	}
	if mounted, _ := mountinfo.Mounted(m.nsDir); mounted {
		if err := unix.Unmount(m.nsDir, unix.MNT_DETACH); err != nil {
			return fmt.Errorf("netns dir %s: unmount: %w", m.nsDir, err)
		}
	}
	return nil
}

// holdNetns makes a new network namespace held at path. The namespace is
// made by a locked thread that unshares, mounts and goes back to its own
// namespace; only then is it unlocked (if going back fails it stays
// locked, and Go throws the thread away instead of reusing it in the
// wrong namespace).
func holdNetns(path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
	if err != nil {
		return fmt.Errorf("hold netns %s: %w", path, err)
	}
	f.Close()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// The thread goes back to its namespace when done: a locked
		// goroutine that exits on the main thread leaves it wedged, not
		// gone, and it would pin the new namespace (and its veths) for the
		// life of the process, past Detach.
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- fmt.Errorf("open own netns: %w", err)
			return
		}
		defer orig.Close()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("unshare: %w", err)
			return
		}
		src := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
		err = unix.Mount(src, path, "", unix.MS_BIND, "")
		if unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		if err != nil {
			errc <- fmt.Errorf("bind mount %s: %w", src, err)
			return
		}
		errc <- nil
	}()
	if err := <-errc; err != nil {
		os.Remove(path)
		return fmt.Errorf("hold netns %s: %w", path, err)
	}
	return nil
}

// dropNetns unmounts and removes a held namespace; a missing one is not an
// error. The namespace itself dies when its last process exits.
func dropNetns(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && err != unix.EINVAL && err != unix.ENOENT {
		return fmt.Errorf("release netns %s: unmount: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("release netns %s: %w", path, err)
	}
	return nil
}
