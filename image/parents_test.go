package image

import (
	"bytes"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func step(t *testing.T, s *Store, parent *Image, layer []byte, by, name string) *Image {
	t.Helper()
	n := NewImage{Parent: parent, History: ocispec.History{CreatedBy: by}, Name: name}
	if layer != nil {
		n.Layer = bytes.NewReader(layer)
	}
	img, err := s.CreateImage(n)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// A build's intermediate images (untagged, with a child) are hidden by
// `pcr images` and kept by prune while a tagged image is built on them; an
// untagged leaf goes, and so does an untagged build as a whole.
func TestIntermediateImages(t *testing.T) {
	s := newStore(t)
	base := importTar(t, s, "base", tarOf(file("b", "b")))
	mid := step(t, s, base, tarOf(file("m", "m")), "RUN make", "")
	env := step(t, s, mid, nil, "ENV A=1", "") // config-only: same layers, one more history entry
	app := step(t, s, env, tarOf(file("a", "a")), "COPY app /", "app")
	leaf := step(t, s, base, tarOf(file("x", "x")), "RUN x", "")      // dangling, no child
	other := step(t, s, base, tarOf(file("m", "m")), "RUN other", "") // same layer as mid, other history
	u1 := step(t, s, base, tarOf(file("u", "1")), "RUN u1", "")       // an untagged build: u1 <- u2
	u2 := step(t, s, u1, tarOf(file("u", "2")), "RUN u2", "")

	imgs, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	got := WithChildren(imgs)
	want := map[digest.Digest]bool{base.ID: true, mid.ID: true, env.ID: true, u1.ID: true}
	if len(got) != len(want) {
		t.Fatalf("images with children %v, want %v", got, want)
	}
	for id := range want {
		if !got[id] {
			t.Fatalf("image %s not seen as a parent", id)
		}
	}
	if got[other.ID] || got[app.ID] || got[leaf.ID] || got[u2.ID] {
		t.Fatal("a leaf seen as a parent")
	}

	deleted, _, err := s.Prune(false, nil)
	if err != nil {
		t.Fatal(err)
	}
	gone := map[digest.Digest]bool{}
	for _, d := range deleted {
		gone[d] = true
	}
	if len(gone) != 4 || !gone[leaf.ID] || !gone[other.ID] || !gone[u1.ID] || !gone[u2.ID] {
		t.Fatalf("prune deleted %v; want the leaf, other, u1 and u2", deleted)
	}
	for _, keep := range []*Image{base, mid, env, app} {
		if _, err := s.Resolve(keep.ID.String()); err != nil {
			t.Fatalf("prune removed %s, an ancestor of a tagged image: %v", keep.Config.History[len(keep.Config.History)-1].CreatedBy, err)
		}
	}
	// Untagged, app goes, and its intermediates with it.
	if _, err := s.Remove("app", false, nil); err != nil {
		t.Fatal(err)
	}
	deleted, _, err = s.Prune(false, nil)
	if err != nil || len(deleted) != 2 {
		t.Fatalf("prune after rmi app: %v %v; want mid and env", deleted, err)
	}
	if imgs, _ := s.List(); len(imgs) != 1 || imgs[0].ID != base.ID {
		t.Fatalf("%d images left, want only base", len(imgs))
	}
}
