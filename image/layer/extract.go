package layer

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// extractor writes tar entries below one layer directory. Every write is relative to a
// directory descriptor reached from the os.Root of the layer with O_NOFOLLOW steps (dirStack),
// and the last component is created with O_EXCL/mkdirat/mknodat/symlinkat/linkat, none of
// which follow a symlink: no entry can land outside the layer.
type extractor struct {
	root     *os.Root
	rootDir  *os.File // keeps root's descriptor for the *at calls
	rootFd   int
	stack    dirStack
	lowers   *lowerView
	opts     ApplyOptions
	buf      []byte
	dirTimes map[string][2]unix.Timespec // set last: writing children changes a directory's mtime
}

func newExtractor(dir string, o ApplyOptions) (*extractor, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	rootDir, err := root.Open(".")
	if err != nil {
		root.Close()
		return nil, err
	}
	x := &extractor{
		root:     root,
		rootDir:  rootDir,
		rootFd:   int(rootDir.Fd()),
		lowers:   newLowerView(o.Lowers),
		opts:     o,
		buf:      make([]byte, 1<<20),
		dirTimes: map[string][2]unix.Timespec{},
	}
	x.stack = dirStack{root: x.rootFd, missing: x.implicitDir, opened: x.openedDir}
	if err := unix.Fchmod(x.rootFd, 0o755); err != nil {
		x.close()
		return nil, fmt.Errorf("chmod layer root: %w", err)
	}
	return x, nil
}

func (x *extractor) close() {
	x.stack.truncate(0)
	x.rootDir.Close()
	x.root.Close()
}

// implicitDir creates a parent directory that the layer uses without listing it.
func (x *extractor) implicitDir(parent int, p, name string) error {
	lower, err := x.lowers.visit(p, false, false)
	if err != nil {
		return err
	}
	mode, uid, gid := uint32(0o755), 0, 0
	if lower != nil {
		mode, uid, gid = lower.Mode&0o7777, int(lower.Uid), int(lower.Gid)
	}
	if err := unix.Mkdirat(parent, name, 0o700); err != nil {
		return fmt.Errorf("create parent %s: %w", p, err)
	}
	if err := unix.Fchownat(parent, name, uid, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("chown parent %s: %w", p, err)
	}
	if err := unix.Fchmodat(parent, name, mode, 0); err != nil {
		return fmt.Errorf("chmod parent %s: %w", p, err)
	}
	return nil
}

func (x *extractor) openedDir(fd int, p string) error {
	if len(x.opts.Lowers) == 0 {
		return nil
	}
	var b [1]byte
	n, err := unix.Fgetxattr(fd, opaqueXattr, b[:])
	_, err = x.lowers.visit(p, true, err == nil && n == 1 && b[0] == 'y')
	return err
}

func (x *extractor) entry(hdr *tar.Header, r io.Reader) error {
	p, err := entryPath(hdr.Name)
	if err != nil {
		return err
	}
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return nil
	}
	if p == "." {
		if hdr.Typeflag != tar.TypeDir {
			return errors.New("the layer root must be a directory")
		}
		return x.rootEntry(hdr)
	}
	dir, base := splitPath(p)
	if strings.HasPrefix(base, whiteoutPrefix) {
		return x.whiteout(dir, base)
	}
	pfd, err := x.stack.open(dir)
	if err != nil {
		return err
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		return x.dir(pfd, p, base, hdr)
	case tar.TypeReg:
		return x.file(pfd, p, base, hdr, r)
	case tar.TypeSymlink:
		if err := x.create(pfd, p, base, func() error { return unix.Symlinkat(hdr.Linkname, pfd, base) }); err != nil {
			return fmt.Errorf("symlink: %w", err)
		}
		return x.meta(pfd, base, -1, hdr, true)
	case tar.TypeLink:
		return x.hardlink(pfd, p, base, hdr)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		return x.node(pfd, p, base, hdr)
	}
	return fmt.Errorf("unsupported tar entry type %q", hdr.Typeflag)
}

func (x *extractor) rootEntry(hdr *tar.Header) error {
	if err := x.meta(x.rootFd, ".", x.rootFd, hdr, false); err != nil {
		return err
	}
	x.dirTimes["."] = times(hdr)
	return nil
}

