package image

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestCreateImageChain(t *testing.T) {
	s := newStore(t)
	base := importTar(t, s, "base", tarOf(dir("etc/"), file("etc/os", "base")))
	l2 := tarOf(file("etc/php", "8.2"))
	mid, err := s.CreateImage(NewImage{Parent: base, Layer: bytes.NewReader(l2), Config: ocispec.ImageConfig{Cmd: []string{"php"}},
		History: ocispec.History{CreatedBy: "RUN apt-get install php-cli"}, Name: "mid:1"})
	if err != nil {
		t.Fatal(err)
	}
	top, err := s.CreateImage(NewImage{Parent: mid, Config: ocispec.ImageConfig{Env: []string{"A=1"}}, History: ocispec.History{CreatedBy: "ENV A=1"}})
	if err != nil {
		t.Fatal(err)
	}
	diff2 := digest.FromBytes(l2)
	if got := mid.Config.RootFS.DiffIDs; len(got) != 2 || got[0] != base.Config.RootFS.DiffIDs[0] || got[1] != diff2 {
		t.Fatalf("diff IDs %v", got)
	}
	wantChain := digest.FromString(base.Layers[0].ChainID.String() + " " + diff2.String())
	if mid.Layers[1].ChainID != wantChain || mid.Layers[0].ChainID != base.Layers[0].DiffID {
		t.Fatalf("chain IDs %s %s, want %s", mid.Layers[0].ChainID, mid.Layers[1].ChainID, wantChain)
	}
	if data, err := os.ReadFile(filepath.Join(mid.Layers[1].Dir, "etc/php")); err != nil || string(data) != "8.2" {
		t.Fatalf("unpacked layer: %q %v", data, err)
	}
	if target, err := os.Readlink(mid.Layers[1].Link); err != nil || target != "../"+wantChain.Encoded()+"/diff" {
		t.Fatalf("short link %s -> %s (%v)", mid.Layers[1].Link, target, err)
	}
	if got := s.LowerDirs(mid); len(got) != 2 || got[0] != mid.Layers[1].Link || got[1] != base.Layers[0].Link {
		t.Fatalf("LowerDirs %v", got)
	}
	if len(top.Layers) != 2 || top.Layers[1].ChainID != wantChain || len(top.Config.History) != 3 || !top.Config.History[2].EmptyLayer {
		t.Fatalf("config-only child: layers %v history %+v", top.Layers, top.Config.History)
	}
	if top.Size != mid.Size || mid.Size != base.Size+int64(len(l2)) {
		t.Fatalf("sizes base %d mid %d top %d", base.Size, mid.Size, top.Size)
	}
	if len(top.Names) != 0 || len(mid.Names) != 1 || mid.Names[0] != "mid:1" {
		t.Fatalf("names mid %v top %v", mid.Names, top.Names)
	}
}

func TestIndexNames(t *testing.T) {
	s := newStore(t)
	a := importTar(t, s, "x", tarOf(file("a", "1")))
	b := importTar(t, s, "", tarOf(file("b", "2")))
	if len(b.Names) != 0 {
		t.Fatalf("unnamed import has names %v", b.Names)
	}
	// Moving x to b leaves a dangling, and b named once.
	if err := s.Tag(b.ID.Encoded()[:8], "x"); err != nil {
		t.Fatal(err)
	}
	if err := s.Tag("x", "y:2"); err != nil {
		t.Fatal(err)
	}
	imgs, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	names := map[digest.Digest][]string{}
	for _, i := range imgs {
		names[i.ID] = i.Names
	}
	if len(imgs) != 2 || len(names[a.ID]) != 0 || strings.Join(names[b.ID], ",") != "x:latest,y:2" {
		t.Fatalf("names after tag: %v", names)
	}
	idx, err := s.readIndex()
	if err != nil {
		t.Fatal(err)
	}
	if len(idx.Manifests) != 3 {
		t.Fatalf("index has %d descriptors, want 3 (a dangling, b twice): %+v", len(idx.Manifests), idx.Manifests)
	}
	if err := s.Tag("nothere", "z"); err == nil {
		t.Fatal("tag of a missing image succeeded")
	}
	entries, _ := os.ReadDir(s.imagesDir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "tmp-") {
			t.Fatalf("index write left %s", e.Name())
		}
	}
}

