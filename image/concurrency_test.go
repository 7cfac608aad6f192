package image

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// A failed add must not take back a blob or layer that a concurrent add
// found already present and is about to reference.
func TestFailedAddKeepsWhatAConcurrentAddUses(t *testing.T) {
	s := newStore(t)
	plain := tarOf(file("shared", "s"))
	gz := gzipOf(plain)
	diffID := digest.FromBytes(plain)

	a, err := s.beginAdd()
	if err != nil {
		t.Fatal(err)
	}
	blob, size, err := a.putBlob(bytes.NewReader(gz), "", -1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.unpack(bytes.NewReader(gz), nil, diffID); err != nil {
		t.Fatal(err)
	}

	b, err := s.beginAdd()
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.putBlob(bytes.NewReader(gz), blob, size); err != nil {
		t.Fatal(err)
	}
	l, err := b.unpack(bytes.NewReader(gz), nil, diffID)
	if err != nil {
		t.Fatal(err)
	}
	a.finish() // a failed: what it created is unreferenced, but b relies on it
	if !s.hasBlob(blob) {
		t.Fatal("the failed add removed a blob the concurrent add uses")
	}
	if _, err := os.Stat(l.Dir); err != nil {
		t.Fatalf("the failed add removed a layer the concurrent add uses: %v", err)
	}
	cfg := ocispec.Image{RootFS: ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{diffID}}}
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: blob, Size: size}
	if _, err := b.writeImage(cfg, []ocispec.Descriptor{desc}, "b:latest"); err != nil {
		t.Fatal(err)
	}
	b.finish()
	img, err := s.Resolve("b")
	if err != nil {
		t.Fatalf("the concurrent add's image is broken: %v", err)
	}
	if _, err := os.Stat(filepath.Join(img.Layers[0].Dir, "shared")); err != nil {
		t.Fatal(err)
	}
}

// A failed add that ran alone takes back what it made; one that overlapped
// another leaves it for prune.
func TestFailedAddLeftoversGoWithPrune(t *testing.T) {
	s := newStore(t)
	importTar(t, s, "keep", tarOf(file("k", "k")))
	before := snapshot(t, s.root)

	other, err := s.beginAdd() // a concurrent add, still running
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.beginAdd()
	if err != nil {
		t.Fatal(err)
	}
	orphan, _, err := a.putBlob(strings.NewReader("orphan"), "", -1)
	if err != nil {
		t.Fatal(err)
	}
	a.finish()
	if !s.hasBlob(orphan) {
		t.Fatal("a failed add removed content while another add was in flight")
	}
	other.finish()
	if _, _, err := s.Prune(false, nil); err != nil {
		t.Fatal(err)
	}
	if after := snapshot(t, s.root); after != before {
		t.Fatalf("prune left the failed add's content:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// Parallel layer downloads record what they created: run with -race.
func TestParallelFetchRecordsEveryBlob(t *testing.T) {
	s := newStore(t)
	rimg, err := random.Image(512, 6)
	if err != nil {
		t.Fatal(err)
	}
	m, err := rimg.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	var descs []ocispec.Descriptor
	for _, l := range m.Layers {
		descs = append(descs, ocispec.Descriptor{MediaType: string(l.MediaType), Digest: digest.Digest(l.Digest.String()), Size: l.Size})
	}
	a, err := s.beginAdd()
	if err != nil {
		t.Fatal(err)
	}
	if err := a.fetchLayers(rimg, descs, NoProgress{}); err != nil {
		t.Fatal(err)
	}
	if len(a.blobs) != len(descs) {
		t.Fatalf("recorded %d created blobs, want %d", len(a.blobs), len(descs))
	}
	a.finish() // nothing names them: all taken back
	for _, d := range descs {
		if s.hasBlob(d.Digest) {
			t.Fatalf("blob %s left after an add that named nothing", d.Digest)
		}
	}
}

// A prune waits for a LockUse holder, and reads which images are in use
// only once it has the lock: a container recorded meanwhile keeps its image.
func TestPruneWaitsForUseLock(t *testing.T) {
	s := newStore(t)
	img := importTar(t, s, "", tarOf(file("d", "d"))) // dangling: a prune victim unless in use
	unlock, err := s.LockUse()
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	used := map[digest.Digest]bool{}
	inUse := func() (map[digest.Digest]bool, error) {
		mu.Lock()
		defer mu.Unlock()
		out := map[digest.Digest]bool{}
		for k, v := range used {
			out[k] = v
		}
		return out, nil
	}
	done := make(chan []digest.Digest, 1)
	go func() {
		deleted, _, err := s.Prune(false, inUse)
		if err != nil {
			t.Error(err)
		}
		done <- deleted
	}()
	select {
	case <-done:
		t.Fatal("prune finished while a LockUse holder was between resolving an image and recording its user")
	case <-time.After(300 * time.Millisecond):
	}
	// The holder (a create) records its container, then lets go.
	mu.Lock()
	used[img.ID] = true
	mu.Unlock()
	unlock()
	unlock() // a second call is harmless
	select {
	case deleted := <-done:
		if len(deleted) != 0 {
			t.Fatalf("prune deleted %v, an image a container came to use while it waited", deleted)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("prune still blocked after unlock")
	}
	if _, err := s.Resolve(img.ID.String()); err != nil {
		t.Fatalf("image gone: %v", err)
	}
}

// One broken image (a layer, or the config, gone) is skipped by List with
// one warning, and rmi and prune remove it.
func TestBrokenImageSkippedAndRemovable(t *testing.T) {
	s := newStore(t)
	var warnings bytes.Buffer
	s.SetWarnings(&warnings)
	good := importTar(t, s, "good", tarOf(file("g", "g")))
	noLayer := importTar(t, s, "nolayer", tarOf(file("l", "l")))
	noConfig := importTar(t, s, "", tarOf(file("c", "c")))
	if err := os.RemoveAll(s.layerDir(noLayer.Layers[0].ChainID)); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(s.blobPath(noConfig.ID)); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		imgs, err := s.List()
		if err != nil {
			t.Fatalf("one broken image fails the listing: %v", err)
		}
		if len(imgs) != 1 || imgs[0].ID != good.ID {
			t.Fatalf("listed %d images, want only the good one", len(imgs))
		}
	}
	w := warnings.String()
	if strings.Count(w, "WARNING: skipping broken image") != 2 || !strings.Contains(w, "nolayer:latest") ||
		!strings.Contains(w, noConfig.ManifestDigest.String()) {
		t.Fatalf("want one warning per broken image, got:\n%s", w)
	}
	lines, err := s.Remove("nolayer", false, nil)
	if err != nil || len(lines) != 2 || lines[0] != "Untagged: nolayer:latest" {
		t.Fatalf("rmi of an image with a missing layer: %v %v", lines, err)
	}
	if s.hasBlob(noLayer.ManifestDigest) || s.hasBlob(noLayer.ID) {
		t.Fatal("rmi of a broken image kept its manifest or config")
	}
	deleted, _, err := s.Prune(false, nil)
	if err != nil || len(deleted) != 1 || deleted[0] != noConfig.ID {
		t.Fatalf("prune of a dangling image with no config: %v %v", deleted, err)
	}
	imgs, err := s.List()
	if err != nil || len(imgs) != 1 {
		t.Fatalf("after removing the broken images: %d images, %v", len(imgs), err)
	}
	if entries, _ := os.ReadDir(s.blobsDir); len(entries) != 3 { // good's manifest, config, layer
		t.Fatalf("%d blobs left, want the good image's 3", len(entries))
	}
}

// ociLayoutOf builds an OCI layout tar of several images, each one layer,
// named by the io.containerd.image.name annotation.
func ociLayoutOf(t *testing.T, images map[string][]byte) []byte {
	t.Helper()
	var entries []entry
	idx := ocispec.Index{Manifests: []ocispec.Descriptor{}}
	idx.SchemaVersion = 2
	for _, name := range []string{"a:1", "b:1"} {
		l, ok := images[name]
		if !ok {
			continue
		}
		gz := gzipOf(l)
		ld := digest.FromBytes(gz)
		cfg, _ := json.Marshal(ocispec.Image{Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
			RootFS: ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{digest.FromBytes(l)}}})
		cd := digest.FromBytes(cfg)
		man := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest,
			Config: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: cd, Size: int64(len(cfg))},
			Layers: []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: ld, Size: int64(len(gz))}}}
		man.SchemaVersion = 2
		manData, _ := json.Marshal(man)
		md := digest.FromBytes(manData)
		idx.Manifests = append(idx.Manifests, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: md,
			Size: int64(len(manData)), Annotations: map[string]string{"io.containerd.image.name": name}})
		entries = append(entries, file("blobs/sha256/"+ld.Encoded(), string(gz)),
			file("blobs/sha256/"+cd.Encoded(), string(cfg)), file("blobs/sha256/"+md.Encoded(), string(manData)))
	}
	idxData, _ := json.Marshal(idx)
	entries = append(entries, file("oci-layout", `{"imageLayoutVersion":"1.0.0"}`), file("index.json", string(idxData)))
	return tarOf(entries...)
}

