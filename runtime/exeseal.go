package runtime

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"pcr/internal/fmtlite"
)

// CVE-2019-5736: the init and exec children run the runtime's own binary
// (pcr-init, or pcr-oci itself) inside the container's namespaces until they
// exec the payload. A container process that opens /proc/<child>/exe then
// holds the host's binary, and root in the container could rewrite it for
// the next container. So the child runs a sealed copy: the binary opened
// through a read-only overlay mount that exists nowhere in any mount table
// (writes fail with EROFS), or, where overlayfs cannot be mounted, a memfd
// copy sealed against writes. runc does the same (libcontainer/exeseal).

// sealExe returns path opened read-only through a sealed view: an fd that
// can be exec'd (by /proc/self/fd/N) but whose file no one can write. root
// is the runtime's state root: overlayfs wants a second lower layer when it
// has no upper one, and any directory that neither holds nor sits in the
// binary's will do, below the binary's, which wins every name.
func sealExe(path, root string) (*os.File, error) {
	real := path
	if path == selfExe {
		p, err := os.Readlink(path)
		if err != nil {
			return nil, fmtlite.Errorf("seal %s: %w", path, err)
		}
		real = p
	}
	f, overlayErr := sealByOverlay(real, root)
	if overlayErr == nil {
		return f, nil
	}
	f, err := sealByCopy(path)
	if err != nil {
		return nil, fmtlite.Errorf("seal %s: read-only overlay: %v; sealed copy: %w", real, overlayErr, err)
	}
	return f, nil
}

// sealByOverlay opens path through a detached read-only overlay of its
// directory over below. The mount is never attached: it lives as long as
// the file.
func sealByOverlay(path, below string) (*os.File, error) {
	if !filepath.IsAbs(path) {
		return nil, fmtlite.Errorf("%q is not an absolute path", path)
	}
	// Layers may not hold one another: say so here rather than in the
	// kernel's log on every spawn (a binary in /, a state root below it).
	if dir := filepath.Dir(path); within(below, dir) || within(dir, below) {
		return nil, fmtlite.Errorf("the binary's directory %s and %s overlap", dir, below)
	}
	fsfd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return nil, fmtlite.Errorf("fsopen overlay: %w", err)
	}
	defer unix.Close(fsfd)
	dir := filepath.Dir(path)
	if err := unix.FsconfigSetString(fsfd, "lowerdir", escapeOverlayPath(dir)+":"+escapeOverlayPath(below)); err != nil {
		return nil, fmtlite.Errorf("overlay lowerdir %s: %w", dir, err)
	}
	// No inode number extension: it would log about the layers' filesystems
	// on every spawn, and nothing here compares inode numbers. Older kernels
	// without the option still mount.
	_ = unix.FsconfigSetString(fsfd, "xino", "off")
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return nil, fmtlite.Errorf("overlay of %s: %w", dir, err)
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV)
	if err != nil {
		return nil, fmtlite.Errorf("fsmount overlay of %s: %w", dir, err)
	}
	defer unix.Close(mfd)
	fd, err := unix.Openat(mfd, filepath.Base(path), unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, fmtlite.Errorf("open %s in its sealed overlay: %w", path, err)
	}
	f := os.NewFile(uintptr(fd), path)
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmtlite.Errorf("%s in its sealed overlay is not a regular file", path)
	}
	return f, nil
}

// escapeOverlayPath escapes the characters overlayfs's lowerdir option
// splits on.
func escapeOverlayPath(p string) string {
	out := make([]byte, 0, len(p))
	for i := 0; i < len(p); i++ {
		if p[i] == ':' || p[i] == ',' || p[i] == '\\' {
			out = append(out, '\\')
		}
		out = append(out, p[i])
	}
	return string(out)
}

// sealByCopy copies path into a memfd and seals it against any change.
func sealByCopy(path string) (*os.File, error) {
	src, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	// MFD_EXEC, where vm.memfd_noexec would otherwise make the copy
	// unexecutable (Linux 6.3 on); older kernels refuse the flag.
	fd, err := unix.MemfdCreate("pcr-init", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING|unix.MFD_EXEC)
	if errors.Is(err, unix.EINVAL) {
		fd, err = unix.MemfdCreate("pcr-init", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	}
	if err != nil {
		return nil, fmtlite.Errorf("memfd_create: %w", err)
	}
	mem := os.NewFile(uintptr(fd), "pcr-init (sealed copy)")
	if _, err := io.Copy(mem, src); err != nil {
		mem.Close()
		return nil, fmtlite.Errorf("copy into memfd: %w", err)
	}
	seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(mem.Fd(), unix.F_ADD_SEALS, seals); err != nil {
		mem.Close()
		return nil, fmtlite.Errorf("seal memfd: %w", err)
	}
	return mem, nil
}

// within tells whether path is dir or below it.
func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}
