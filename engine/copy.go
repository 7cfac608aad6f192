package engine

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"pcr/image/layer"
)

// pcr cp moves files between the host and a container's root filesystem
// as a tar stream: the source side writes the tree, the destination side
// unpacks it, so `cp - CTR:DIR` and `cp CTR:PATH -` are the same code
// with one end on stdio.
//
// Every path on the container side is resolved inside its rootfs as the
// container sees it: symlinks are followed component by component with
// the rootfs as "/", an absolute target restarting at that root and ".."
// stopping there (resolveIn), and every open goes through an os.Root,
// which refuses anything that would still leave it (a link swapped in by
// a running container between the resolution and the open).

// CopyOptions are pcr cp's flags.
type CopyOptions struct {
	// FollowLink copies what a symlink SRC points to rather than the link (-L).
	FollowLink bool
	// Archive keeps the source's uid/gid (-a); otherwise copies are owned
	// by the user running pcr, as Docker's are.
	Archive bool
}

// maxSymlinks bounds the links one resolution follows, as the kernel's
// 40 does, so a loop is an error rather than a hang.
const maxSymlinks = 40

// resolveIn resolves the absolute path p inside root and returns it
// relative to root ("." for the root itself). Symlinks on the way are
// followed as the container would: absolute targets from root, ".." never
// above it. The last component's link is followed only with followLast.
// Components that do not exist are kept as written, so the result names
// where a new file would go.
func resolveIn(root *os.Root, p string, followLast bool) (string, error) {
	var done []string
	todo := splitPath(p)
	links := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(done) > 0 {
				done = done[:len(done)-1]
			}
			continue
		}
		cur := path.Join(append(done, c)...)
		if len(todo) == 0 && !followLast {
			done = append(done, c)
			break
		}
		fi, err := root.Lstat(cur)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
				return "", fmt.Errorf("resolve %s: %w", p, err)
			}
			done = append(done, c)
			continue
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			done = append(done, c)
			continue
		}
		if links++; links > maxSymlinks {
			return "", fmt.Errorf("resolve %s: too many levels of symbolic links", p)
		}
		target, err := root.Readlink(cur)
		if err != nil {
			return "", fmt.Errorf("resolve %s: %w", p, err)
		}
		if strings.HasPrefix(target, "/") {
			done = nil
		}
		todo = append(splitPath(target), todo...)
	}
	if len(done) == 0 {
		return ".", nil
	}
	return path.Join(done...), nil
}

func splitPath(p string) []string { return strings.Split(p, "/") }

// copyEnd is one side of a copy: a root directory (the container's
// rootfs, or the host's /) and the path given on the command line.
type copyEnd struct {
	root *os.Root
	path string // absolute, inside root
	desc string // for errors: "container abc123" or "host"
	// name is the source's name at the destination when it is not
	// path's own: a file bind's host source has a name of its own.
	name string
	// inPlace rewrites an existing file rather than replacing it: the
	// destination is a file bind mount, whose inode the container holds.
	inPlace bool
}

// copyPlan is where a copy goes: a resolved directory on the destination
// and the name the source takes in it ("." to merge a directory's
// contents into it).
type copyPlan struct {
	dir, name string
}

// srcName is the name a source keeps at its destination, and whether only
// its contents are meant (a trailing "/." or the root itself).
func srcName(p string) (string, bool) {
	if strings.HasSuffix(p, "/.") || path.Clean("/"+p) == "/" {
		return ".", true
	}
	return path.Base(path.Clean("/" + p)), false
}

