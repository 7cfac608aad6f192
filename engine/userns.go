package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"pcr/engine/internal/monitor"
	"pcr/image/layer"
)

// A container with UIDMap/GIDMap runs in its own user namespace: root
// inside is an unprivileged ID range on the host. Its writable layer is
// owned by that range's root; the image's layers, shared with every other
// container, are never chowned but seen through idmapped mounts, so that
// root inside owns them too and can change them (overlay copies them up).

// maxIDMapLines is the kernel's limit on lines in uid_map and gid_map.
const maxIDMapLines = 340

// ParseIDMaps reads podman's --uidmap or --gidmap values (flag names
// which, for errors): CONTAINER:HOST:SIZE each, decimal IDs.
func ParseIDMaps(flag string, vals []string) ([]IDMap, error) {
	var out []IDMap
	for _, v := range vals {
		parts := strings.Split(v, ":")
		if len(parts) != 3 {
			return nil, fmt.Errorf("invalid --%s %q: want CONTAINER:HOST:SIZE, such as 0:100000:65536", flag, v)
		}
		var n [3]uint32
		for i, p := range parts {
			x, err := strconv.ParseUint(p, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("invalid --%s %q: %q is not an ID (want CONTAINER:HOST:SIZE, such as 0:100000:65536)", flag, v, p)
			}
			n[i] = uint32(x)
		}
		out = append(out, IDMap{ContainerID: n[0], HostID: n[1], Size: n[2]})
	}
	return out, nil
}

// validateUserNS checks the maps as the kernel would take them, so that a
// bad one fails at create, not at each start.
func (o *Options) validateUserNS() error {
	if (len(o.UIDMap) > 0) != (len(o.GIDMap) > 0) {
		return errors.New("--uidmap and --gidmap go together: a user namespace needs both")
	}
	if err := validateIDMaps("uidmap", o.UIDMap); err != nil {
		return err
	}
	return validateIDMaps("gidmap", o.GIDMap)
}

func validateIDMaps(flag string, maps []IDMap) error {
	if len(maps) == 0 {
		return nil
	}
	if len(maps) > maxIDMapLines {
		return fmt.Errorf("invalid --%s: %d ranges, the kernel takes at most %d", flag, len(maps), maxIDMapLines)
	}
	for i, m := range maps {
		if m.Size == 0 {
			return fmt.Errorf("invalid --%s %s: the size must be greater than 0", flag, m)
		}
		if uint64(m.ContainerID)+uint64(m.Size) > 1<<32 || uint64(m.HostID)+uint64(m.Size) > 1<<32 {
			return fmt.Errorf("invalid --%s %s: the range goes past the largest ID", flag, m)
		}
		for _, p := range maps[:i] {
			if overlap(m.ContainerID, m.Size, p.ContainerID, p.Size) {
				return fmt.Errorf("invalid --%s: %s and %s map the same container IDs", flag, p, m)
			}
			if overlap(m.HostID, m.Size, p.HostID, p.Size) {
				return fmt.Errorf("invalid --%s: %s and %s map the same host IDs", flag, p, m)
			}
		}
	}
	if _, ok := mapToHost(maps, 0); !ok {
		return fmt.Errorf("invalid --%s: container ID 0 is not mapped (root inside must be someone on the host)", flag)
	}
	return nil
}

func (m IDMap) String() string { return fmt.Sprintf("%d:%d:%d", m.ContainerID, m.HostID, m.Size) }

func idMapStrings(maps []IDMap) []string {
	out := make([]string, len(maps))
	for i, m := range maps {
		out[i] = m.String()
	}
	return out
}

func overlap(a, an, b, bn uint32) bool {
	return uint64(a) < uint64(b)+uint64(bn) && uint64(b) < uint64(a)+uint64(an)
}

// mapToHost is the host ID that container ID id maps to.
func mapToHost(maps []IDMap, id uint32) (uint32, bool) {
	for _, m := range maps {
		if id >= m.ContainerID && uint64(id) < uint64(m.ContainerID)+uint64(m.Size) {
			return m.HostID + (id - m.ContainerID), true
		}
	}
	return 0, false
}

// mappedRoot is the host uid and gid of root in the container: 0, 0
// without a user namespace.
func mappedRoot(o *Options) (uid, gid int) {
	u, _ := mapToHost(o.UIDMap, 0)
	g, _ := mapToHost(o.GIDMap, 0)
	return int(u), int(g)
}