func TestRemoveAndPruneShareLayers(t *testing.T) {
	s := newStore(t)
	base := importTar(t, s, "base", tarOf(file("base", "b")))
	child, err := s.CreateImage(NewImage{Parent: base, Layer: bytes.NewReader(tarOf(file("c", "c"))), Name: "child"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Tag("base", "alias"); err != nil {
		t.Fatal(err)
	}
	// A second name: rmi by name only untags.
	lines, err := s.Remove("alias", false, nil)
	if err != nil || strings.Join(lines, "|") != "Untagged: alias:latest" {
		t.Fatalf("rmi alias: %v %v", lines, err)
	}
	// The base's layer is shared by child: removing base keeps it.
	lines, err = s.Remove("base", false, nil)
	if err != nil || len(lines) != 2 || lines[1] != "Deleted: "+base.ID.String() {
		t.Fatalf("rmi base: %v %v", lines, err)
	}
	if _, err := os.Stat(base.Layers[0].Dir); err != nil {
		t.Fatalf("shared layer removed with base: %v", err)
	}
	if !s.hasBlob(base.Manifest.Layers[0].Digest) || s.hasBlob(base.ManifestDigest) {
		t.Fatal("rmi base: shared layer blob gone or base manifest kept")
	}
	// In use: refused, forced only untags.
	used := func() (map[digest.Digest]bool, error) { return map[digest.Digest]bool{child.ID: true}, nil }
	if _, err := s.Remove("child", false, used); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("rmi of an image in use: %v", err)
	}
	lines, err = s.Remove("child", true, used)
	if err != nil || lines[0] != "Untagged: child:latest" || !strings.HasPrefix(lines[1], "Kept: ") {
		t.Fatalf("rmi -f of an image in use: %v %v", lines, err)
	}
	if deleted, _, err := s.Prune(false, used); err != nil || len(deleted) != 0 {
		t.Fatalf("prune removed an image in use: %v %v", deleted, err)
	}
	deleted, freed, err := s.Prune(false, nil)
	if err != nil || len(deleted) != 1 || deleted[0] != child.ID || freed <= 0 {
		t.Fatalf("prune: %v %d %v", deleted, freed, err)
	}
	for _, l := range child.Layers {
		if _, err := os.Lstat(l.Dir); !os.IsNotExist(err) {
			t.Fatalf("layer %s left after prune: %v", l.ChainID, err)
		}
		if _, err := os.Lstat(l.Link); !os.IsNotExist(err) {
			t.Fatalf("link %s left after prune: %v", l.Link, err)
		}
	}
	blobs, _ := os.ReadDir(s.blobsDir)
	if len(blobs) != 0 {
		t.Fatalf("blobs left after everything is removed: %d", len(blobs))
	}
}

func TestPruneRemovesLeftovers(t *testing.T) {
	s := newStore(t)
	img := importTar(t, s, "keep", tarOf(file("k", "k")))
	before := listing(t, s.root)
	// What a killed pull leaves: a temp layer, a temp blob, an unreferenced blob and layer.
	os.MkdirAll(filepath.Join(s.layersDir, "tmp-123", "diff"), 0o755)
	os.WriteFile(filepath.Join(s.blobsDir, "tmp-456"), []byte("x"), 0o644)
	orphan, _, err := s.putBlob(strings.NewReader("orphan"), "", -1)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.unpackLayer(bytes.NewReader(tarOf(file("o", "o"))), img.Layers, ""); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Prune(false, nil); err != nil {
		t.Fatal(err)
	}
	if s.hasBlob(orphan) {
		t.Fatal("unreferenced blob survived prune")
	}
	if after := listing(t, s.root); after != before {
		t.Fatalf("prune left the store different:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// ociLayout builds an OCI layout tar of one image with the given layers.
func ociLayout(t *testing.T, name string, layers ...[]byte) ([]byte, digest.Digest) {
	t.Helper()
	var descs []ocispec.Descriptor
	var diffIDs []digest.Digest
	var entries []entry
	for _, l := range layers {
		gz := gzipOf(l)
		d := digest.FromBytes(gz)
		descs = append(descs, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: d, Size: int64(len(gz))})
		diffIDs = append(diffIDs, digest.FromBytes(l))
		entries = append(entries, file("blobs/sha256/"+d.Encoded(), string(gz)))
	}
	cfg, _ := json.Marshal(ocispec.Image{Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"}, RootFS: ocispec.RootFS{Type: "layers", DiffIDs: diffIDs}})
	cd := digest.FromBytes(cfg)
	man := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: cd, Size: int64(len(cfg))}, Layers: descs}
	man.SchemaVersion = 2
	manData, _ := json.Marshal(man)
	md := digest.FromBytes(manData)
	idx := ocispec.Index{Manifests: []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageManifest, Digest: md, Size: int64(len(manData)),
		Annotations: map[string]string{"io.containerd.image.name": name, ocispec.AnnotationRefName: "latest"}}}}
	idx.SchemaVersion = 2
	idxData, _ := json.Marshal(idx)
	entries = append(entries,
		file("blobs/sha256/"+cd.Encoded(), string(cfg)),
		file("blobs/sha256/"+md.Encoded(), string(manData)),
		file("oci-layout", `{"imageLayoutVersion":"1.0.0"}`),
		file("index.json", string(idxData)))
	return tarOf(entries...), md
}

func TestLoadOCILayout(t *testing.T) {
	s := newStore(t)
	arc, md := ociLayout(t, "127.0.0.1:5000/two:v1", tarOf(file("base", "1")), tarOf(file("top", "2")))
	imgs, err := s.Load(bytes.NewReader(gzipOf(arc)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 1 || imgs[0].ManifestDigest != md || strings.Join(imgs[0].Names, ",") != "127.0.0.1:5000/two:v1" || len(imgs[0].Layers) != 2 {
		t.Fatalf("loaded %+v", imgs[0])
	}
	if _, err := os.Stat(filepath.Join(imgs[0].Layers[1].Dir, "top")); err != nil {
		t.Fatal(err)
	}
	// Loading it again unpacks nothing new and changes nothing.
	before := listing(t, s.root)
	if _, err := s.Load(bytes.NewReader(arc), nil); err != nil {
		t.Fatal(err)
	}
	if after := listing(t, s.root); after != before {
		t.Fatalf("second load changed the store:\n%s\n---\n%s", before, after)
	}
}

func TestLoadDockerSave(t *testing.T) {
	s := newStore(t)
	l1, l2 := tarOf(file("base", "1")), tarOf(file("top", "2"))
	cfg, _ := json.Marshal(ocispec.Image{Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
		RootFS: ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{digest.FromBytes(l1), digest.FromBytes(l2)}}})
	cd := digest.FromBytes(cfg)
	manifest, _ := json.Marshal([]dockerManifestEntry{{Config: cd.Encoded() + ".json", RepoTags: []string{"busybox:latest", "other:1"},
		Layers: []string{"aaa/layer.tar", "bbb/layer.tar"}}})
	// The classic docker save layout: <id>/layer.tar, <config>.json, a symlinked duplicate.
	arc := tarOf(dir("aaa/"), file("aaa/layer.tar", string(l1)),
		dir("bbb/"), entry{tar.Header{Name: "bbb/layer.tar", Typeflag: tar.TypeSymlink, Linkname: "../ccc/layer.tar"}, ""},
		dir("ccc/"), file("ccc/layer.tar", string(l2)),
		file(cd.Encoded()+".json", string(cfg)), file("manifest.json", string(manifest)))
	imgs, err := s.Load(bytes.NewReader(arc), nil)
	if err != nil {
		t.Fatal(err)
	}
	img := imgs[0]
	if img.ID != cd || strings.Join(img.Names, ",") != "busybox:latest,other:1" || len(img.Layers) != 2 {
		t.Fatalf("loaded %s %v %d layers", img.ID, img.Names, len(img.Layers))
	}
	for _, l := range img.Manifest.Layers {
		if l.MediaType != ocispec.MediaTypeImageLayerGzip {
			t.Fatalf("plain docker layer stored as %s, want gzip", l.MediaType)
		}
	}
	blobs, _ := os.ReadDir(s.blobsDir)
	if len(blobs) != 4 { // config, manifest, two gzipped layers: no plain intermediates
		t.Fatalf("%d blobs after load, want 4", len(blobs))
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	s := newStore(t)
	base := importTar(t, s, "base", tarOf(file("base", "1")))
	child, err := s.CreateImage(NewImage{Parent: base, Layer: bytes.NewReader(tarOf(file("c", "2"))), Name: "127.0.0.1:5000/child:v2"})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := s.Save(&buf, []string{"127.0.0.1:5000/child:v2", "base"}); err != nil {
		t.Fatal(err)
	}
	s2 := newStore(t)
	imgs, err := s2.Load(bytes.NewReader(buf.Bytes()), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 2 {
		t.Fatalf("loaded %d images", len(imgs))
	}
	for _, want := range []*Image{child, base} {
		got, err := s2.Resolve(want.Names[0])
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != want.ID || got.ManifestDigest != want.ManifestDigest || got.Layers[len(got.Layers)-1].ChainID != want.Layers[len(want.Layers)-1].ChainID {
			t.Fatalf("round trip of %s: got %s/%s, want %s/%s", want.Names[0], got.ID, got.ManifestDigest, want.ID, want.ManifestDigest)
		}
	}
	// The docker view of the same archive names the same config and blobs.
	tr := tar.NewReader(bytes.NewReader(buf.Bytes()))
	var manifest []dockerManifestEntry
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		if h.Name == "manifest.json" {
			json.NewDecoder(tr).Decode(&manifest)
		}
	}
	if len(manifest) != 2 || manifest[0].Config != "blobs/sha256/"+child.ID.Encoded() || len(manifest[0].Layers) != 2 || manifest[0].RepoTags[0] != "127.0.0.1:5000/child:v2" {
		t.Fatalf("manifest.json %+v", manifest)
	}
}

func TestLoadRefusesBadContent(t *testing.T) {
	s := newStore(t)
	importTar(t, s, "keep", tarOf(file("k", "k")))
	good, _ := ociLayout(t, "x:1", tarOf(file("a", "1")), tarOf(file("b", "2")))
	// A blob whose content does not match its name.
	l1 := tarOf(file("a", "1"))
	forged := bytes.Replace(good, gzipOf(l1), gzipOf(tarOf(file("a", "X"))), 1)
	// A layer whose diff ID is not the config's.
	wrongDiff, _ := ociLayout(t, "x:1", tarOf(file("a", "1")))
	wrongDiff = bytes.Replace(wrongDiff, []byte(digest.FromBytes(l1).Encoded()), []byte(strings.Repeat("0", 64)), 1)
	// A gzip stream cut and corrupted in the middle.
	corrupt := gzipOf(good)
	corrupt = corrupt[:len(corrupt)/2]
	corrupt[len(corrupt)/3] ^= 0xff
	escape := tarOf(file("../x", "y"))
	for name, c := range map[string]struct {
		data []byte
		want string
	}{
		"digest mismatch": {forged, "digest mismatch"},
		"diff ID":         {wrongDiff, ""},
		"corrupt gzip":    {corrupt, ""},
		"escaping entry":  {escape, "leaves the archive"},
		"not an archive":  {[]byte("hello"), ""},
	} {
		t.Run(name, func(t *testing.T) {
			before := listing(t, s.root)
			_, err := s.Load(bytes.NewReader(c.data), nil)
			if err == nil {
				t.Fatal("load succeeded")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not contain %q", err, c.want)
			}
			if after := listing(t, s.root); after != before {
				t.Fatalf("failed load changed the store:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
}

func TestImportRefusesBadTar(t *testing.T) {
	s := newStore(t)
	importTar(t, s, "keep", tarOf(file("k", "k")))
	corrupt := gzipOf(tarOf(file("a", strings.Repeat("data", 4096))))
	corrupt[len(corrupt)/2] ^= 0xff
	for name, data := range map[string][]byte{
		"escaping entry": tarOf(file("ok", "1"), file("../../etc/evil", "x")),
		"absolute link":  tarOf(entry{tar.Header{Name: "l", Typeflag: tar.TypeSymlink, Linkname: "/"}, ""}, file("l/etc/evil", "x")),
		"corrupt gzip":   corrupt,
	} {
		t.Run(name, func(t *testing.T) {
			before := listing(t, s.root)
			if _, err := s.Import(bytes.NewReader(data), "bad", ocispec.ImageConfig{}); err == nil {
				t.Fatal("import succeeded")
			}
			if after := listing(t, s.root); after != before {
				t.Fatalf("failed import changed the store:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
}