// planCopy decides where a source goes at dst, the way docker cp does:
// into an existing directory under its own name, over an existing file,
// or as a new entry whose parent must exist.
func planCopy(dst copyEnd, srcIsDir bool, name string, contentsOnly bool) (copyPlan, error) {
	mustBeDir := strings.HasSuffix(dst.path, "/") || strings.HasSuffix(dst.path, "/.")
	rel, err := resolveIn(dst.root, dst.path, true)
	if err != nil {
		return copyPlan{}, fmt.Errorf("%s: %w", dst.desc, err)
	}
	fi, err := dst.root.Lstat(rel)
	switch {
	case err == nil && fi.IsDir():
		if contentsOnly {
			return copyPlan{dir: rel, name: "."}, nil
		}
		return copyPlan{dir: rel, name: name}, nil
	case err == nil:
		if mustBeDir {
			return copyPlan{}, fmt.Errorf("%s: %s is not a directory", dst.desc, dst.path)
		}
		if srcIsDir {
			return copyPlan{}, fmt.Errorf("%s: cannot copy a directory over the file %s", dst.desc, dst.path)
		}
		return copyPlan{dir: path.Dir(rel), name: path.Base(rel)}, nil
	case !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR):
		return copyPlan{}, fmt.Errorf("%s: %s: %w", dst.desc, dst.path, err)
	}
	if mustBeDir && !srcIsDir {
		return copyPlan{}, fmt.Errorf("%s: destination directory %s does not exist", dst.desc, dst.path)
	}
	if rel == "." {
		return copyPlan{}, fmt.Errorf("%s: %s: cannot copy onto the root", dst.desc, dst.path)
	}
	parent := path.Dir(rel)
	if pfi, err := dst.root.Stat(parent); err != nil || !pfi.IsDir() {
		return copyPlan{}, fmt.Errorf("%s: the parent directory of %s does not exist", dst.desc, dst.path)
	}
	return copyPlan{dir: parent, name: path.Base(rel)}, nil
}

// writeTree writes the tree at rel (resolved, inside root) to tw, its top
// entry named name and everything below it under that prefix. Symlinks in
// the tree are written as links, never followed.
func writeTree(tw *tar.Writer, root *os.Root, rel, name string) error {
	w := treeWriter{tw: tw, root: root, links: map[[2]uint64]string{}}
	return w.add(rel, name)
}

type treeWriter struct {
	tw    *tar.Writer
	root  *os.Root
	links map[[2]uint64]string // dev, ino -> first name, for hard links
}