func specIDMaps(maps []IDMap) []specs.LinuxIDMapping {
	out := make([]specs.LinuxIDMapping, len(maps))
	for i, m := range maps {
		out[i] = specs.LinuxIDMapping{ContainerID: m.ContainerID, HostID: m.HostID, Size: m.Size}
	}
	return out
}

func syscallIDMaps(maps []IDMap) []syscall.SysProcIDMap {
	out := make([]syscall.SysProcIDMap, len(maps))
	for i, m := range maps {
		out[i] = syscall.SysProcIDMap{ContainerID: int(m.ContainerID), HostID: int(m.HostID), Size: int(m.Size)}
	}
	return out
}

// withUserNS gives the container a new user namespace with the maps.
func withUserNS(s *specs.Spec, in *specInput, o *Options) error {
	if len(o.UIDMap) == 0 {
		return nil
	}
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
	s.Linux.UIDMappings, s.Linux.GIDMappings = specIDMaps(o.UIDMap), specIDMaps(o.GIDMap)
	if _, ok := mapToHost(o.GIDMap, 5); !ok {
		// devpts refuses a gid= its user namespace does not map.
		for i, m := range s.Mounts {
			if m.Type == "devpts" {
				s.Mounts[i].Options = slices.DeleteFunc(slices.Clone(m.Options), func(opt string) bool { return strings.HasPrefix(opt, "gid=") })
			}
		}
	}
	return nil
}

// chownWritable gives root in the container its own files: the upper
// and work dirs and the /etc files bind-mounted from the container dir.
// With a disk those are on it, and mountDisk chowns them there. Nothing
// shared (the image's layers) is touched.
func chownWritable(dir string, o *Options) error {
	if len(o.UIDMap) == 0 || o.StorageSize > 0 {
		return nil
	}
	uid, gid := mappedRoot(o)
	for _, f := range append([]string{"upper", "work"}, etcFiles()...) {
		if err := os.Lchown(filepath.Join(dir, f), uid, gid); err != nil {
			return fmt.Errorf("user namespace: %w", err)
		}
	}
	return nil
}

// secureContainerDir shuts the container dir to everyone but host root:
// through it lie the rootfs, the upper dir and the idmapped layers, where
// a container's root could leave a setuid binary for a host user to run.
// A user-namespaced container's root must pass (the runtime's init
// resolves the rootfs and the /etc files as that user), so that dir is
// root:<its root's gid> 0710, as Docker's userns-remap dirs are: search
// for that gid only, no listing. It is checked at every mount, so that a
// container made before this rule gets it too.
func secureContainerDir(dir string, o *Options) error {
	gid, mode := 0, uint32(0o700)
	if len(o.UIDMap) > 0 {
		_, gid = mappedRoot(o)
		mode = 0o710
	}
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return fmt.Errorf("container dir: %w", err)
	}
	if st.Uid != 0 || int(st.Gid) != gid {
		if err := unix.Lchown(dir, 0, gid); err != nil {
			return fmt.Errorf("container dir: %w", err)
		}
	}
	if st.Mode&0o7777 != mode {
		if err := unix.Chmod(dir, mode); err != nil {
			return fmt.Errorf("container dir: %w", err)
		}
	}
	return nil
}

// makeReachable lets the container's root reach its container dir: the
// runtime's init resolves the rootfs and the /etc files as that user,
// who is nobody special on the host. pcr's own dirs on the way (its root,
// the containers dir) get o+x, as Docker's root does with userns-remap:
// search only, and what lies in them is shut (secureContainerDir; the
// image store's dirs are 0700). A directory above pcr's root that shuts
// it out is the admin's to open, and create says which.
func (e *Engine) makeReachable(o *Options) error {
	uid, gid := mappedRoot(o)
	for _, d := range []string{e.root, e.containersDir()} {
		fi, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("user namespace: %w", err)
		}
		if fi.Mode().Perm()&0o001 == 0 {
			if err := os.Chmod(d, fi.Mode().Perm()|0o001); err != nil {
				return fmt.Errorf("user namespace: let its root through %s: %w", d, err)
			}
		}
	}
	for d := filepath.Dir(e.root); ; d = filepath.Dir(d) {
		var st unix.Stat_t
		if err := unix.Stat(d, &st); err != nil {
			return fmt.Errorf("user namespace: %w", err)
		}
		bit := uint32(0o001)
		switch {
		case int(st.Uid) == uid:
			bit = 0o100
		case int(st.Gid) == gid:
			bit = 0o010
		}
		if st.Mode&bit == 0 {
			return fmt.Errorf("user namespace: its root (host uid %d) cannot reach pcr's root %s: %s (mode %04o) shuts it out; allow it through with chmod o+x %s", uid, e.root, d, st.Mode&0o7777, d)
		}
		if d == "/" {
			return nil
		}
	}
}

