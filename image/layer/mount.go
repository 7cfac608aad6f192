package layer

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Overlay is one overlay mount.
type Overlay struct {
	Lowers      []string // top first; at least one
	Upper, Work string   // both empty: a read-only mount without an upper
	Target      string
	// Volatile mounts the upper with overlay's "volatile" (Linux 5.10+):
	// nothing syncs it, not even the unmount, which otherwise waits for
	// the upper filesystem's journal to reach the disk. For an upper that
	// is thrown away with its container (run --rm). Overlay then refuses to
	// mount that work directory again until ClearVolatileMark, which is
	// for after a clean Unmount. Ignored before Linux 5.10.
	Volatile bool
}

// mountDataLimit keeps mount(2)'s option string under the one page the kernel copies, with
// room for what the kernel appends.
const mountDataLimit = 4096 - 256

// Mount mounts o on o.Target, staying under the kernel's mount-data page limit for many lowers.
//
// On kernels with the new mount API and overlay's "lowerdir+" (6.8+) each lower is passed on
// its own, with no length limit. Otherwise the classic mount(2) option string is used; when it
// would not fit in a page, the mount is made from a thread that chdirs to the lowers' common
// parent and names them relatively, and when even that is too long, through a temporary
// directory of one-character symlinks (overlay resolves them once, at mount time).
// Outside the initial user namespace "userxattr" is added, as overlay then reads
// user.overlay.* instead of trusted.overlay.*. With a single lower and no upper the lower is
// bind-mounted read-only, which old kernels need and which costs nothing.
func Mount(o Overlay) error {
	if err := o.validate(); err != nil {
		return err
	}
	o, err := o.absolute()
	if err != nil {
		return fmt.Errorf("mount overlay on %s: %w", o.Target, err)
	}
	if o.Upper == "" && len(o.Lowers) == 1 {
		return bindReadOnly(o.Lowers[0], o.Target)
	}
	if o.Volatile && !kernelAtLeast(5, 10) {
		o.Volatile = false // overlay learned it in 5.10; it is only a speed-up
	}
	err = mountFsopen(o)
	if errors.Is(err, errNoNewAPI) {
		err = mountLegacy(o)
	}
	if err != nil {
		if _, serr := os.Stat(volatileMark(o.Work)); serr == nil && o.Upper != "" {
			return fmt.Errorf("mount overlay on %s: %w (the writable layer was mounted volatile and not cleanly unmounted: after a crash its content is suspect; remove the container)", o.Target, err)
		}
		return fmt.Errorf("mount overlay on %s: %w", o.Target, err)
	}
	return nil
}

// Unmount detaches an overlay mounted by Mount. A normal unmount is synchronous; only when the
// mount is busy (EBUSY: a process still has its cwd or a file there) does it fall back to a lazy
// MNT_DETACH, which removes the mount from the namespace at once and frees it when the last user
// goes; Unmount then returns nil. Unmounting something that is not a mount point returns an
// error wrapping unix.EINVAL.
func Unmount(target string) error {
	err := unix.Unmount(target, 0)
	if errors.Is(err, unix.EBUSY) {
		err = unix.Unmount(target, unix.MNT_DETACH)
	}
	if err != nil {
		return fmt.Errorf("unmount %s: %w", target, err)
	}
	return nil
}

// ClearVolatileMark is for after a clean Unmount of a volatile overlay
// whose work directory is work: overlay marks the directory at each
// volatile mount and refuses it the next time. Only a mark that a crash
// left then stays, and the next mount refuses an upper that was never
// synced. Nothing to do for an overlay that was not volatile.
func ClearVolatileMark(work string) error {
	return os.RemoveAll(volatileMark(work))
}

func volatileMark(work string) string { return filepath.Join(work, "work", "incompat", "volatile") }

func (o Overlay) validate() error {
	switch {
	case len(o.Lowers) == 0:
		return fmt.Errorf("mount overlay on %s: no lower layers", o.Target)
	case o.Target == "":
		return errors.New("mount overlay: no target")
	case (o.Upper == "") != (o.Work == ""):
		return fmt.Errorf("mount overlay on %s: upper and work directories go together", o.Target)
	}
	return nil
}