func (w *treeWriter) add(rel, name string) error {
	fi, err := w.root.Lstat(rel)
	if err != nil {
		return err
	}
	if fi.Mode()&fs.ModeSocket != 0 {
		return nil // a socket has no content to copy; tar cannot hold one
	}
	link := ""
	if fi.Mode()&fs.ModeSymlink != 0 {
		if link, err = w.root.Readlink(rel); err != nil {
			return err
		}
	}
	hdr, err := tar.FileInfoHeader(fi, link)
	if err != nil {
		return fmt.Errorf("%s: %w", rel, err)
	}
	// FileInfoHeader looks the ids up in the host's user database, which
	// knows nothing of the container's.
	hdr.Uname, hdr.Gname = "", ""
	hdr.Name = name
	if fi.IsDir() && name != "." {
		hdr.Name = name + "/"
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && fi.Mode().IsRegular() && st.Nlink > 1 {
		key := [2]uint64{uint64(st.Dev), st.Ino}
		if first, ok := w.links[key]; ok {
			hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
			return w.tw.WriteHeader(hdr)
		}
		w.links[key] = name
	}
	if err := w.tw.WriteHeader(hdr); err != nil {
		return err
	}
	switch {
	case fi.Mode().IsRegular():
		f, err := w.root.Open(rel)
		if err != nil {
			return err
		}
		defer f.Close()
		if _, err := io.CopyN(w.tw, f, hdr.Size); err != nil {
			return fmt.Errorf("read %s: %w", rel, err)
		}
	case fi.IsDir():
		d, err := w.root.Open(rel)
		if err != nil {
			return err
		}
		entries, err := d.ReadDir(-1)
		d.Close()
		if err != nil {
			return fmt.Errorf("read directory %s: %w", rel, err)
		}
		sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
		for _, en := range entries {
			if err := w.add(path.Join(rel, en.Name()), path.Join(name, en.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// extractTree unpacks a tar stream into dir (resolved, inside root). Each
// entry's parent is resolved inside root again, so an existing symlink in
// the destination (or one the stream itself made) leads at most to
// another place in the same root.
func extractTree(tr *tar.Reader, root *os.Root, dir string, o CopyOptions, inPlace bool) error {
	type dirMeta struct {
		rel string
		hdr *tar.Header
	}
	var dirs []dirMeta
	uid, gid := os.Geteuid(), os.Getegid()
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("read tar stream: %w", err)
		}
		name := path.Clean(hdr.Name)
		if !filepath.IsLocal(name) && name != "." {
			return fmt.Errorf("tar entry %q escapes the destination", hdr.Name)
		}
		if name == "." {
			continue // the destination itself, which exists
		}
		parent, err := resolveIn(root, "/"+path.Join(dir, path.Dir(name)), true)
		if err != nil {
			return err
		}
		rel := path.Join(parent, path.Base(name))
		if o.Archive {
			uid, gid = hdr.Uid, hdr.Gid
		}
		existing, lerr := root.Lstat(rel)
		if inPlace && lerr == nil && existing.Mode().IsRegular() && hdr.Typeflag == tar.TypeReg {
			if err := rewriteFile(root, rel, tr, hdr, uid, gid); err != nil {
				return err
			}
			continue
		}
		if lerr == nil && !(existing.IsDir() && hdr.Typeflag == tar.TypeDir) {
			if existing.IsDir() {
				return fmt.Errorf("cannot overwrite directory /%s with a non-directory", rel)
			}
			if err := root.Remove(rel); err != nil {
				return err
			}
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			if lerr != nil || !existing.IsDir() {
				if err := root.Mkdir(rel, 0o700); err != nil {
					return err
				}
			}
			dirs = append(dirs, dirMeta{rel, hdr})
		case tar.TypeReg:
			f, err := root.OpenFile(rel, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("write /%s: %w", rel, err)
			}
			if err := setMeta(root, rel, hdr, uid, gid); err != nil {
				return err
			}
		case tar.TypeSymlink:
			if err := root.Symlink(hdr.Linkname, rel); err != nil {
				return err
			}
			if err := root.Lchown(rel, uid, gid); err != nil {
				return err
			}
		case tar.TypeLink:
			target := path.Clean(hdr.Linkname)
			if !filepath.IsLocal(target) {
				return fmt.Errorf("tar entry %q links outside the destination (%q)", hdr.Name, hdr.Linkname)
			}
			tparent, err := resolveIn(root, "/"+path.Join(dir, path.Dir(target)), true)
			if err != nil {
				return err
			}
			if err := root.Link(path.Join(tparent, path.Base(target)), rel); err != nil {
				return err
			}
		default:
			// Device nodes and fifos are not copied: os.Root cannot make
			// them, and docker cp users want files.
		}
	}
	// Directories last, deepest first: their children changed their mtimes.
	for i := len(dirs) - 1; i >= 0; i-- {
		d := dirs[i]
		if o.Archive {
			uid, gid = d.hdr.Uid, d.hdr.Gid
		}
		if err := setMeta(root, d.rel, d.hdr, uid, gid); err != nil {
			return err
		}
	}
	return nil
}

// rewriteFile writes a tar entry's content over the existing file rel,
// keeping its inode (a bind mount's source, which the container sees).
func rewriteFile(root *os.Root, rel string, tr io.Reader, hdr *tar.Header, uid, gid int) error {
	f, err := root.OpenFile(rel, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, tr)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write /%s: %w", rel, err)
	}
	return setMeta(root, rel, hdr, uid, gid)
}

// setMeta gives an unpacked file or directory its owner, mode (setuid
// bits included, after the chown that would clear them) and times.
func setMeta(root *os.Root, rel string, hdr *tar.Header, uid, gid int) error {
	if err := root.Lchown(rel, uid, gid); err != nil {
		return err
	}
	if err := root.Chmod(rel, hdr.FileInfo().Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)); err != nil {
		return err
	}
	return root.Chtimes(rel, hdr.AccessTime, hdr.ModTime)
}

// copyBetween copies src's path to dst's through a tar pipe.
func copyBetween(src, dst copyEnd, o CopyOptions) error {
	srcRel, err := resolveIn(src.root, src.path, o.FollowLink)
	if err != nil {
		return fmt.Errorf("%s: %w", src.desc, err)
	}
	fi, err := src.root.Lstat(srcRel)
	if err != nil {
		return fmt.Errorf("%s: %s: %w", src.desc, src.path, errNoSuchPath(err))
	}
	name, contentsOnly := srcName(src.path)
	if src.name != "" {
		name = src.name
	}
	if contentsOnly && !fi.IsDir() {
		return fmt.Errorf("%s: %s is not a directory", src.desc, src.path)
	}
	plan, err := planCopy(dst, fi.IsDir(), name, contentsOnly)
	if err != nil {
		return err
	}
	pr, pw := io.Pipe()
	written := make(chan struct{})
	go func() {
		defer close(written)
		tw := tar.NewWriter(pw)
		err := writeTree(tw, src.root, srcRel, plan.name)
		if err == nil {
			err = tw.Close()
		}
		if err != nil {
			err = fmt.Errorf("%s: %w", src.desc, err)
		}
		pw.CloseWithError(err)
	}()
	err = extractTree(tar.NewReader(pr), dst.root, plan.dir, o, dst.inPlace)
	// Stops the writer when the extraction gave up early, and returns the
	// writer's own error when it was the one that failed.
	pr.CloseWithError(io.ErrClosedPipe)
	// The writer has files of the source open; the caller may unmount it.
	<-written
	if err != nil {
		return fmt.Errorf("copy to %s: %w", dst.desc, err)
	}
	return nil
}

func errNoSuchPath(err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return errors.New("no such file or directory")
	}
	return err
}

// hostEnd is the host side of a copy: the host's / as the root, so that
// host paths resolve as the kernel resolves them.
func hostEnd(p string) (copyEnd, func(), error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return copyEnd{}, nil, err
	}
	// Abs cleans away a trailing "/" or "/.", which planCopy reads.
	if strings.HasSuffix(p, "/.") {
		abs += "/."
	} else if strings.HasSuffix(p, "/") && abs != "/" {
		abs += "/"
	}
	root, err := os.OpenRoot("/")
	if err != nil {
		return copyEnd{}, nil, err
	}
	return copyEnd{root: root, path: abs, desc: "host"}, func() { root.Close() }, nil
}

