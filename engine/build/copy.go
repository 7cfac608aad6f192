package build

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/bzip2"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"

	"pcr/engine/internal/inroot"
	"pcr/image/dockerfile"
	"pcr/image/layer"
)

// copy is COPY and ADD of files from the build context. The files are
// written into the step's mounted overlay, not into a bare upper directory:
// that way parent directories that exist in the image keep their owner and
// mode (overlay copies them up), and the image's symlinks resolve as the
// container would see them.
func (b *builder) copy(in dockerfile.Instruction) error {
	isAdd := in.Cmd == "ADD"
	for f := range in.Flags {
		switch f {
		case "chown", "chmod":
		case "from":
			return fmt.Errorf("%s --from: multi-stage builds are not supported", in.Cmd)
		default:
			return fmt.Errorf("%s: unknown flag --%s", in.Cmd, f)
		}
	}
	words := make([]string, len(in.Args))
	for i, a := range in.Args {
		w, err := b.word(a)
		if err != nil {
			return err
		}
		words[i] = w
	}
	patterns, destWord := words[:len(words)-1], words[len(words)-1]
	var groups [][]source
	var all []source
	for _, p := range patterns {
		if isAdd && isRemote(p) {
			return fmt.Errorf("ADD %s: remote URLs are not supported; download the file into the build context and ADD or COPY it from there", p)
		}
		srcs, err := b.ctx.sources(p)
		if err != nil {
			return err
		}
		groups = append(groups, sortedSources(srcs))
		all = append(all, srcs...)
	}
	dest := destWord
	if !path.IsAbs(dest) {
		wd := b.cfg.WorkingDir
		if wd == "" {
			wd = "/"
		}
		dest = path.Join(wd, dest)
	}
	dest = path.Clean(dest)
	destIsDir := strings.HasSuffix(destWord, "/") || destWord == "." || strings.HasSuffix(destWord, "/.")
	if len(all) > 1 && !destIsDir {
		return fmt.Errorf("%s with more than one source file: the destination %q must be a directory and end with a /", in.Cmd, destWord)
	}
	mode, err := parseChmod(in.Flags["chmod"])
	if err != nil {
		return err
	}
	sum, err := b.ctx.digest(all)
	if err != nil {
		return fmt.Errorf("hash sources: %w", err)
	}
	pj, _ := json.Marshal(patterns)
	key := cacheKey(b.imageID(), in.Cmd, string(pj), dest, strconv.FormatBool(destIsDir), in.Flags["chown"], in.Flags["chmod"], sum)
	if b.useCache(key) {
		return nil
	}

	w, err := b.newWorkspace()
	if err != nil {
		return err
	}
	defer w.remove()
	owner := inroot.User{}
	if c := in.Flags["chown"]; c != "" {
		if owner, err = inroot.ResolveUser(w.rootfs, c); err != nil {
			return fmt.Errorf("--chown=%s: %w", c, err)
		}
	}
	c := copier{root: w.rootfs, owner: owner, mode: mode}
	if !destIsDir && len(all) == 1 && !all[0].fi.IsDir() {
		if hp, err := inroot.Resolve(w.rootfs, dest); err == nil {
			if fi, err := os.Stat(hp); err == nil && fi.IsDir() {
				destIsDir = true // an existing directory takes the file in
			}
		}
	}
	kind := "file"
	for _, srcs := range groups {
		for _, s := range srcs {
			switch {
			case isAdd && s.fi.Mode().IsRegular():
				ok, err := c.addArchive(b.ctx, s.real, dest)
				if err != nil {
					return fmt.Errorf("ADD %s: %w", s.rel, err)
				}
				if ok {
					kind = "archive"
					continue
				}
				fallthrough
			default:
				if err := b.ctx.walk(s, func(real, rel string, fi fs.FileInfo) error {
					target := dest
					switch {
					case s.fi.IsDir():
						kind = "dir"
						target = path.Join(dest, rel)
					case destIsDir:
						target = path.Join(dest, path.Base(s.rel))
					}
					return c.put(b.ctx, real, target, fi)
				}); err != nil {
					return fmt.Errorf("copy %s: %w", s.rel, err)
				}
			}
		}
	}
	if err := c.finish(); err != nil {
		return err
	}
	created := fmt.Sprintf("/bin/sh -c #(nop) %s %s:%s in %s", in.Cmd, kind, sum, dest)
	return b.commitLayer(w, key, ocispec.History{CreatedBy: created})
}

