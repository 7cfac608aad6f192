package runtime

import (
	"errors"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"pcr/internal/fmtlite"
)

type device struct {
	path         string
	kind         uint32 // unix.S_IFCHR, S_IFBLK or S_IFIFO
	major, minor int64
	mode         os.FileMode
	uid, gid     uint32
}

// defaultDevices are the ones every container gets (runtime spec, "Default Devices").
var defaultDevices = []device{
	{path: "/dev/null", kind: unix.S_IFCHR, major: 1, minor: 3, mode: 0o666},
	{path: "/dev/zero", kind: unix.S_IFCHR, major: 1, minor: 5, mode: 0o666},
	{path: "/dev/full", kind: unix.S_IFCHR, major: 1, minor: 7, mode: 0o666},
	{path: "/dev/random", kind: unix.S_IFCHR, major: 1, minor: 8, mode: 0o666},
	{path: "/dev/urandom", kind: unix.S_IFCHR, major: 1, minor: 9, mode: 0o666},
	{path: "/dev/tty", kind: unix.S_IFCHR, major: 5, minor: 0, mode: 0o666},
}

func specDevice(d specs.LinuxDevice) (device, error) {
	dev := device{path: d.Path, major: d.Major, minor: d.Minor, mode: 0o666}
	switch d.Type {
	case "c", "u":
		dev.kind = unix.S_IFCHR
	case "b":
		dev.kind = unix.S_IFBLK
	case "p":
		dev.kind = unix.S_IFIFO
	default:
		return dev, fmtlite.Errorf("device %s: unknown type %q", d.Path, d.Type)
	}
	if d.FileMode != nil {
		dev.mode = *d.FileMode & 0o7777
	}
	if d.UID != nil {
		dev.uid = *d.UID
	}
	if d.GID != nil {
		dev.gid = *d.GID
	}
	if !filepath.IsAbs(d.Path) {
		return dev, fmtlite.Errorf("device path %q is not absolute", d.Path)
	}
	return dev, nil
}

// setupDev creates the default and spec devices and the /dev symlinks. In
// a user namespace mknod is not allowed, so host nodes are bind-mounted.
func (p *initProc) setupDev() error {
	devs := append([]device{}, defaultDevices...)
	for _, d := range p.cfg.Spec.Linux.Devices {
		dev, err := specDevice(d)
		if err != nil {
			return err
		}
		devs = append(devs, dev)
	}
	old := unix.Umask(0)
	defer unix.Umask(old)
	for _, d := range devs {
		if err := p.createDevice(d); err != nil {
			return err
		}
	}
	links := [][2]string{
		{"/proc/self/fd", "/dev/fd"},
		{"/proc/self/fd/0", "/dev/stdin"},
		{"/proc/self/fd/1", "/dev/stdout"},
		{"/proc/self/fd/2", "/dev/stderr"},
		{"pts/ptmx", "/dev/ptmx"},
	}
	if _, err := os.Stat("/proc/kcore"); err == nil {
		links = append(links, [2]string{"/proc/kcore", "/dev/core"})
	}
	for _, l := range links {
		dst, err := resolveInRoot(p.cfg.Rootfs, l[1])
		if err != nil {
			return err
		}
		if err := os.Symlink(l[0], dst); err != nil && !errors.Is(err, os.ErrExist) {
			return fmtlite.Errorf("symlink %s -> %s: %w", l[1], l[0], err)
		}
	}
	return nil
}

func (p *initProc) createDevice(d device) error {
	dest, err := resolveInRoot(p.cfg.Rootfs, d.path)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return fmtlite.Errorf("device %s: %w", d.path, err)
	}
	bind := func() error {
		if err := mkTarget(dest, false); err != nil {
			return fmtlite.Errorf("device %s: %w", d.path, err)
		}
		if err := unix.Mount(d.path, dest, "", unix.MS_BIND, ""); err != nil {
			return fmtlite.Errorf("bind device %s from the host: %w", d.path, err)
		}
		return nil
	}
	if p.cfg.UserNS {
		return bind()
	}
	os.Remove(dest) // a regular file the image left there
	dev := unix.Mkdev(uint32(d.major), uint32(d.minor))
	if err := unix.Mknod(dest, d.kind|uint32(d.mode), int(dev)); err != nil {
		// The devices cgroup may deny mknod (a spec rule denying a default
		// device with "m"); the node must still exist and fail at open, so
		// bind the host's as runc does.
		if err == unix.EPERM {
			return bind()
		}
		return fmtlite.Errorf("mknod %s: %w", d.path, err)
	}
	if err := unix.Chown(dest, int(d.uid), int(d.gid)); err != nil {
		return fmtlite.Errorf("chown %s: %w", d.path, err)
	}
	return nil
}

// allowedDevices are the rules every container gets in its devices cgroup
// on top of the spec's own, so the default devices and ptys work even
// under a deny-all rule (runc does the same).
func allowedDevices() []specs.LinuxDeviceCgroup {
	i := func(v int64) *int64 { return &v }
	return []specs.LinuxDeviceCgroup{
		{Allow: true, Type: "c", Major: i(1), Minor: i(3), Access: "rwm"},    // null
		{Allow: true, Type: "c", Major: i(1), Minor: i(5), Access: "rwm"},    // zero
		{Allow: true, Type: "c", Major: i(1), Minor: i(7), Access: "rwm"},    // full
		{Allow: true, Type: "c", Major: i(1), Minor: i(8), Access: "rwm"},    // random
		{Allow: true, Type: "c", Major: i(1), Minor: i(9), Access: "rwm"},    // urandom
		{Allow: true, Type: "c", Major: i(5), Minor: i(0), Access: "rwm"},    // tty
		{Allow: true, Type: "c", Major: i(5), Minor: i(1), Access: "rwm"},    // console
		{Allow: true, Type: "c", Major: i(5), Minor: i(2), Access: "rwm"},    // ptmx
		{Allow: true, Type: "c", Major: i(136), Minor: i(-1), Access: "rwm"}, // pts/*
	}
}

// cgroupDevices is the spec's device rules with the defaults and the
// spec's own devices allowed after them; later rules win. A default that a
// spec rule denies by its own type and number is left out: the deny-all
// rule of every default spec must not take /dev/null away, but a rule that
// names /dev/urandom means it.
func cgroupDevices(s *specs.Spec) []specs.LinuxDeviceCgroup {
	var rules []specs.LinuxDeviceCgroup
	if s.Linux.Resources != nil {
		rules = append(rules, s.Linux.Resources.Devices...)
	}
	for _, d := range allowedDevices() {
		if !deniedByName(rules, d) {
			rules = append(rules, d)
		}
	}
	for _, d := range s.Linux.Devices {
		maj, min := d.Major, d.Minor
		t := d.Type
		if t == "u" {
			t = "c"
		}
		if t == "p" {
			continue
		}
		rules = append(rules, specs.LinuxDeviceCgroup{Allow: true, Type: t, Major: &maj, Minor: &min, Access: "rwm"})
	}
	return rules
}

// deniedByName reports whether the last rule naming d's exact type, major
// and minor denies it.
func deniedByName(rules []specs.LinuxDeviceCgroup, d specs.LinuxDeviceCgroup) bool {
	for i := len(rules) - 1; i >= 0; i-- {
		r := rules[i]
		if r.Type == d.Type && r.Major != nil && r.Minor != nil && *r.Major == *d.Major && *r.Minor == *d.Minor {
			return !r.Allow
		}
	}
	return false
}