func ctrPath(p string) string {
	if !strings.HasPrefix(p, "/") {
		return "/" + p
	}
	return p
}

// CopyToContainer copies the host path src to path dst in the container.
func (e *Engine) CopyToContainer(ref, src, dst string, o CopyOptions) error {
	host, done, err := hostEnd(src)
	if err != nil {
		return err
	}
	defer done()
	return e.withRootfs(ref, func(v *ctrView) error {
		end, closeEnd, err := v.end(ctrPath(dst), true)
		if err != nil {
			return err
		}
		defer closeEnd()
		return copyBetween(host, end, o)
	})
}

// CopyFromContainer copies path src in the container to the host path dst.
func (e *Engine) CopyFromContainer(ref, src, dst string, o CopyOptions) error {
	host, done, err := hostEnd(dst)
	if err != nil {
		return err
	}
	defer done()
	return e.withRootfs(ref, func(v *ctrView) error {
		end, closeEnd, err := v.end(ctrPath(src), false)
		if err != nil {
			return err
		}
		defer closeEnd()
		return copyBetween(end, host, o)
	})
}

// CopyFromContainerTar writes path src of the container to w as a tar
// stream (cp CTR:SRC -).
func (e *Engine) CopyFromContainerTar(ref, src string, w io.Writer, o CopyOptions) error {
	return e.withRootfs(ref, func(v *ctrView) error {
		end, closeEnd, err := v.end(ctrPath(src), false)
		if err != nil {
			return err
		}
		defer closeEnd()
		rel, err := resolveIn(end.root, end.path, o.FollowLink)
		if err != nil {
			return fmt.Errorf("%s: %w", end.desc, err)
		}
		if _, err := end.root.Lstat(rel); err != nil {
			return fmt.Errorf("%s: %s: %w", end.desc, src, errNoSuchPath(err))
		}
		name, _ := srcName(src)
		tw := tar.NewWriter(w)
		if err := writeTree(tw, end.root, rel, name); err != nil {
			return fmt.Errorf("%s: %w", end.desc, err)
		}
		return tw.Close()
	})
}

