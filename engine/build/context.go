package build

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
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
	c := &buildContext{dir: abs}
	f, err := os.Open(filepath.Join(abs, ".dockerignore"))
	if os.IsNotExist(err) {
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
	abs string // host path
	rel string // relative to the context, slash-separated
	fi  fs.FileInfo
}

// sources expands a COPY source (a path or glob relative to the context)
// into the matching context entries, refusing anything outside it.
func (c *buildContext) sources(pattern string) ([]source, error) {
	if c := path.Clean(pattern); c == ".." || strings.HasPrefix(c, "../") {
		return nil, fmt.Errorf("%s: forbidden path outside the build context", pattern)
	}
	// An absolute source is relative to the context too, as in Docker.
	rel := strings.TrimPrefix(path.Clean("/"+pattern), "/")
	var matches []string
	if rel == "" {
		matches = []string{c.dir}
	} else if strings.ContainsAny(rel, "*?[") {
		var err error
		if matches, err = filepath.Glob(filepath.Join(c.dir, filepath.FromSlash(rel))); err != nil {
			return nil, fmt.Errorf("%s: %w", pattern, err)
		}
	} else {
		matches = []string{filepath.Join(c.dir, filepath.FromSlash(rel))}
	}
	var out []source
	for _, m := range matches {
		r, err := filepath.Rel(c.dir, m)
		if err != nil || strings.HasPrefix(r, "..") {
			return nil, fmt.Errorf("%s: forbidden path outside the build context", pattern)
		}
		r = filepath.ToSlash(r)
		if c.ignored(r) {
			continue
		}
		fi, err := os.Lstat(m)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, source{abs: m, rel: r, fi: fi})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no such file or directory in the build context", pattern)
	}
	return out, nil
}

// walk calls fn for src and, for a directory, everything below it that is
// not ignored, in name order; rel is relative to src ("." for src itself).
func (c *buildContext) walk(src source, fn func(abs, rel string, fi fs.FileInfo) error) error {
	if !src.fi.IsDir() {
		return fn(src.abs, ".", src.fi)
	}
	return filepath.WalkDir(src.abs, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		ctxRel, _ := filepath.Rel(c.dir, p)
		if p != src.abs && c.ignored(filepath.ToSlash(ctxRel)) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src.abs, p)
		return fn(p, filepath.ToSlash(rel), fi)
	})
}

// digest hashes what a COPY of srcs would write: names, types, modes,
// contents and link targets, so any change to them misses the cache.
func (c *buildContext) digest(srcs []source) (string, error) {
	h := sha256.New()
	for _, s := range srcs {
		fmt.Fprintf(h, "source %s\n", s.rel)
		err := c.walk(s, func(abs, rel string, fi fs.FileInfo) error {
			fmt.Fprintf(h, "%s %o %d\n", rel, fi.Mode(), fi.Size())
			switch {
			case fi.Mode()&fs.ModeSymlink != 0:
				t, err := os.Readlink(abs)
				if err != nil {
					return err
				}
				fmt.Fprintf(h, "-> %s\n", t)
			case fi.Mode().IsRegular():
				f, err := os.Open(abs)
				if err != nil {
					return err
				}
				_, err = io.Copy(h, f)
				f.Close()
				if err != nil {
					return fmt.Errorf("read %s: %w", abs, err)
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