func isRemote(s string) bool {
	for _, p := range []string{"http://", "https://", "git@", "git://", "ftp://"} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func parseChmod(s string) (fs.FileMode, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(s, 8, 32)
	if err != nil || n > 0o7777 {
		return 0, fmt.Errorf("--chmod=%s: want an octal mode such as 0755", s)
	}
	return fs.FileMode(n&0o777) | unixModeBits(uint32(n)), nil
}

// copier writes entries into a mounted rootfs.
type copier struct {
	root  string
	owner inroot.User
	mode  fs.FileMode // --chmod, 0 for the source's own
	// dirTimes are applied last: writing into a directory changes its mtime.
	dirTimes []dirTime
}

type dirTime struct {
	host string
	t    time.Time
}

// put copies context entry real to image path target.
func (c *copier) put(ctx *buildContext, real, target string, fi fs.FileInfo) error {
	mode := fi.Mode()
	if c.mode != 0 {
		mode = mode&fs.ModeType | c.mode
	}
	switch {
	case fi.IsDir():
		return c.mkdir(target, mode, int(c.owner.UID), int(c.owner.GID), fi.ModTime())
	case fi.Mode()&fs.ModeSymlink != 0:
		link, err := ctx.readlink(real)
		if err != nil {
			return err
		}
		return c.symlink(target, link, int(c.owner.UID), int(c.owner.GID), fi.ModTime())
	case fi.Mode().IsRegular():
		f, err := ctx.open(real)
		if err != nil {
			return err
		}
		defer f.Close()
		return c.file(target, f, mode, int(c.owner.UID), int(c.owner.GID), fi.ModTime())
	}
	return fmt.Errorf("%s: %s files cannot be copied into an image", real, fi.Mode().Type())
}

// prepare resolves target's parent in the rootfs and clears the way for a
// new entry; it returns the host path to create.
func (c *copier) prepare(target string, dir bool) (string, bool, error) {
	parent, err := inroot.MkdirAll(c.root, path.Dir(target), 0, 0)
	if err != nil {
		return "", false, err
	}
	hp := filepath.Join(parent, path.Base(target))
	if target == "/" {
		hp = c.root
	}
	fi, err := os.Lstat(hp)
	if errors.Is(err, os.ErrNotExist) {
		return hp, false, nil
	}
	if err != nil {
		return "", false, err
	}
	if fi.IsDir() {
		if !dir {
			return "", false, fmt.Errorf("cannot replace directory %s with a file", target)
		}
		return hp, true, nil
	}
	if err := os.Remove(hp); err != nil {
		return "", false, err
	}
	return hp, false, nil
}

func (c *copier) mkdir(target string, mode fs.FileMode, uid, gid int, mtime time.Time) error {
	hp, exists, err := c.prepare(target, true)
	if err != nil {
		return err
	}
	if exists {
		return nil // an existing directory keeps its owner and mode, as in Docker
	}
	if err := os.Mkdir(hp, 0o700); err != nil {
		return err
	}
	if err := setMeta(hp, mode, uid, gid, false); err != nil {
		return err
	}
	c.dirTimes = append(c.dirTimes, dirTime{hp, mtime})
	return nil
}

func (c *copier) symlink(target, link string, uid, gid int, mtime time.Time) error {
	hp, _, err := c.prepare(target, false)
	if err != nil {
		return err
	}
	if err := os.Symlink(link, hp); err != nil {
		return err
	}
	if err := os.Lchown(hp, uid, gid); err != nil {
		return err
	}
	return setTimes(hp, mtime)
}

func (c *copier) file(target string, r io.Reader, mode fs.FileMode, uid, gid int, mtime time.Time) error {
	hp, _, err := c.prepare(target, false)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(hp, os.O_CREATE|os.O_EXCL|os.O_WRONLY|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", target, err)
	}
	if err := setMeta(hp, mode, uid, gid, false); err != nil {
		return err
	}
	return setTimes(hp, mtime)
}

func (c *copier) hardlink(target, linkTarget string) error {
	src, err := inroot.MkdirAll(c.root, path.Dir(linkTarget), 0, 0)
	if err != nil {
		return err
	}
	src = filepath.Join(src, path.Base(linkTarget))
	hp, _, err := c.prepare(target, false)
	if err != nil {
		return err
	}
	return os.Link(src, hp)
}

func (c *copier) finish() error {
	for i := len(c.dirTimes) - 1; i >= 0; i-- {
		if err := setTimes(c.dirTimes[i].host, c.dirTimes[i].t); err != nil {
			return err
		}
	}
	return nil
}

// setMeta sets owner then mode: chown clears setuid bits, so mode comes last.
func setMeta(hp string, mode fs.FileMode, uid, gid int, link bool) error {
	if err := os.Lchown(hp, uid, gid); err != nil {
		return err
	}
	if link {
		return nil
	}
	return unix.Chmod(hp, uint32(mode.Perm())|specialBits(mode))
}

func setTimes(hp string, t time.Time) error {
	ts := []unix.Timespec{unix.NsecToTimespec(t.UnixNano()), unix.NsecToTimespec(t.UnixNano())}
	return unix.UtimesNanoAt(unix.AT_FDCWD, hp, ts, unix.AT_SYMLINK_NOFOLLOW)
}

func specialBits(m fs.FileMode) uint32 {
	var b uint32
	if m&fs.ModeSetuid != 0 {
		b |= unix.S_ISUID
	}
	if m&fs.ModeSetgid != 0 {
		b |= unix.S_ISGID
	}
	if m&fs.ModeSticky != 0 {
		b |= unix.S_ISVTX
	}
	return b
}

func unixModeBits(n uint32) fs.FileMode {
	var m fs.FileMode
	if n&unix.S_ISUID != 0 {
		m |= fs.ModeSetuid
	}
	if n&unix.S_ISGID != 0 {
		m |= fs.ModeSetgid
	}
	if n&unix.S_ISVTX != 0 {
		m |= fs.ModeSticky
	}
	return m
}

// addArchive unpacks the context's file real, a tar (plain, gzip, zstd or
// bzip2), into image directory dest, as ADD does. It returns false, having
// written nothing, for any other file, a compressed one that is not a tar
// included: Docker copies those as they are.
func (c *copier) addArchive(ctx *buildContext, real, dest string) (bool, error) {
	f, err := ctx.open(real)
	if err != nil {
		return false, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64*1024)
	magic, _ := br.Peek(6)
	var r io.Reader
	switch {
	case bytes.HasPrefix(magic, []byte("BZh")):
		r = bzip2.NewReader(br)
	case bytes.HasPrefix(magic, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		return false, errors.New("xz-compressed files are not supported by ADD: use tar, gzip, bzip2 or zstd, or COPY it")
	default:
		plain, release, err := layer.Decompress(br)
		if err != nil {
			return false, nil // not a stream we can read: a plain file
		}
		defer release()
		r = plain
	}
	// A tar starts with a 512-byte header whose checksum tar.Reader
	// verifies; a decoder error here means the file only looked compressed.
	pr := bufio.NewReaderSize(r, 64*1024)
	head, err := pr.Peek(512)
	if err != nil || !isTarHeader(head) {
		return false, nil
	}
	tr := tar.NewReader(pr)
	if _, err := inroot.MkdirAll(c.root, dest, 0, 0); err != nil {
		return false, err
	}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return true, nil
		}
		if err != nil {
			return true, fmt.Errorf("read archive: %w", err)
		}
		name := path.Clean(strings.TrimPrefix(hdr.Name, "./"))
		if name == "." || name == "/" {
			continue
		}
		if name == ".." || strings.HasPrefix(name, "../") {
			return true, fmt.Errorf("archive entry %q escapes the destination", hdr.Name)
		}
		target := path.Join(dest, name)
		mode := fs.FileMode(hdr.Mode&0o777) | unixModeBits(uint32(hdr.Mode))
		switch hdr.Typeflag {
		case tar.TypeDir:
			err = c.mkdir(target, mode, hdr.Uid, hdr.Gid, hdr.ModTime)
		case tar.TypeReg:
			err = c.file(target, tr, mode, hdr.Uid, hdr.Gid, hdr.ModTime)
		case tar.TypeSymlink:
			err = c.symlink(target, hdr.Linkname, hdr.Uid, hdr.Gid, hdr.ModTime)
		case tar.TypeLink:
			ln := path.Clean(strings.TrimPrefix(hdr.Linkname, "./"))
			if ln == ".." || strings.HasPrefix(ln, "../") {
				return true, fmt.Errorf("archive hard link %q -> %q escapes the destination", hdr.Name, hdr.Linkname)
			}
			err = c.hardlink(target, path.Join(dest, ln))
		case tar.TypeXGlobalHeader:
		default:
			return true, fmt.Errorf("archive entry %q: type %q is not supported by ADD", hdr.Name, hdr.Typeflag)
		}
		if err != nil {
			return true, fmt.Errorf("archive entry %q: %w", hdr.Name, err)
		}
	}
}

// isTarHeader checks a 512-byte block's checksum field, as tar does.
func isTarHeader(b []byte) bool {
	if len(b) < 512 {
		return false
	}
	field := strings.TrimRight(strings.TrimSpace(string(bytes.TrimRight(b[148:156], "\x00"))), "\x00 ")
	want, err := strconv.ParseInt(field, 8, 64)
	if err != nil {
		return false
	}
	var sum int64
	for i, c := range b[:512] {
		if i >= 148 && i < 156 {
			c = ' '
		}
		sum += int64(c)
	}
	return sum == want
}