// makeMountpoints makes, as host root through the mounted overlay, the
// mountpoints of the spec's mounts that the image lacks. On plain
// (unmapped) layers the container's root may not write into the image's
// directories, so the runtime could not make them itself. Paths resolve
// inside the rootfs, so that a symlink in the image cannot point outside.
func makeMountpoints(rootfs, bundle string) error {
	data, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		return fmt.Errorf("mountpoints: %w", err)
	}
	var spec specs.Spec
	if err := json.Unmarshal(data, &spec); err != nil {
		return fmt.Errorf("mountpoints: parse config.json: %w", err)
	}
	root, err := unix.Open(rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("mountpoints: %w", err)
	}
	defer unix.Close(root)
	var done []string
	for _, m := range spec.Mounts {
		dest := filepath.Clean(m.Destination)
		// What goes below another mount (/dev/pts on the /dev tmpfs) is the
		// runtime's to make there, as the owner of that mount.
		below := slices.ContainsFunc(done, func(d string) bool { return strings.HasPrefix(dest, d+"/") })
		done = append(done, dest)
		if dest == "/" || below || existsInRoot(root, dest) {
			continue
		}
		file := false
		if m.Type == "bind" || slices.Contains(m.Options, "bind") || slices.Contains(m.Options, "rbind") {
			if fi, err := os.Stat(m.Source); err == nil && !fi.IsDir() {
				file = true
			}
		}
		if err := mkdirInRoot(root, filepath.Dir(dest)); err != nil {
			return fmt.Errorf("mountpoint %s: %w", dest, err)
		}
		parent, err := unix.Openat2(root, filepath.Dir(dest), &unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT})
		if err != nil {
			return fmt.Errorf("mountpoint %s: %w", dest, err)
		}
		if file {
			var fd int
			if fd, err = unix.Openat(parent, filepath.Base(dest), unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644); err == nil {
				unix.Close(fd)
			}
		} else {
			err = unix.Mkdirat(parent, filepath.Base(dest), 0o755)
		}
		unix.Close(parent)
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("mountpoint %s: %w", dest, err)
		}
	}
	return nil
}

func existsInRoot(root int, p string) bool {
	fd, err := unix.Openat2(root, p, &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT})
	if err != nil {
		return false
	}
	unix.Close(fd)
	return true
}

// mkdirInRoot is mkdir -p of p inside root, each step resolved in it.
func mkdirInRoot(root int, p string) error {
	prefix := "/"
	for _, comp := range strings.Split(strings.Trim(filepath.Clean(p), "/"), "/") {
		if comp == "" {
			continue
		}
		parent, err := unix.Openat2(root, prefix, &unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT})
		if err != nil {
			return err
		}
		err = unix.Mkdirat(parent, comp, 0o755)
		unix.Close(parent)
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return err
		}
		prefix = filepath.Join(prefix, comp)
	}
	return nil
}

// lowersDir holds the idmapped views of the image's layers, one mount per
// layer (lower/0 is the top one).
const lowersDir = "lower"

// idmapLowers mounts each layer dir idmapped with the container's maps on
// lower/<i> and returns those mounts, top first. It reuses a complete set
// left mounted. A kernel or filesystem without idmapped mounts gives
// errIDMapUnsupported, with nothing left mounted.
func (e *Engine) idmapLowers(rec *Record, lowers []string) ([]string, error) {
	dir := e.dir(rec.ID)
	out := make([]string, len(lowers))
	complete := true
	for i := range lowers {
		out[i] = filepath.Join(dir, lowersDir, strconv.Itoa(i))
		complete = complete && layer.IsMountPoint(out[i])
	}
	if complete && !layer.IsMountPoint(filepath.Join(dir, lowersDir, strconv.Itoa(len(lowers)))) {
		return out, nil
	}
	if err := unmountLowers(dir); err != nil {
		return nil, err
	}
	userns, err := usernsFD(rec.Options.UIDMap, rec.Options.GIDMap)
	if err != nil {
		return nil, err
	}
	defer unix.Close(userns)
	for i, l := range lowers {
		if err := os.MkdirAll(out[i], 0o700); err != nil {
			unmountLowers(dir)
			return nil, fmt.Errorf("idmapped layer: %w", err)
		}
		if err := idmapMount(l, out[i], userns); err != nil {
			unmountLowers(dir)
			return nil, err
		}
	}
	return out, nil
}