// absolute makes every path absolute: the fallback mounts resolve relative names from another
// directory.
func (o Overlay) absolute() (Overlay, error) {
	abs := func(p string) (string, error) {
		if p == "" {
			return "", nil
		}
		return filepath.Abs(p)
	}
	var err error
	out := o
	out.Lowers = make([]string, len(o.Lowers))
	for i, l := range o.Lowers {
		if out.Lowers[i], err = abs(l); err != nil {
			return o, err
		}
	}
	if out.Upper, err = abs(o.Upper); err != nil {
		return o, err
	}
	if out.Work, err = abs(o.Work); err != nil {
		return o, err
	}
	if out.Target, err = abs(o.Target); err != nil {
		return o, err
	}
	return out, nil
}

func bindReadOnly(lower, target string) error {
	if err := unix.Mount(lower, target, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind %s on %s: %w", lower, target, err)
	}
	if err := unix.Mount("", target, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
		unix.Unmount(target, unix.MNT_DETACH)
		return fmt.Errorf("make %s read-only: %w", target, err)
	}
	return nil
}

// needUserXattr reports whether overlay must use user.* xattrs: trusted.* needs CAP_SYS_ADMIN in
// the initial user namespace.
func needUserXattr() bool {
	if os.Geteuid() != 0 {
		return true
	}
	b, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		return true
	}
	f := strings.Fields(string(b))
	return !(len(f) == 3 && f[0] == "0" && f[1] == "0" && f[2] == "4294967295")
}

// kernelAtLeast compares the running kernel's release with major.minor.
func kernelAtLeast(major, minor int) bool {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return false
	}
	var ma, mi int
	if _, err := fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &ma, &mi); err != nil {
		return false
	}
	return ma > major || (ma == major && mi >= minor)
}

var errNoNewAPI = errors.New("new mount API with lowerdir+ unavailable")

// mountFsopen mounts with fsopen/fsconfig/fsmount/move_mount. It returns errNoNewAPI when the
// kernel lacks the syscalls or overlay's "lowerdir+" key (seen at the first key on 6.5+, at
// create before that), before anything is mounted.
func mountFsopen(o Overlay) error {
	if !kernelAtLeast(6, 8) {
		// overlay learned "lowerdir+" in 6.8; older kernels would only log a
		// rejected option on every mount before the fallback.
		return errNoNewAPI
	}
	fsfd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) {
		return errNoNewAPI
	}
	if err != nil {
		return fmt.Errorf("fsopen: %w", err)
	}
	defer unix.Close(fsfd)
	// overlay stacks lowerdir+ in the order given: top first, like lowerdir=.
	for i, l := range o.Lowers {
		if err := unix.FsconfigSetString(fsfd, "lowerdir+", l); err != nil {
			if i == 0 && errors.Is(err, unix.EINVAL) {
				return errNoNewAPI // a kernel before 6.8 does not know the key
			}
			return fmt.Errorf("lower %s: %w%s", l, err, fsLog(fsfd))
		}
	}
	if o.Upper != "" {
		if err := unix.FsconfigSetString(fsfd, "upperdir", o.Upper); err != nil {
			return fmt.Errorf("upper %s: %w%s", o.Upper, err, fsLog(fsfd))
		}
		if err := unix.FsconfigSetString(fsfd, "workdir", o.Work); err != nil {
			return fmt.Errorf("work %s: %w%s", o.Work, err, fsLog(fsfd))
		}
		if o.Volatile {
			if err := unix.FsconfigSetFlag(fsfd, "volatile"); err != nil {
				return fmt.Errorf("volatile: %w%s", err, fsLog(fsfd))
			}
		}
	}
	if needUserXattr() {
		if err := unix.FsconfigSetFlag(fsfd, "userxattr"); err != nil {
			return fmt.Errorf("userxattr: %w%s", err, fsLog(fsfd))
		}
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		if errors.Is(err, unix.EINVAL) {
			// Before overlay had its own fs_context (kernels older than 6.5, e.g.
			// Debian 12's 6.1), fsconfig only collects keys and the unknown
			// "lowerdir+" fails here. Nothing is mounted yet: mount(2) takes over
			// and reports any real mistake in the options itself.
			return errNoNewAPI
		}
		return fmt.Errorf("create: %w%s", err, fsLog(fsfd))
	}
	attrs := 0
	if o.Upper == "" {
		attrs = unix.MOUNT_ATTR_RDONLY
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, attrs)
	if err != nil {
		return fmt.Errorf("fsmount: %w%s", err, fsLog(fsfd))
	}
	defer unix.Close(mfd)
	if err := unix.MoveMount(mfd, "", unix.AT_FDCWD, o.Target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("move mount: %w", err)
	}
	return nil
}

