package runtime

import (
	"errors"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"pcr/internal/fmtlite"
)

// prepareRootfs builds the container's mount tree in its new mount
// namespace and switches root into it. Order matters:
// propagation of / → bind rootfs → spec mounts → /dev → hooks → pivot_root.
func (p *initProc) prepareRootfs() error {
	spec, rootfs := p.cfg.Spec, p.cfg.Rootfs
	prop, setupProp, err := rootfsPropagation(spec)
	if err != nil {
		return err
	}
	if err := unix.Mount("", "/", "", setupProp, ""); err != nil {
		return fmtlite.Errorf("set propagation of / to %s: %w", spec.Linux.RootfsPropagation, err)
	}
	if err := makeParentMountPrivate(rootfs); err != nil {
		return err
	}
	if err := unix.Mount(rootfs, rootfs, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmtlite.Errorf("bind rootfs %s: %w", rootfs, err)
	}
	p.trace.Stage("rootfs %s bound, / made %s", rootfs, orDefault(spec.Linux.RootfsPropagation, "rslave"))
	devBound := false
	for _, m := range spec.Mounts {
		if err := p.mountEntry(m); err != nil {
			return err
		}
		if m.Destination == "/dev" && isBind(m) {
			devBound = true
		}
		p.trace.Stage("mounted %s on %s", orDefault(m.Type, "bind"), m.Destination)
	}
	if !devBound {
		if err := p.setupDev(); err != nil {
			return err
		}
		p.trace.Stage("/dev populated (%d default, %d spec devices)", len(defaultDevices), len(spec.Linux.Devices))
	}
	if h := spec.Hooks; h != nil && (len(h.Prestart) > 0 || len(h.CreateRuntime) > 0) {
		if err := p.sock.send(syncMsg{Type: msgHooks}); err != nil {
			return err
		}
		m, _, err := p.sock.recv()
		if err != nil || m.Type != msgHooksDone {
			return fmtlite.Errorf("wait for parent's hooks: %v %s", err, m.Error)
		}
	}
	if h := spec.Hooks; h != nil && len(h.CreateContainer) > 0 {
		if err := runHooks("createContainer", h.CreateContainer, p.hookState(specs.StateCreating)); err != nil {
			return err
		}
	}
	if p.cfg.NoPivot {
		if err := moveRoot(rootfs); err != nil {
			return err
		}
		p.trace.Stage("root moved and chrooted (--no-pivot)")
	} else {
		if err := pivotRoot(rootfs); err != nil {
			return err
		}
		p.trace.Stage("pivot_root done")
	}
	if prop&unix.MS_SHARED != 0 {
		if err := unix.Mount("", "/", "", prop, ""); err != nil {
			return fmtlite.Errorf("set propagation of / to %s: %w", spec.Linux.RootfsPropagation, err)
		}
	}
	return nil
}

// rootfsPropagation is linux.rootfsPropagation as mount flags (rslave by
// default), and what / gets while the tree is built: pivot_root and MS_MOVE
// refuse shared mounts around the new root, so a shared root is built
// private and made shared once it is in place.
func rootfsPropagation(spec *specs.Spec) (prop, setup uintptr, err error) {
	prop = unix.MS_SLAVE | unix.MS_REC
	if spec.Linux.RootfsPropagation != "" {
		f, ok := propagationFlags[spec.Linux.RootfsPropagation]
		if !ok {
			return 0, 0, fmtlite.Errorf("linux.rootfsPropagation %q is not a propagation mode", spec.Linux.RootfsPropagation)
		}
		prop = f
	}
	setup = prop
	if prop&unix.MS_SHARED != 0 {
		setup = unix.MS_PRIVATE | unix.MS_REC
	}
	return prop, setup, nil
}

// finishRootfs applies what must happen after pivot_root and after /proc
// exists: masked and read-only paths, then a read-only root.
func (p *initProc) finishRootfs() error {
	l := p.cfg.Spec.Linux
	for _, path := range l.MaskedPaths {
		if err := maskPath(path); err != nil {
			return err
		}
	}
	for _, path := range l.ReadonlyPaths {
		if err := readonlyPath(path); err != nil {
			return err
		}
	}
	if p.cfg.Spec.Root.Readonly {
		if err := remountReadonly("/"); err != nil {
			return fmtlite.Errorf("make root read-only: %w", err)
		}
	}
	p.trace.Stage("%d paths masked, %d read-only, root readonly=%v", len(l.MaskedPaths), len(l.ReadonlyPaths), p.cfg.Spec.Root.Readonly)
	return nil
}