func (x *extractor) dir(pfd int, p, base string, hdr *tar.Header) error {
	err := unix.Mkdirat(pfd, base, 0o700)
	if errors.Is(err, unix.EEXIST) {
		var st unix.Stat_t
		if err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return err
		}
		// A directory over a directory merges: only its attributes change.
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			if err := unix.Unlinkat(pfd, base, 0); err != nil {
				return fmt.Errorf("replace %s: %w", p, err)
			}
			err = unix.Mkdirat(pfd, base, 0o700)
		} else {
			err = nil
		}
	}
	if err != nil {
		return fmt.Errorf("mkdir: %w", err)
	}
	fd, err := openDir(pfd, base)
	if err != nil {
		return fmt.Errorf("open directory: %w", err)
	}
	defer unix.Close(fd)
	if err := x.meta(fd, ".", fd, hdr, false); err != nil {
		return err
	}
	x.dirTimes[p] = times(hdr)
	return nil
}

func (x *extractor) file(pfd int, p, base string, hdr *tar.Header, r io.Reader) error {
	var fd int
	err := x.create(pfd, p, base, func() (err error) {
		fd, err = unix.Openat(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		return err
	})
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	defer unix.Close(fd)
	if err := x.copy(fd, r); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if err := x.meta(fd, ".", fd, hdr, false); err != nil {
		return err
	}
	ts := times(hdr)
	if err := unix.UtimesNanoAt(pfd, base, ts[:], unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("set times: %w", err)
	}
	return nil
}

// copy writes r to fd with one large buffer. os.File is skipped on purpose: its ReadFrom
// would fall back to io.Copy's 32 KiB buffer for a tar reader.
func (x *extractor) copy(fd int, r io.Reader) error {
	for {
		n, rerr := r.Read(x.buf)
		for b := x.buf[:n]; len(b) > 0; {
			w, err := unix.Write(fd, b)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return err
			}
			b = b[w:]
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}

func (x *extractor) hardlink(pfd int, p, base string, hdr *tar.Header) error {
	target, err := entryPath(hdr.Linkname)
	if err != nil {
		return fmt.Errorf("hard link target %q: %w", hdr.Linkname, err)
	}
	if target == p {
		return nil
	}
	if target == "." {
		return fmt.Errorf("hard link to the layer root")
	}
	tdir, tbase := splitPath(target)
	tfd, err := openDirPath(x.rootFd, tdir)
	if err != nil {
		return fmt.Errorf("hard link target %q: %w", hdr.Linkname, err)
	}
	defer unix.Close(tfd)
	var st unix.Stat_t
	if err := unix.Fstatat(tfd, tbase, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("hard link target %q is not in this layer: %w", hdr.Linkname, err)
	}
	if err := x.create(pfd, p, base, func() error { return unix.Linkat(tfd, tbase, pfd, base, 0) }); err != nil {
		return fmt.Errorf("hard link to %q: %w", hdr.Linkname, err)
	}
	return nil
}

func (x *extractor) node(pfd int, p, base string, hdr *tar.Header) error {
	var kind uint32
	switch hdr.Typeflag {
	case tar.TypeChar:
		kind = unix.S_IFCHR
	case tar.TypeBlock:
		kind = unix.S_IFBLK
	default:
		kind = unix.S_IFIFO
	}
	if kind != unix.S_IFIFO && x.opts.NoDevices {
		return fmt.Errorf("%w: device nodes are not permitted here", ErrUnsafeEntry)
	}
	dev := int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)))
	if err := x.create(pfd, p, base, func() error { return unix.Mknodat(pfd, base, kind|0o600, dev) }); err != nil {
		return fmt.Errorf("mknod: %w", err)
	}
	return x.meta(pfd, base, -1, hdr, false)
}

// create runs mk; if the name is taken by an earlier entry, the later entry wins: the old one is
// removed (a whole directory tree included) and mk runs again.
func (x *extractor) create(pfd int, p, base string, mk func() error) error {
	err := mk()
	if !errors.Is(err, unix.EEXIST) {
		return err
	}
	if err := x.remove(pfd, p, base); err != nil {
		return err
	}
	return mk()
}

func (x *extractor) remove(pfd int, p, base string) error {
	err := unix.Unlinkat(pfd, base, 0)
	if errors.Is(err, unix.EISDIR) {
		x.stack.forget(p)
		for k := range x.dirTimes {
			if under(k, p) {
				delete(x.dirTimes, k)
			}
		}
		err = x.root.RemoveAll(p)
	}
	if err != nil {
		return fmt.Errorf("replace %s: %w", p, err)
	}
	return nil
}

