package runtime

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"pcr/internal/fmtlite"
)

var propagationFlags = map[string]uintptr{
	"private":     unix.MS_PRIVATE,
	"rprivate":    unix.MS_PRIVATE | unix.MS_REC,
	"shared":      unix.MS_SHARED,
	"rshared":     unix.MS_SHARED | unix.MS_REC,
	"slave":       unix.MS_SLAVE,
	"rslave":      unix.MS_SLAVE | unix.MS_REC,
	"unbindable":  unix.MS_UNBINDABLE,
	"runbindable": unix.MS_UNBINDABLE | unix.MS_REC,
}

// mountFlags maps an option to (flag, set?). "clear" options undo a default.
var mountFlags = map[string]struct {
	flag  uintptr
	clear bool
}{
	"ro": {unix.MS_RDONLY, false}, "rw": {unix.MS_RDONLY, true},
	"nosuid": {unix.MS_NOSUID, false}, "suid": {unix.MS_NOSUID, true},
	"nodev": {unix.MS_NODEV, false}, "dev": {unix.MS_NODEV, true},
	"noexec": {unix.MS_NOEXEC, false}, "exec": {unix.MS_NOEXEC, true},
	"sync": {unix.MS_SYNCHRONOUS, false}, "async": {unix.MS_SYNCHRONOUS, true},
	"dirsync": {unix.MS_DIRSYNC, false}, "remount": {unix.MS_REMOUNT, false},
	"mand": {unix.MS_MANDLOCK, false}, "nomand": {unix.MS_MANDLOCK, true},
	"atime": {unix.MS_NOATIME, true}, "noatime": {unix.MS_NOATIME, false},
	"diratime": {unix.MS_NODIRATIME, true}, "nodiratime": {unix.MS_NODIRATIME, false},
	"relatime": {unix.MS_RELATIME, false}, "norelatime": {unix.MS_RELATIME, true},
	"strictatime": {unix.MS_STRICTATIME, false}, "nostrictatime": {unix.MS_STRICTATIME, true},
	"bind": {unix.MS_BIND, false}, "rbind": {unix.MS_BIND | unix.MS_REC, false},
}

// mountOpts is a parsed options list: a pure function, unit-tested.
type mountOpts struct {
	flags       uintptr
	propagation []uintptr
	data        []string
}

func parseMountOptions(opts []string) mountOpts {
	var o mountOpts
	for _, opt := range opts {
		if f, ok := mountFlags[opt]; ok {
			if f.clear {
				o.flags &^= f.flag
			} else {
				o.flags |= f.flag
			}
			continue
		}
		if f, ok := propagationFlags[opt]; ok {
			o.propagation = append(o.propagation, f)
			continue
		}
		if opt == "tmpcopyup" || strings.HasPrefix(opt, "idmap") || strings.HasPrefix(opt, "ridmap") {
			continue
		}
		o.data = append(o.data, opt)
	}
	return o
}

func isBind(m specs.Mount) bool {
	if m.Type == "bind" {
		return true
	}
	for _, o := range m.Options {
		if o == "bind" || o == "rbind" {
			return true
		}
	}
	return false
}

func (p *initProc) mountEntry(m specs.Mount) error {
	rootfs := p.cfg.Rootfs
	dest, err := resolveInRoot(rootfs, m.Destination)
	if err != nil {
		return err
	}
	o := parseMountOptions(m.Options)
	data := strings.Join(o.data, ",")
	switch {
	case isBind(m):
		if err := p.bindMount(m, dest, o); err != nil {
			return err
		}
	case m.Type == "cgroup" || m.Type == "cgroup2":
		if err := p.mountCgroup(dest, o); err != nil {
			return err
		}
	default:
		if err := os.MkdirAll(dest, 0o755); err != nil {
			return fmtlite.Errorf("mount %s: mkdir %s: %w", m.Destination, dest, err)
		}
		err := unix.Mount(m.Source, dest, m.Type, o.flags, data)
		if err != nil && m.Type == "sysfs" && p.cfg.UserNS && errors.Is(err, unix.EPERM) {
			// sysfs needs a net namespace owned by our user namespace; fall
			// back to the host's /sys, as runc does.
			err = unix.Mount("/sys", dest, "", unix.MS_BIND|unix.MS_REC, "")
			if err == nil && o.flags&unix.MS_RDONLY != 0 {
				err = remountReadonly(dest)
			}
		}
		if err != nil {
			return fmtlite.Errorf("mount %s on %s (%s): %w", m.Type, m.Destination, strings.Join(m.Options, ","), err)
		}
	}
	for _, pf := range o.propagation {
		if err := unix.Mount("", dest, "", pf, ""); err != nil {
			return fmtlite.Errorf("set propagation of %s: %w", m.Destination, err)
		}
	}
	return nil
}

