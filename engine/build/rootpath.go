package build

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

// Paths inside an image are resolved the way the container would see them:
// symlinks followed with the rootfs as "/" (openat2 RESOLVE_IN_ROOT), so an
// image's absolute link such as /var/run -> /run, or a hostile
// /etc -> /../../host, never leads out of the step's overlay.

// openInRoot opens p (an image path) inside root.
func openInRoot(root, p string, flags int) (*os.File, error) {
	rfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: root, Err: err}
	}
	defer unix.Close(rfd)
	rel := strings.TrimLeft(path.Clean("/"+p), "/")
	if rel == "" {
		rel = "."
	}
	var fd int
	for {
		fd, err = unix.Openat2(rfd, rel, &unix.OpenHow{
			Flags:   uint64(flags | unix.O_CLOEXEC),
			Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
		})
		if err != unix.EAGAIN && err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: p, Err: err}
	}
	return os.NewFile(uintptr(fd), filepath.Join(root, rel)), nil
}

// resolveInRoot returns the host path p resolves to inside root.
func resolveInRoot(root, p string) (string, error) {
	f, err := openInRoot(root, p, unix.O_PATH)
	if err != nil {
		return "", err
	}
	defer f.Close()
	real, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(f.Fd())))
	if err != nil {
		return "", err
	}
	if real != root && !strings.HasPrefix(real, root+"/") {
		return "", fmt.Errorf("%s resolves to %s, outside the image root", p, real)
	}
	return real, nil
}

// mkdirAllInRoot makes sure image directory p exists inside root, creating
// missing components with mode 0755 owned by uid:gid, and returns its host path.
func mkdirAllInRoot(root, p string, uid, gid int) (string, error) {
	cur := root
	rel := ""
	for _, comp := range strings.Split(path.Clean("/"+p), "/") {
		if comp == "" {
			continue
		}
		rel += "/" + comp
		hp, err := resolveInRoot(root, rel)
		if err == nil {
			fi, err := os.Stat(hp)
			if err != nil {
				return "", err
			}
			if !fi.IsDir() {
				return "", fmt.Errorf("%s exists in the image and is not a directory", rel)
			}
			cur = hp
			continue
		}
		if !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		hp = filepath.Join(cur, comp)
		if fi, lerr := os.Lstat(hp); lerr == nil && fi.Mode()&os.ModeSymlink != 0 {
			return "", fmt.Errorf("create %s in the image: it is a symlink to a missing directory", rel)
		}
		if err := os.Mkdir(hp, 0o755); err != nil {
			return "", fmt.Errorf("create %s in the image: %w", rel, err)
		}
		if err := os.Lchown(hp, uid, gid); err != nil {
			return "", err
		}
		cur = hp
	}
	return cur, nil
}

// existsInRoot tells whether image path p exists (without following a
// final symlink).
func existsInRoot(root, p string) bool {
	dir, err := resolveInRoot(root, path.Dir(path.Clean("/"+p)))
	if err != nil {
		return false
	}
	_, err = os.Lstat(filepath.Join(dir, path.Base(path.Clean("/"+p))))
	return err == nil
}