// errIDMapUnsupported says the kernel or the layers' filesystem cannot
// make idmapped mounts; the container then runs on the plain layers.
// Any other failure fails the start.
var errIDMapUnsupported = errors.New("idmapped mounts unsupported")

// idmapMount mounts a detached clone of src on dst, idmapped through
// userns. It is read-only as well: overlay only reads its lowers, and a
// removal that ever recursed into it could not reach the shared layer.
func idmapMount(src, dst string, userns int) error {
	fd, err := unix.OpenTree(unix.AT_FDCWD, src, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return idmapError("open_tree "+src, err, false)
	}
	defer unix.Close(fd)
	attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP | unix.MOUNT_ATTR_RDONLY, Userns_fd: uint64(userns)}
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, attr); err != nil {
		return idmapError("idmap "+src, err, true)
	}
	if err := unix.MoveMount(fd, "", unix.AT_FDCWD, dst, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("idmapped layer: move mount to %s: %w", dst, err)
	}
	return nil
}

// idmapError tells a kernel without the syscalls (ENOSYS, EOPNOTSUPP) or,
// from mount_setattr, a filesystem without idmapping (EINVAL: no
// FS_ALLOW_IDMAP) from a real failure.
func idmapError(op string, err error, setattr bool) error {
	if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EOPNOTSUPP) || (setattr && errors.Is(err, unix.EINVAL)) {
		return fmt.Errorf("%w: %s: %w", errIDMapUnsupported, op, err)
	}
	return fmt.Errorf("idmapped layer: %s: %w", op, err)
}

// unmountLowers unmounts whatever is mounted on lower/<i> and removes the
// empty mountpoints. A mountpoint that stays mounted (busy) is left, so
// that nothing ever recurses into a layer through it.
func unmountLowers(dir string) error {
	base := filepath.Join(dir, lowersDir)
	entries, err := os.ReadDir(base)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("idmapped layers: %w", err)
	}
	var errs []error
	for _, en := range entries {
		p := filepath.Join(base, en.Name())
		if layer.IsMountPoint(p) {
			if err := layer.Unmount(p); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		os.Remove(base)
	}
	return errors.Join(errs...)
}

// usernsFD opens a user namespace with the maps, for mount_setattr. A
// child of this binary is made in it and killed once the namespace is
// open. The child never runs Go: it is init.c's idle init (a constructor
// that waits for signals) or, in a build without it, a child ptrace
// stops at its exec (containerd's way). A Go process cannot fork without
// exec, and exec'ing pcr's Go main would cost a runtime start.
func usernsFD(uids, gids []IDMap) (int, error) {
	// The parent Pdeathsig watches (and the tracer) is this thread.
	goruntime.LockOSThread()
	defer goruntime.UnlockOSThread()
	attr := &os.ProcAttr{Sys: &syscall.SysProcAttr{
		Cloneflags: unix.CLONE_NEWUSER, UidMappings: syscallIDMaps(uids), GidMappings: syscallIDMaps(gids),
		Pdeathsig: syscall.SIGKILL,
	}}
	args := []string{"pcr-userns"}
	if monitor.InitLinked {
		attr.Env = []string{monitor.InitEnv + "=1"}
		args = append(args, monitor.IdleArg)
	} else {
		attr.Sys.Ptrace = true
	}
	proc, err := os.StartProcess("/proc/self/exe", args, attr)
	if err != nil {
		if !monitor.InitLinked && errors.Is(err, unix.EPERM) && ptraceForbidden() {
			return -1, errors.New("idmapped layers: kernel.yama.ptrace_scope is 3, which forbids the ptrace pcr (built without cgo) needs to open a user namespace; build pcr with cgo or lower ptrace_scope")
		}
		return -1, fmt.Errorf("idmapped layers: new user namespace: %w", err)
	}
	defer func() {
		proc.Kill()
		proc.Wait()
	}()
	fd, err := unix.Open(fmt.Sprintf("/proc/%d/ns/user", proc.Pid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("idmapped layers: open user namespace: %w", err)
	}
	return fd, nil
}

// ptraceForbidden says whether Yama forbids every ptrace attach.
func ptraceForbidden() bool {
	data, err := os.ReadFile("/proc/sys/kernel/yama/ptrace_scope")
	return err == nil && strings.TrimSpace(string(data)) == "3"
}
