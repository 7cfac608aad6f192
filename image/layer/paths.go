package layer

import (
	"fmt"
	"path"
	"strings"
)

// entryPath turns a tar entry name into a clean path relative to the layer root ("." for the
// root itself). Absolute names and names that climb out of the root are refused outright:
// Docker would strip or clamp them, but a layer that carries them was not made by a
// well-behaved tool, and silently rewriting them hides that.
func entryPath(name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("%w: empty name", ErrUnsafeEntry)
	}
	if strings.HasPrefix(name, "/") {
		return "", fmt.Errorf("%w: absolute path", ErrUnsafeEntry)
	}
	p := path.Clean(name)
	if p == ".." || strings.HasPrefix(p, "../") {
		return "", fmt.Errorf("%w: path escapes the layer", ErrUnsafeEntry)
	}
	return p, nil
}

// splitPath returns the parent directory ("." for the root) and the last component.
func splitPath(p string) (dir, base string) {
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return ".", p
	}
	return p[:i], p[i+1:]
}

// under reports whether p is d or lies below d (both clean and relative).
func under(p, d string) bool {
	return d == "." || p == d || strings.HasPrefix(p, d+"/")
}
