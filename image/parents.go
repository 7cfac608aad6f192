package image

import (
	"slices"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// isParent tells whether c was built on p, as a build step's image is on the
// previous step's: p's layers are the first of c's and p's history is a
// strict prefix of c's. The history check, not the layers alone, makes a
// config-only step (ENV, LABEL: same layers, one more history entry) a
// child, and keeps two unrelated images on the same base apart from it.
func isParent(p, c *Image) bool {
	ph, ch := p.Config.History, c.Config.History
	if p.broken != nil || c.broken != nil || len(ph) == 0 || len(ph) >= len(ch) {
		return false
	}
	pd, cd := p.Config.RootFS.DiffIDs, c.Config.RootFS.DiffIDs
	if len(pd) > len(cd) || !slices.Equal(pd, cd[:len(pd)]) {
		return false
	}
	for i := range ph {
		if !sameHistory(ph[i], ch[i]) {
			return false
		}
	}
	return true
}

func sameHistory(a, b ocispec.History) bool {
	if (a.Created == nil) != (b.Created == nil) || (a.Created != nil && !a.Created.Equal(*b.Created)) {
		return false
	}
	return a.CreatedBy == b.CreatedBy && a.Author == b.Author && a.Comment == b.Comment && a.EmptyLayer == b.EmptyLayer
}

// descendants maps each image ID of imgs to the images built on it.
func descendants(imgs []*Image) map[digest.Digest][]*Image {
	out := map[digest.Digest][]*Image{}
	for _, p := range imgs {
		for _, c := range imgs {
			if p != c && isParent(p, c) {
				out[p.ID] = append(out[p.ID], c)
			}
		}
	}
	return out
}

// WithChildren is the set of imgs' IDs that another of imgs was built on.
// `pcr images` hides the untagged ones, as Docker hides its intermediate
// build images, unless asked for all.
func WithChildren(imgs []*Image) map[digest.Digest]bool {
	out := map[digest.Digest]bool{}
	for id := range descendants(imgs) {
		out[id] = true
	}
	return out
}
