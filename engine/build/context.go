package build

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"pcr/engine/internal/inroot"
)

// buildContext is the directory COPY and ADD read from, with its
// .dockerignore rules.
type buildContext struct {
	dir    string
	ignore []ignoreRule
}

type ignoreRule struct {
	re     *regexp.Regexp
	negate bool
}

func openContext(dir string) (*buildContext, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("build context %s: %w", dir, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("build context: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("build context %s is not a directory", dir)
	}
	// The real path: sources are checked to resolve below it.
	if abs, err = filepath.EvalSymlinks(abs); err != nil {
		return nil, fmt.Errorf("build context: %w", err)
	}
	c := &buildContext{dir: abs}
	f, err := inroot.OpenInRoot(abs, ".dockerignore", unix.O_RDONLY|unix.O_NONBLOCK)
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("build context: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		r := ignoreRule{}
		if strings.HasPrefix(line, "!") {
			r.negate, line = true, strings.TrimSpace(line[1:])
		}
		line = strings.Trim(path.Clean("/"+line), "/")
		if r.re, err = globRegexp(line); err != nil {
			return nil, fmt.Errorf("build context: .dockerignore pattern %q: %w", line, err)
		}
		c.ignore = append(c.ignore, r)
	}
	return c, sc.Err()
}

// globRegexp turns a .dockerignore pattern into a regexp: * and ? stay in
// one path component, ** spans any number of them.
func globRegexp(p string) (*regexp.Regexp, error) {
	var sb strings.Builder
	sb.WriteString("^")
	for i := 0; i < len(p); i++ {
		switch c := p[i]; c {
		case '*':
			if i+1 < len(p) && p[i+1] == '*' {
				i++
				if i+1 < len(p) && p[i+1] == '/' {
					i++
					sb.WriteString("(.*/)?")
				} else {
					sb.WriteString(".*")
				}
			} else {
				sb.WriteString("[^/]*")
			}
		case '?':
			sb.WriteString("[^/]")
		case '[':
			j := strings.IndexByte(p[i:], ']')
			if j < 0 {
				return nil, fmt.Errorf("unterminated [")
			}
			sb.WriteString(p[i : i+j+1])
			i += j
		case '\\':
			if i+1 < len(p) {
				i++
				sb.WriteString(regexp.QuoteMeta(string(p[i])))
			}
		default:
			sb.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	sb.WriteString("$")
	return regexp.Compile(sb.String())
}

// ignored tells whether rel (slash-separated, relative to the context) is
// excluded: a pattern matching a parent directory excludes what is in it,
// and the last matching rule wins.
func (c *buildContext) ignored(rel string) bool {
	if len(c.ignore) == 0 || rel == "." || rel == "" {
		return false
	}
	out := false
	for _, r := range c.ignore {
		m := false
		for p := rel; p != "." && p != "/" && p != ""; p = path.Dir(p) {
			if r.re.MatchString(p) {
				m = true
				break
			}
		}
		if m {
			out = !r.negate
		}
	}
	return out
}

// source is one file, directory or symlink of the context that a COPY takes.
type source struct {
	rel  string // as the COPY names it, relative to the context, slash-separated
	real string // where it is, its parent's symlinks resolved inside the context
	fi   fs.FileInfo
}

// sources expands a COPY source (a path or glob relative to the context)
// into the matching context entries. Every symlink on the way resolves with
// the context as "/" (RESOLVE_IN_ROOT), as the container would see it: a
// context link such as ln -> /etc leads to the context's own etc, never to
// the host's. A source that is itself a symlink is taken as the link.
func (c *buildContext) sources(pattern string) ([]source, error) {
	if c := path.Clean(pattern); c == ".." || strings.HasPrefix(c, "../") {
		return nil, fmt.Errorf("%s: forbidden path outside the build context", pattern)
	}
	// An absolute source is relative to the context too, as in Docker.
	rel := strings.TrimPrefix(path.Clean("/"+pattern), "/")
	matches, err := c.glob(rel)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", pattern, err)
	}
	var out []source
	for _, m := range matches {
		s, err := c.lstat(m)
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ENOTDIR) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", pattern, err)
		}
		if c.ignored(s.rel) || c.ignored(s.real) {
			continue
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no such file or directory in the build context", pattern)
	}
	return out, nil
}

// glob expands the wildcards of rel (clean, relative, "" for the context
// itself) one component at a time, listing directories opened inside the
// context. Names without wildcards are kept whether they exist or not.
func (c *buildContext) glob(rel string) ([]string, error) {
	if rel == "" {
		return []string{""}, nil
	}
	cur := []string{""}
	for _, comp := range strings.Split(rel, "/") {
		if _, err := path.Match(comp, ""); err != nil {
			return nil, fmt.Errorf("bad pattern %q: %w", comp, err)
		}
		var next []string
		for _, dir := range cur {
			if !strings.ContainsAny(comp, "*?[\\") {
				next = append(next, path.Join(dir, comp))
				continue
			}
			names, err := c.readDirNames(dir)
			if err != nil {
				continue // not a directory or gone: nothing matches in it
			}
			for _, n := range names {
				if ok, _ := path.Match(comp, n); ok {
					next = append(next, path.Join(dir, n))
				}
			}
		}
		cur = next
	}
	sort.Strings(cur)
	return cur, nil
}

func (c *buildContext) readDirNames(dir string) ([]string, error) {
	f, err := inroot.OpenInRoot(c.dir, dir, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	sort.Strings(names)
	return names, err
}

// lstat finds context path rel: its parent is resolved inside the context,
// its last component is not followed.
func (c *buildContext) lstat(rel string) (source, error) {
	if rel == "" {
		fi, err := os.Lstat(c.dir)
		return source{rel: ".", real: ".", fi: fi}, err
	}
	parent, err := inroot.Resolve(c.dir, path.Dir(rel))
	if err != nil {
		return source{}, err
	}
	host := filepath.Join(parent, path.Base(rel))
	real, err := filepath.Rel(c.dir, host)
	if err != nil || real == ".." || strings.HasPrefix(real, "../") {
		return source{}, fmt.Errorf("%s resolves outside the build context", rel)
	}
	fi, err := os.Lstat(host)
	if err != nil {
		return source{}, err
	}
	return source{rel: rel, real: filepath.ToSlash(real), fi: fi}, nil
}

// open opens the regular file at real (relative to the context, already
// resolved) inside the context; a file swapped for a symlink since it was
// listed is refused rather than followed.
func (c *buildContext) open(real string) (*os.File, error) {
	f, err := inroot.OpenInRoot(c.dir, real, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK)
	if err != nil {
		return nil, err
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s is no longer a regular file", real)
	}
	return f, nil
}

// readlink reads the symlink at real inside the context.
func (c *buildContext) readlink(real string) (string, error) {
	f, err := inroot.OpenInRoot(c.dir, real, unix.O_PATH|unix.O_NOFOLLOW)
	if err != nil {
		return "", err
	}
	defer f.Close()
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(int(f.Fd()), "", buf)
	if err != nil {
		return "", &os.PathError{Op: "readlink", Path: real, Err: err}
	}
	return string(buf[:n]), nil
}

// walk calls fn for src and, for a directory, everything below it that is
// not ignored, in name order. real is the entry's place in the context (for
// open and readlink), rel its path below src ("." for src itself). Nothing
// below src is followed: symlinks there are entries of their own.
func (c *buildContext) walk(src source, fn func(real, rel string, fi fs.FileInfo) error) error {
	if !src.fi.IsDir() {
		return fn(src.real, ".", src.fi)
	}
	top := filepath.Join(c.dir, filepath.FromSlash(src.real))
	return filepath.WalkDir(top, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		ctxRel, _ := filepath.Rel(c.dir, p)
		ctxRel = filepath.ToSlash(ctxRel)
		if p != top && c.ignored(ctxRel) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(top, p)
		return fn(ctxRel, filepath.ToSlash(rel), fi)
	})
}

// digest hashes what a COPY of srcs would write: names, types, modes,
// contents and link targets, so any change to them misses the cache.
func (c *buildContext) digest(srcs []source) (string, error) {
	h := sha256.New()
	for _, s := range srcs {
		fmt.Fprintf(h, "source %s\n", s.rel)
		err := c.walk(s, func(real, rel string, fi fs.FileInfo) error {
			fmt.Fprintf(h, "%s %o %d\n", rel, fi.Mode(), fi.Size())
			switch {
			case fi.Mode()&fs.ModeSymlink != 0:
				t, err := c.readlink(real)
				if err != nil {
					return err
				}
				fmt.Fprintf(h, "-> %s\n", t)
			case fi.Mode().IsRegular():
				f, err := c.open(real)
				if err != nil {
					return err
				}
				_, err = io.Copy(h, f)
				f.Close()
				if err != nil {
					return fmt.Errorf("read %s: %w", real, err)
				}
			}
			return nil
		})
		if err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func sortedSources(srcs []source) []source {
	sort.Slice(srcs, func(i, j int) bool { return srcs[i].rel < srcs[j].rel })
	return srcs
}