// A two-image load whose second image fails keeps nothing: not the first
// image, not its re-tagging of a name the store already had.
func TestFailedMultiImageLoadKeepsNothing(t *testing.T) {
	s := newStore(t)
	old := importTar(t, s, "a:1", tarOf(file("old", "o")))
	before := snapshot(t, s.root)

	// b's layer escapes its root: refused while unpacking, after a's unpacked.
	arc := ociLayoutOf(t, map[string][]byte{
		"a:1": tarOf(file("new", "n")),
		"b:1": tarOf(file("ok", "1"), file("../../evil", "x")),
	})
	if _, err := s.Load(bytes.NewReader(arc), nil); err == nil {
		t.Fatal("load of an archive with a bad image succeeded")
	}
	if after := snapshot(t, s.root); after != before {
		t.Fatalf("failed load changed the store:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	img, err := s.Resolve("a:1")
	if err != nil || img.ID != old.ID {
		t.Fatalf("a:1 moved by a failed load: %v", err)
	}
	// The same archive without the bad image loads both names at once.
	if imgs, err := s.Load(bytes.NewReader(ociLayoutOf(t, map[string][]byte{"a:1": tarOf(file("new", "n"))})), nil); err != nil || len(imgs) != 1 {
		t.Fatalf("good load: %v", err)
	}
	if img, _ := s.Resolve("a:1"); img == nil || img.ID == old.ID {
		t.Fatal("a good load did not move a:1")
	}
}

// snapshot is listing plus each regular file's content digest: what
// "byte-identical" compares.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	for _, line := range strings.Split(listing(t, dir), "\n") {
		b.WriteString(line)
		rel := strings.SplitN(line, " ", 2)[0]
		if fi, err := os.Lstat(filepath.Join(dir, rel)); err == nil && fi.Mode().IsRegular() {
			data, err := os.ReadFile(filepath.Join(dir, rel))
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, " %s", digest.FromBytes(data).Encoded()[:12])
		}
		b.WriteByte('\n')
	}
	return b.String()
}