func (p *initProc) bindMount(m specs.Mount, dest string, o mountOpts) error {
	src := m.Source
	if !filepath.IsAbs(src) {
		src = filepath.Join(p.cfg.Bundle, src)
	}
	fi, err := os.Stat(src)
	if err != nil {
		return fmtlite.Errorf("bind mount %s: source: %w", m.Destination, err)
	}
	if err := mkTarget(dest, fi.IsDir()); err != nil {
		return fmtlite.Errorf("bind mount %s: %w", m.Destination, err)
	}
	bindFlags := o.flags & (unix.MS_BIND | unix.MS_REC)
	if bindFlags == 0 {
		bindFlags = unix.MS_BIND
	}
	if err := unix.Mount(src, dest, "", bindFlags, ""); err != nil {
		return fmtlite.Errorf("bind mount %s on %s: %w", src, m.Destination, err)
	}
	rest := o.flags &^ (unix.MS_BIND | unix.MS_REC | unix.MS_REMOUNT)
	if rest != 0 {
		// Flags on a bind only take effect through a remount; keep the
		// locked ones the source had.
		var st unix.Statfs_t
		if err := unix.Statfs(dest, &st); err != nil {
			return fmtlite.Errorf("statfs %s: %w", m.Destination, err)
		}
		locked := uintptr(st.Flags) & (unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC)
		if err := unix.Mount("", dest, "", unix.MS_BIND|unix.MS_REMOUNT|rest|locked, ""); err != nil {
			return fmtlite.Errorf("remount %s with %s: %w", m.Destination, strings.Join(m.Options, ","), err)
		}
	}
	return nil
}

func mkTarget(path string, dir bool) error {
	if dir {
		return os.MkdirAll(path, 0o755)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDONLY|unix.O_CLOEXEC, 0o644)
	if err != nil {
		if isDir(path) {
			return nil
		}
		return err
	}
	return f.Close()
}

// mountCgroup shows the container its own cgroup: cgroup2 directly; on v1
// a tmpfs with one mount per hierarchy (bind of the container's own cgroup
// when it has no cgroup namespace, so it cannot see its neighbours).
func (p *initProc) mountCgroup(dest string, o mountOpts) error {
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return err
	}
	flags := o.flags | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	if p.cfg.CgroupV2 {
		err := unix.Mount("cgroup2", dest, "cgroup2", flags, "")
		if err != nil && p.cfg.UserNS && (!p.cfg.NewCgroup || errors.Is(err, unix.EPERM) || errors.Is(err, unix.EBUSY)) {
			// In a user namespace cgroup2 may not be mountable: without a
			// cgroup namespace, or (EBUSY) over the host's /sys bound in when
			// the net namespace is not ours (see sysfs). A bind of the
			// container's own cgroup shows what a cgroup namespace would, as
			// runc does.
			err = unix.Mount(p.cfg.CgroupDirs[""], dest, "", unix.MS_BIND|unix.MS_REC, "")
			if err == nil && flags&unix.MS_RDONLY != 0 {
				err = remountReadonly(dest)
			}
		}
		if err != nil {
			return fmtlite.Errorf("mount cgroup2 on %s: %w", dest, err)
		}
		return nil
	}
	if err := unix.Mount("tmpfs", dest, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=755"); err != nil {
		return fmtlite.Errorf("mount tmpfs for cgroups on %s: %w", dest, err)
	}
	names := make([]string, 0, len(p.cfg.CgroupDirs))
	for name := range p.cfg.CgroupDirs {
		if name != "" {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		sub := filepath.Join(dest, strings.TrimPrefix(name, "name="))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			return err
		}
		var err error
		if p.cfg.NewCgroup {
			opt := name
			err = unix.Mount("cgroup", sub, "cgroup", flags&^unix.MS_RDONLY, opt)
		} else {
			err = unix.Mount(p.cfg.CgroupDirs[name], sub, "", unix.MS_BIND|unix.MS_REC, "")
		}
		if err != nil {
			return fmtlite.Errorf("mount cgroup %s on %s: %w", name, sub, err)
		}
		if flags&unix.MS_RDONLY != 0 {
			if err := remountReadonly(sub); err != nil {
				return fmtlite.Errorf("remount cgroup %s read-only: %w", name, err)
			}
		}
	}
	if flags&unix.MS_RDONLY != 0 {
		return remountReadonly(dest)
	}
	return nil
}
