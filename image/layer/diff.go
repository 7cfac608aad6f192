package layer

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Diff writes an uncompressed OCI layer tar of an overlay upper directory: overlay whiteouts
// (0/0 char devices) become `.wh.NAME`, opaque dirs (trusted.overlay.opaque=y, or user.overlay.opaque) get `.wh..wh..opq`.
// Entries are sorted; mtimes, modes, owners, xattrs, hard links kept; sockets skipped.
//
// overlay's own xattrs (trusted.overlay.*, user.overlay.*: origin, impure, redirect) are not
// written: they describe this host's layers, not the image. The upper must come from a mount
// without redirect_dir or metacopy, as Mount makes them, or renamed directories and
// metadata-only copies would be missing their content. The upper root's own attributes are
// not part of the layer, as in Docker's diffs.
func Diff(w io.Writer, upper string) error {
	tw := tar.NewWriter(w)
	d := differ{tw: tw, upper: upper, links: map[inode]string{}, buf: make([]byte, 1<<20)}
	// WalkDir reads each directory sorted, so parents come before children and the output is
	// the same for the same tree.
	if err := filepath.WalkDir(upper, d.visit); err != nil {
		return fmt.Errorf("diff %s: %w", upper, err)
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("diff %s: %w", upper, err)
	}
	return nil
}

type inode struct{ dev, ino uint64 }

type differ struct {
	tw    *tar.Writer
	upper string
	links map[inode]string // first path written for each multiply-linked inode
	buf   []byte
}

func (d *differ) visit(full string, _ fs.DirEntry, err error) error {
	if err != nil {
		return err
	}
	rel, err := filepath.Rel(d.upper, full)
	if err != nil || rel == "." {
		return err
	}
	var st unix.Stat_t
	if err := unix.Lstat(full, &st); err != nil {
		return fmt.Errorf("stat %s: %w", rel, err)
	}
	hdr := &tar.Header{
		Name:    rel,
		Mode:    int64(st.Mode & 0o7777),
		Uid:     int(st.Uid),
		Gid:     int(st.Gid),
		ModTime: time.Unix(st.Mtim.Sec, st.Mtim.Nsec),
		// PAX keeps sub-second mtimes and xattrs; atime is left out so a diff of the same tree is
		// the same bytes whenever it is read.
		Format: tar.FormatPAX,
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFCHR:
		if st.Rdev == 0 {
			dir, base := filepath.Split(rel)
			return d.tw.WriteHeader(&tar.Header{
				Name: dir + whiteoutPrefix + base, Typeflag: tar.TypeReg,
				ModTime: hdr.ModTime, Format: tar.FormatPAX,
			})
		}
		hdr.Typeflag = tar.TypeChar
		hdr.Devmajor, hdr.Devminor = int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
	case unix.S_IFBLK:
		hdr.Typeflag = tar.TypeBlock
		hdr.Devmajor, hdr.Devminor = int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
	case unix.S_IFIFO:
		hdr.Typeflag = tar.TypeFifo
	case unix.S_IFSOCK:
		return nil // a socket is a live endpoint, not content
	case unix.S_IFLNK:
		target, err := os.Readlink(full)
		if err != nil {
			return fmt.Errorf("read link %s: %w", rel, err)
		}
		hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, target
	case unix.S_IFDIR:
		hdr.Typeflag, hdr.Name = tar.TypeDir, rel+"/"
	case unix.S_IFREG:
		if st.Nlink > 1 {
			id := inode{uint64(st.Dev), st.Ino}
			if first, ok := d.links[id]; ok {
				hdr.Typeflag, hdr.Linkname = tar.TypeLink, first
				return d.tw.WriteHeader(hdr)
			}
			d.links[id] = rel
		}
		hdr.Typeflag, hdr.Size = tar.TypeReg, st.Size
	default:
		return fmt.Errorf("%s: unsupported file type %o", rel, st.Mode&unix.S_IFMT)
	}
	opaque, err := d.xattrs(full, hdr)
	if err != nil {
		return fmt.Errorf("read xattrs of %s: %w", rel, err)
	}
	if err := d.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("write %s: %w", rel, err)
	}
	if hdr.Typeflag == tar.TypeReg {
		if err := d.copyFile(full, hdr.Size); err != nil {
			return fmt.Errorf("write %s: %w", rel, err)
		}
	}
	if opaque {
		if err := d.tw.WriteHeader(&tar.Header{
			Name: rel + "/" + opaqueWhiteout, Typeflag: tar.TypeReg,
			ModTime: hdr.ModTime, Format: tar.FormatPAX,
		}); err != nil {
			return fmt.Errorf("write %s: %w", rel, err)
		}
	}
	return nil
}

func (d *differ) copyFile(full string, size int64) error {
	f, err := os.Open(full)
	if err != nil {
		return err
	}
	defer f.Close()
	// Hide os.File's WriteTo so CopyBuffer uses the large buffer; a file that changed size
	// since the stat fails here rather than writing a broken archive.
	_, err = io.CopyBuffer(d.tw, io.LimitReader(struct{ io.Reader }{f}, size), d.buf)
	return err
}

// xattrs copies the entry's xattrs into hdr, leaving overlay's own out, and reports whether the
// directory is opaque.
func (d *differ) xattrs(full string, hdr *tar.Header) (opaque bool, err error) {
	names, err := listXattrs(full)
	if err != nil {
		return false, err
	}
	for _, name := range names {
		value, err := getXattr(full, name)
		if err != nil {
			return false, err
		}
		if name == opaqueXattr || name == userOpaqueXattr {
			opaque = opaque || (hdr.Typeflag == tar.TypeDir && string(value) == "y")
			continue
		}
		if strings.HasPrefix(name, "trusted.overlay.") || strings.HasPrefix(name, "user.overlay.") {
			continue
		}
		if hdr.PAXRecords == nil {
			hdr.PAXRecords = map[string]string{}
		}
		hdr.PAXRecords["SCHILY.xattr."+name] = string(value)
	}
	return opaque, nil
}

func listXattrs(path string) ([]string, error) {
	buf := make([]byte, 256)
	for {
		n, err := unix.Llistxattr(path, buf)
		if errors.Is(err, unix.ERANGE) {
			buf = make([]byte, len(buf)*4)
			continue
		}
		if errors.Is(err, unix.ENOTSUP) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		var names []string
		for _, name := range strings.Split(string(buf[:n]), "\x00") {
			if name != "" {
				names = append(names, name)
			}
		}
		return names, nil
	}
}

func getXattr(path, name string) ([]byte, error) {
	buf := make([]byte, 256)
	for {
		n, err := unix.Lgetxattr(path, name, buf)
		if errors.Is(err, unix.ERANGE) {
			buf = make([]byte, len(buf)*4)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("get %s: %w", name, err)
		}
		return buf[:n], nil
	}
}
