// Package inroot resolves paths inside a container's root filesystem the
// way the container itself would see them: symlinks are followed with the
// rootfs as "/" (openat2 RESOLVE_IN_ROOT), so an image's absolute link such
// as /var/run -> /run resolves, and a hostile /etc -> ../../etc or
// /etc -> / never leads out of the rootfs to the host's files.
//
// The build (COPY, RUN's user and working directory) and the engine (exec's
// user, pcr cp) share it so both apply the same rules.
package inroot

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// OpenInRoot opens p, a path as the container sees it, inside root with
// open(2) flags (O_CLOEXEC is always added). Every component, symlinks
// included, resolves inside root; magic links (/proc/self/...) are refused.
// Errors are *os.PathError, so errors.Is(err, os.ErrNotExist) works.
func OpenInRoot(root, p string, flags int) (*os.File, error) {
	rfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: root, Err: err}
	}
	defer unix.Close(rfd)
	rel := relative(p)
	var fd int
	for {
		fd, err = unix.Openat2(rfd, rel, &unix.OpenHow{
			Flags:   uint64(flags | unix.O_CLOEXEC),
			Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
		})
		// openat2 asks for a retry when a rename raced the resolution.
		if err != unix.EAGAIN && err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: p, Err: err}
	}
	return os.NewFile(uintptr(fd), filepath.Join(root, rel)), nil
}

// relative turns a container path into one relative to the root.
func relative(p string) string {
	rel := strings.TrimLeft(path.Clean("/"+p), "/")
	if rel == "" {
		return "."
	}
	return rel
}

// Resolve returns the host path that p, a path as the container sees it,
// resolves to inside root, all symlinks (the last one too) followed. p must
// exist.
func Resolve(root, p string) (string, error) {
	f, err := OpenInRoot(root, p, unix.O_PATH)
	if err != nil {
		return "", err
	}
	defer f.Close()
	real, err := fdPath(f)
	if err != nil {
		return "", err
	}
	// root itself may be reached through a symlink: compare with its real
	// path, as the kernel reports it for the opened file.
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return "", err
	}
	if real != realRoot && !strings.HasPrefix(real, strings.TrimSuffix(realRoot, "/")+"/") {
		return "", fmt.Errorf("%s resolves to %s, outside the root %s", p, real, root)
	}
	return real, nil
}

func fdPath(f *os.File) (string, error) {
	real, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(f.Fd())))
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", f.Name(), err)
	}
	return real, nil
}

// MkdirAll makes sure directory p (a path as the container sees it) exists
// inside root, creating missing components with mode 0755 owned by uid:gid,
// and returns its host path. A component that exists and is not a
// directory, or is a dangling symlink, is an error: creating the symlink's
// target would be guessing.
func MkdirAll(root, p string, uid, gid int) (string, error) {
	cur, err := Resolve(root, "/")
	if err != nil {
		return "", err
	}
	rel := ""
	for _, comp := range strings.Split(path.Clean("/"+p), "/") {
		if comp == "" {
			continue
		}
		rel += "/" + comp
		hp, err := Resolve(root, rel)
		if err == nil {
			fi, err := os.Stat(hp)
			if err != nil {
				return "", err
			}
			if !fi.IsDir() {
				return "", fmt.Errorf("%s exists and is not a directory", rel)
			}
			cur = hp
			continue
		}
		if !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		hp = filepath.Join(cur, comp)
		if fi, lerr := os.Lstat(hp); lerr == nil && fi.Mode()&os.ModeSymlink != 0 {
			return "", fmt.Errorf("create %s: it is a symlink to a missing directory", rel)
		}
		if err := os.Mkdir(hp, 0o755); err != nil {
			return "", fmt.Errorf("create %s: %w", rel, err)
		}
		if err := os.Lchown(hp, uid, gid); err != nil {
			return "", fmt.Errorf("create %s: %w", rel, err)
		}
		cur = hp
	}
	return cur, nil
}

// Exists tells whether p (a path as the container sees it) exists inside
// root, without following a final symlink: a dangling link exists.
func Exists(root, p string) bool {
	clean := path.Clean("/" + p)
	if clean == "/" {
		_, err := Resolve(root, "/")
		return err == nil
	}
	dir, err := Resolve(root, path.Dir(clean))
	if err != nil {
		return false
	}
	_, err = os.Lstat(filepath.Join(dir, path.Base(clean)))
	return err == nil
}