// fsLog reads the messages the kernel left on the filesystem context: they name the option
// overlay rejected, which the errno alone does not.
func fsLog(fsfd int) string {
	var msgs []string
	buf := make([]byte, 4096)
	for {
		n, err := unix.Read(fsfd, buf)
		if err != nil || n <= 0 {
			break
		}
		msgs = append(msgs, string(bytes.TrimSpace(buf[:n])))
	}
	if len(msgs) == 0 {
		return ""
	}
	return " (" + strings.Join(msgs, "; ") + ")"
}

// mountLegacy mounts with mount(2) and one option string. All paths in o are absolute.
func mountLegacy(o Overlay) error {
	for _, p := range append([]string{o.Upper, o.Work}, o.Lowers...) {
		if strings.ContainsAny(p, ":,") {
			return fmt.Errorf("path %q has a ':' or ',', which mount(2) options cannot carry", p)
		}
	}
	data := options(o.Lowers, o)
	if len(data) <= mountDataLimit {
		return mountData(o.Target, data)
	}
	// Relative to the lowers' common parent, as overlay2 does from its layer directory.
	parent := commonParent(o.Lowers)
	if parent != "/" {
		rel := make([]string, len(o.Lowers))
		for i, l := range o.Lowers {
			rel[i] = strings.TrimPrefix(l, parent+"/")
		}
		if data := options(rel, o); len(data) <= mountDataLimit {
			return mountIn(parent, o.Target, data)
		}
	}
	// Still too long (hundreds of layers with digest names): short symlinks in a temp dir.
	links, err := os.MkdirTemp("", "pcr-lowers-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(links)
	short := make([]string, len(o.Lowers))
	for i, l := range o.Lowers {
		short[i] = strconv.FormatInt(int64(i), 36)
		if err := os.Symlink(l, filepath.Join(links, short[i])); err != nil {
			return err
		}
	}
	data = options(short, o)
	if len(data) > mountDataLimit {
		return fmt.Errorf("%d lower layers do not fit in one mount(2) option page", len(o.Lowers))
	}
	return mountIn(links, o.Target, data)
}

func options(lowers []string, o Overlay) string {
	var b strings.Builder
	b.WriteString("lowerdir=")
	b.WriteString(strings.Join(lowers, ":"))
	if o.Upper != "" {
		b.WriteString(",upperdir=" + o.Upper + ",workdir=" + o.Work)
		if o.Volatile {
			b.WriteString(",volatile")
		}
	}
	if needUserXattr() {
		b.WriteString(",userxattr")
	}
	return b.String()
}

func mountData(target, data string) error {
	if err := unix.Mount("overlay", target, "overlay", 0, data); err != nil {
		return fmt.Errorf("mount(2): %w", err)
	}
	return nil
}

// mountIn mounts with relative lower paths resolved in dir. The chdir happens on a locked
// thread that first unshares its filesystem attributes, so the process's cwd never moves; the
// thread is never unlocked, so Go ends it with the goroutine instead of reusing it.
func mountIn(dir, target, data string) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			done <- fmt.Errorf("unshare fs: %w", err)
			return
		}
		if err := unix.Chdir(dir); err != nil {
			done <- fmt.Errorf("chdir %s: %w", dir, err)
			return
		}
		done <- mountData(target, data)
	}()
	return <-done
}

// commonParent is the deepest directory holding all of paths (absolute, clean).
func commonParent(paths []string) string {
	parent := filepath.Dir(filepath.Clean(paths[0]))
	for _, p := range paths[1:] {
		for parent != "/" && !strings.HasPrefix(filepath.Clean(p), parent+"/") {
			parent = filepath.Dir(parent)
		}
	}
	return parent
}