// makeParentMountPrivate makes the mount that holds path private in our
// namespace. A non-recursive propagation of / (or one a mount below it did
// not take) can leave that mount shared with the host's: the rootfs bind
// would then join the host's peer group, so every mount made under the
// rootfs would show up on the host, and pivot_root refuses a new root whose
// parent mount is shared (EINVAL). MS_PRIVATE on a path that is no mount
// point fails with EINVAL, so walk up until one takes it.
func makeParentMountPrivate(path string) error {
	for dir := path; ; dir = filepath.Dir(dir) {
		err := unix.Mount("", dir, "", unix.MS_PRIVATE, "")
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EINVAL) || dir == filepath.Dir(dir) {
			return fmtlite.Errorf("make the mount holding %s private: %s: %w", path, dir, err)
		}
	}
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func pivotRoot(rootfs string) error {
	oldroot, err := unix.Open("/", unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmtlite.Errorf("open /: %w", err)
	}
	defer unix.Close(oldroot)
	newroot, err := unix.Open(rootfs, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmtlite.Errorf("open %s: %w", rootfs, err)
	}
	defer unix.Close(newroot)
	if err := unix.Fchdir(newroot); err != nil {
		return fmtlite.Errorf("chdir %s: %w", rootfs, err)
	}
	// pivot_root(".", ".") stacks the old root on top of the new one, so no
	// directory inside the container is needed to hold it.
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmtlite.Errorf("pivot_root %s: %w (try --no-pivot on a ramfs root)", rootfs, err)
	}
	if err := unix.Fchdir(oldroot); err != nil {
		return fmtlite.Errorf("chdir old root: %w", err)
	}
	// Detaching must not propagate to the host's mounts.
	if err := unix.Mount("", ".", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return fmtlite.Errorf("make old root rslave: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmtlite.Errorf("detach old root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmtlite.Errorf("chdir /: %w", err)
	}
	return nil
}

// moveRoot is --no-pivot: for roots where pivot_root cannot work (ramfs).
func moveRoot(rootfs string) error {
	if err := unix.Chdir(rootfs); err != nil {
		return fmtlite.Errorf("chdir %s: %w", rootfs, err)
	}
	if err := unix.Mount(rootfs, "/", "", unix.MS_MOVE, ""); err != nil {
		return fmtlite.Errorf("move %s to /: %w", rootfs, err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmtlite.Errorf("chroot: %w", err)
	}
	return unix.Chdir("/")
}

func maskPath(path string) error {
	err := unix.Mount("/dev/null", path, "", unix.MS_BIND, "")
	if errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.EISDIR) || isDir(path) {
		err = unix.Mount("tmpfs", path, "tmpfs", unix.MS_RDONLY, "size=0k")
	}
	if err != nil && !errors.Is(err, unix.ENOENT) {
		return fmtlite.Errorf("mask %s: %w", path, err)
	}
	return nil
}

func readonlyPath(path string) error {
	if err := unix.Mount(path, path, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return fmtlite.Errorf("bind %s read-only: %w", path, err)
	}
	if err := remountReadonly(path); err != nil {
		return fmtlite.Errorf("remount %s read-only: %w", path, err)
	}
	return nil
}

// remountReadonly keeps the flags the mount has: in a user namespace the
// kernel refuses to drop locked ones such as nosuid or nodev.
func remountReadonly(path string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return err
	}
	flags := uintptr(st.Flags)&(unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC|unix.MS_NOATIME|unix.MS_NODIRATIME|unix.MS_RELATIME) |
		unix.MS_BIND | unix.MS_REMOUNT | unix.MS_RDONLY
	return unix.Mount("", path, "", flags, "")
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

// resolveInRoot joins path to root, following symlinks as if root were /,
// so a hostile rootfs cannot point a mount outside of itself.
func resolveInRoot(root, path string) (string, error) {
	const maxLinks = 255
	parts := strings.Split(filepath.Clean("/"+path), "/")
	resolved := ""
	links := 0
	for len(parts) > 0 {
		part := parts[0]
		parts = parts[1:]
		if part == "" || part == "." {
			continue
		}
		if part == ".." {
			resolved = filepath.Dir(resolved)
			if resolved == "." || resolved == "/" {
				resolved = ""
			}
			continue
		}
		next := resolved + "/" + part
		fi, err := os.Lstat(root + next)
		if err != nil || fi.Mode()&os.ModeSymlink == 0 {
			resolved = next
			continue
		}
		if links++; links > maxLinks {
			return "", fmtlite.Errorf("resolve %s in %s: too many symlinks", path, root)
		}
		target, err := os.Readlink(root + next)
		if err != nil {
			return "", err
		}
		if filepath.IsAbs(target) {
			resolved = ""
		}
		parts = append(strings.Split(target, "/"), parts...)
	}
	return root + resolved, nil
}