// whiteout turns an OCI whiteout into overlayfs's form.
func (x *extractor) whiteout(dir, base string) error {
	pfd, err := x.stack.open(dir)
	if err != nil {
		return err
	}
	if base == opaqueWhiteout {
		if err := unix.Fsetxattr(pfd, opaqueXattr, []byte("y"), 0); err != nil {
			return fmt.Errorf("mark %s opaque: %w", dir, err)
		}
		x.lowers.markOpaque(dir)
		return nil
	}
	if strings.HasPrefix(base, whiteoutMeta) {
		return nil // aufs bookkeeping (.wh..wh.plnk and the like): nothing for overlay
	}
	name := strings.TrimPrefix(base, whiteoutPrefix)
	if name == "" || name == "." || name == ".." {
		return fmt.Errorf("%w: bad whiteout name", ErrUnsafeEntry)
	}
	// A whiteout only hides lower layers; a name this layer itself placed stays.
	var st unix.Stat_t
	if err := unix.Fstatat(pfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil {
		return nil
	}
	if err := unix.Mknodat(pfd, name, unix.S_IFCHR, 0); err != nil {
		return fmt.Errorf("create whiteout: %w", err)
	}
	return nil
}

// meta sets owner, mode, xattrs (in that order: chown clears setuid bits and file
// capabilities). fd is the object itself when open (name is then "."), else -1 and the object
// is name in directory dfd.
func (x *extractor) meta(dfd int, name string, fd int, hdr *tar.Header, symlink bool) error {
	var err error
	if fd >= 0 {
		err = unix.Fchown(fd, hdr.Uid, hdr.Gid)
	} else {
		err = unix.Fchownat(dfd, name, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW)
	}
	if err != nil {
		return fmt.Errorf("chown %d:%d: %w", hdr.Uid, hdr.Gid, err)
	}
	if !symlink {
		mode := uint32(hdr.Mode & 0o7777)
		if fd >= 0 {
			err = unix.Fchmod(fd, mode)
		} else {
			err = unix.Fchmodat(dfd, name, mode, 0)
		}
		if err != nil {
			return fmt.Errorf("chmod %o: %w", mode, err)
		}
	}
	for key, value := range hdr.PAXRecords {
		attr, ok := strings.CutPrefix(key, "SCHILY.xattr.")
		if !ok || strings.HasPrefix(attr, "trusted.overlay.") || strings.HasPrefix(attr, "user.overlay.") {
			continue
		}
		if fd >= 0 {
			err = unix.Fsetxattr(fd, attr, []byte(value), 0)
		} else {
			// /proc/self/fd/N is the directory itself; lsetxattr does not follow the last name.
			err = unix.Lsetxattr("/proc/self/fd/"+strconv.Itoa(dfd)+"/"+name, attr, []byte(value), 0)
		}
		if err != nil {
			if attr == "security.selinux" && errors.Is(err, unix.ENOTSUP) {
				continue
			}
			return fmt.Errorf("set xattr %s: %w", attr, err)
		}
	}
	if fd < 0 {
		ts := times(hdr)
		if err := unix.UtimesNanoAt(dfd, name, ts[:], unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("set times: %w", err)
		}
	}
	return nil
}

// finish sets the directories' times, now that nothing more is written into them.
func (x *extractor) finish() error {
	dirs := make([]string, 0, len(x.dirTimes))
	for p := range x.dirTimes {
		dirs = append(dirs, p)
	}
	sort.Strings(dirs)
	x.stack.missing = nil
	for _, p := range dirs {
		ts := x.dirTimes[p]
		if p == "." {
			if err := unix.UtimesNanoAt(x.rootFd, ".", ts[:], 0); err != nil {
				return fmt.Errorf("set times of the layer root: %w", err)
			}
			continue
		}
		dir, base := splitPath(p)
		pfd, err := x.stack.open(dir)
		if err != nil {
			return fmt.Errorf("set times of %s: %w", p, err)
		}
		if err := unix.UtimesNanoAt(pfd, base, ts[:], unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("set times of %s: %w", p, err)
		}
	}
	return nil
}

func times(hdr *tar.Header) [2]unix.Timespec {
	atime := hdr.AccessTime
	if atime.IsZero() {
		atime = hdr.ModTime
	}
	return [2]unix.Timespec{timespec(atime), timespec(hdr.ModTime)}
}

func timespec(t time.Time) unix.Timespec {
	return unix.Timespec{Sec: t.Unix(), Nsec: int64(t.Nanosecond())}
}
