package layer

import (
	"errors"
	"fmt"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// lowerView answers, for a directory of the layer being applied, whether the merged view of the
// layers below already shows something there, the way overlayfs would resolve it: the topmost
// layer holding the name decides, a whiteout or a non-directory hides everything below, a
// directory merges with the directories below it until an opaque one. A symlink that decides
// is refused: applying through it would, in Docker's model of "apply onto the merged view",
// write wherever the link points.
type lowerView struct {
	lowers []string
	// depth[p] is how many lowers (from the top) can still contribute to names below directory p.
	depth map[string]int
}

func newLowerView(lowers []string) *lowerView {
	return &lowerView{lowers: lowers, depth: map[string]int{}}
}

// visit works out directory p of the current layer. inLayer: p already exists in this layer as a
// directory (then this layer decides it, and opaque says whether it hides the lowers). It returns
// the attributes of the lower directory that p would merge with, if any, so that a parent the
// layer left implicit can copy them instead of showing up as a fresh 0755 root:root directory.
func (v *lowerView) visit(p string, inLayer, opaque bool) (*unix.Stat_t, error) {
	if len(v.lowers) == 0 {
		return nil, nil
	}
	if _, ok := v.depth[p]; ok && inLayer {
		return nil, nil
	}
	limit := len(v.lowers)
	if parent, _ := splitPath(p); parent != "." {
		l, ok := v.depth[parent]
		if !ok {
			// Computed top-down as the directory chain opens; recompute when forgotten.
			if _, err := v.visit(parent, true, false); err != nil {
				return nil, err
			}
			l = v.depth[parent]
		}
		limit = l
	}
	if inLayer && opaque {
		v.depth[p] = 0
		return nil, nil
	}
	found := inLayer
	var merged *unix.Stat_t
	for i := 0; i < limit; i++ {
		full := filepath.Join(v.lowers[i], p)
		var st unix.Stat_t
		err := unix.Lstat(full, &st)
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("look up %s in lower layer: %w", p, err)
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFLNK:
			if !found {
				return nil, fmt.Errorf("%w: path goes through symlink %s of lower layer %s", ErrUnsafeEntry, p, v.lowers[i])
			}
			limit = i
		case unix.S_IFDIR:
			if !found {
				found = true
				s := st
				merged = &s
			}
			if isOpaque(full) {
				limit = i + 1
			}
			continue
		default: // a whiteout or a file: hides this name in every layer below
			limit = i
		}
		break
	}
	v.depth[p] = limit
	return merged, nil
}

// markOpaque records that this layer made p opaque: nothing below shows through it any more.
func (v *lowerView) markOpaque(p string) {
	if len(v.lowers) == 0 {
		return
	}
	for k := range v.depth {
		if k != p && under(k, p) {
			delete(v.depth, k)
		}
	}
	v.depth[p] = 0
}

func isOpaque(path string) bool {
	var b [1]byte
	for _, name := range []string{opaqueXattr, userOpaqueXattr} {
		if n, err := unix.Lgetxattr(path, name, b[:]); err == nil && n == 1 && b[0] == 'y' {
			return true
		}
	}
	return false
}

func isWhiteout(st *unix.Stat_t) bool {
	return st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0
}

const (
	opaqueXattr     = "trusted.overlay.opaque"
	userOpaqueXattr = "user.overlay.opaque"
	whiteoutPrefix  = ".wh."
	whiteoutMeta    = ".wh..wh."
	opaqueWhiteout  = ".wh..wh..opq"
)