// CopyToContainerTar unpacks the tar stream r into the directory dst of
// the container (cp - CTR:DIR).
func (e *Engine) CopyToContainerTar(ref string, r io.Reader, dst string, o CopyOptions) error {
	return e.withRootfs(ref, func(v *ctrView) error {
		end, closeEnd, err := v.end(ctrPath(dst), true)
		if err != nil {
			return err
		}
		defer closeEnd()
		rel, err := resolveIn(end.root, end.path, true)
		if err != nil {
			return fmt.Errorf("%s: %w", end.desc, err)
		}
		if fi, err := end.root.Stat(rel); err != nil || !fi.IsDir() {
			return fmt.Errorf("%s: destination %s must be an existing directory when the source is a tar stream", end.desc, dst)
		}
		if err := extractTree(tar.NewReader(r), end.root, rel, o, false); err != nil {
			return fmt.Errorf("copy to %s: %w", end.desc, err)
		}
		return nil
	})
}

// ctrView is the container's filesystem as pcr cp sees it: the merged
// rootfs, and the container's own mounts over it. A path under a bind
// mount (a -v volume, the /etc/hosts, /etc/hostname and /etc/resolv.conf
// pcr provides) is on the host source of that bind, resolved inside it;
// other mounts (tmpfs, /proc) have nothing on the host to copy from or
// to, and are refused.
type ctrView struct {
	rootfs *os.Root
	desc   string
	mounts []ctrMount // deepest destination first
}

type ctrMount struct {
	dest   string // where the mount is, resolved in the rootfs, "/..."
	source string
	kind   string
	ro     bool
}

// containerMounts reads the mounts of the container's config.json, each
// destination resolved in the rootfs as the runtime resolves it.
func containerMounts(dir string, rootfs *os.Root) ([]ctrMount, error) {
	data, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, err
	}
	var spec specs.Spec
	if err := json.Unmarshal(data, &spec); err != nil {
		return nil, fmt.Errorf("parse %s: %w", filepath.Join(dir, "config.json"), err)
	}
	var out []ctrMount
	for _, m := range spec.Mounts {
		rel, err := resolveIn(rootfs, path.Clean("/"+m.Destination), true)
		if err != nil {
			return nil, err
		}
		cm := ctrMount{dest: path.Clean("/" + rel), source: m.Source, kind: m.Type}
		if slices.Contains(m.Options, "bind") || slices.Contains(m.Options, "rbind") {
			cm.kind = "bind"
		}
		cm.ro = slices.Contains(m.Options, "ro")
		out = append(out, cm)
	}
	// Deepest first; of two mounts on one place the later (on top) wins.
	slices.Reverse(out)
	slices.SortStableFunc(out, func(a, b ctrMount) int { return len(b.dest) - len(a.dest) })
	return out, nil
}

// end is the copy end for path p in the container: on the rootfs, or on
// the host source of the bind mount p is under. write says p is the
// destination.
func (v *ctrView) end(p string, write bool) (copyEnd, func(), error) {
	onRootfs := copyEnd{root: v.rootfs, path: p, desc: v.desc}
	if len(v.mounts) == 0 {
		return onRootfs, func() {}, nil
	}
	// The last component is not followed, as the copy itself does not
	// (without -L): a link on a mount point is the mount's business.
	rel, err := resolveIn(v.rootfs, p, false)
	if err != nil {
		return copyEnd{}, nil, fmt.Errorf("%s: %w", v.desc, err)
	}
	cp := path.Clean("/" + rel)
	for _, m := range v.mounts {
		rest, ok := strings.CutPrefix(cp, m.dest)
		if !ok || rest != "" && !strings.HasPrefix(rest, "/") {
			continue
		}
		if m.kind != "bind" {
			return copyEnd{}, nil, fmt.Errorf("%s: %s is on a %s mount of the container, which has no host side: pcr cp cannot reach it", v.desc, p, m.kind)
		}
		if write && m.ro {
			return copyEnd{}, nil, fmt.Errorf("%s: %s is on the read-only volume %s", v.desc, p, m.dest)
		}
		return bindEnd(m, rest, p, v.desc+" volume "+m.dest)
	}
	return onRootfs, func() {}, nil
}

// bindEnd is the end at rest under the bind mount m, on its host source.
// A file bind is reached through its directory, named as in the
// container and written in place.
func bindEnd(m ctrMount, rest, p, desc string) (copyEnd, func(), error) {
	fi, err := os.Stat(m.source)
	if err != nil {
		return copyEnd{}, nil, fmt.Errorf("%s: host source: %w", desc, err)
	}
	end := copyEnd{desc: desc}
	root := m.source
	if fi.IsDir() {
		end.path = "/" + strings.TrimPrefix(rest, "/")
		// Keep the "/" or "/." planCopy and srcName read.
		if strings.HasSuffix(p, "/.") {
			end.path = strings.TrimSuffix(end.path, "/") + "/."
		} else if strings.HasSuffix(p, "/") {
			end.path = strings.TrimSuffix(end.path, "/") + "/"
		}
	} else {
		if rest != "" {
			return copyEnd{}, nil, fmt.Errorf("%s: %s: not a directory", desc, p)
		}
		root = filepath.Dir(m.source)
		end.path = "/" + filepath.Base(m.source)
		end.name = path.Base(m.dest)
		end.inPlace = true
	}
	r, err := os.OpenRoot(root)
	if err != nil {
		return copyEnd{}, nil, fmt.Errorf("%s: %w", desc, err)
	}
	end.root = r
	return end, func() { r.Close() }, nil
}

// withRootfs runs fn on the container's view, under the container's lock
// so that neither a start nor a cleanup changes the mount meanwhile. A
// running container's overlay is already mounted on rootfs/ (the
// superblock the container itself sees); a stopped one's is mounted for
// the copy and unmounted after.
func (e *Engine) withRootfs(ref string, fn func(v *ctrView) error) error {
	id, err := e.Lookup(ref)
	if err != nil {
		return err
	}
	dir := e.dir(id)
	unlock, err := lockContainer(dir)
	if err != nil {
		return err
	}
	defer unlock()
	rec, err := readRecord(dir)
	if err != nil {
		return fmt.Errorf("container %s is dead (its create was interrupted): %w", ShortID(id), err)
	}
	target := filepath.Join(dir, "rootfs")
	if !layer.IsMountPoint(target) {
		lowers := rec.Lowers
		if len(lowers) == 0 {
			if lowers, err = e.imageLowers(rec); err != nil {
				return err
			}
		}
		if err := e.mountOverlay(rec, lowers, target, false); err != nil {
			return fmt.Errorf("container %s: %w", ShortID(id), err)
		}
		defer func() {
			if err := e.unmountRootfs(id); err != nil {
				e.warnf("container %s: %v", ShortID(id), err)
			}
		}()
	}
	root, err := os.OpenRoot(target)
	if err != nil {
		return fmt.Errorf("container %s: %w", ShortID(id), err)
	}
	defer root.Close()
	v := &ctrView{rootfs: root, desc: "container " + ShortID(id)}
	if v.mounts, err = containerMounts(dir, root); err != nil {
		return fmt.Errorf("container %s: %w", ShortID(id), err)
	}
	return fn(v)
}

// imageLowers are the layer dirs of the container's image, for a record
// that predates the Lowers field.
func (e *Engine) imageLowers(rec *Record) ([]string, error) {
	store, err := e.Images()
	if err != nil {
		return nil, err
	}
	img, err := store.Resolve(string(rec.ImageID))
	if err != nil {
		return nil, fmt.Errorf("container %s: image %s: %w", ShortID(rec.ID), rec.ImageID, err)
	}
	return store.LowerDirs(img), nil
}
