package integration

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// imageEnv drives the engine commands (`pcr --root R --state S …`) on a
// private store, with newEnv's leak checks (mounts, processes) after the test.
type imageEnv struct {
	*env
	root, state string
}

func newImageEnv(t *testing.T) *imageEnv {
	e := newEnv(t)
	return &imageEnv{env: e, root: filepath.Join(e.dir, "root"), state: filepath.Join(e.dir, "run")}
}

func (e *imageEnv) run(args ...string) result { return e.runIn(nil, args...) }

func (e *imageEnv) runIn(stdin []byte, args ...string) result {
	return runPCR(e.t, 60*time.Second, stdin, []string{"--root", e.root, "--state", e.state}, args)
}

// busyboxTar is the fixture rootfs tarball.
func busyboxTarball(t *testing.T) string {
	t.Helper()
	for _, p := range []string{filepath.Join(fixtures, "busybox", "busybox.tar"), filepath.Join(fixtures, "busybox.tar")} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatalf("no busybox.tar under %s (run make fixtures)", fixtures)
	return ""
}

func (e *imageEnv) importBusybox(name string) string {
	e.t.Helper()
	id := strings.TrimSpace(e.run("import", busyboxTarball(e.t), name).ok(e.t).stdout)
	if !strings.HasPrefix(id, "sha256:") || len(id) != 71 {
		e.t.Fatalf("import printed %q, want the image ID", id)
	}
	return id
}

type inspected struct {
	ID             string `json:"Id"`
	RepoTags       []string
	ManifestDigest string
	Size           int64
	Config         struct{ Cmd []string }
	RootFS         struct{ Layers []string }
	GraphDriver    struct{ Data map[string]string }
}

func (e *imageEnv) inspect(ref string) inspected {
	e.t.Helper()
	out := e.run("image", "inspect", ref).ok(e.t).stdout
	var v []inspected
	if err := json.Unmarshal([]byte(out), &v); err != nil || len(v) != 1 {
		e.t.Fatalf("image inspect %s: %v: %s", ref, err, out)
	}
	return v[0]
}

// storeListing is every path under the store but the lock files' contents: what "unchanged" compares.
func (e *imageEnv) storeListing() string {
	var lines []string
	filepath.Walk(e.root, func(p string, fi os.FileInfo, err error) error {
		if err == nil {
			lines = append(lines, p+" "+fi.Mode().String())
		}
		return nil
	})
	return strings.Join(lines, "\n")
}

func TestImageImportInspectTagHistoryRmi(t *testing.T) {
	e := newImageEnv(t)
	id := e.importBusybox("busybox")
	out := e.run("images").ok(t).stdout
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "REPOSITORY") {
		t.Fatalf("images:\n%s", out)
	}
	if f := strings.Fields(lines[1]); f[0] != "busybox" || f[1] != "latest" || f[2] != id[7:19] {
		t.Fatalf("images row %q, want busybox latest %s", lines[1], id[7:19])
	}
	img := e.inspect("busybox")
	if img.ID != id || len(img.RepoTags) != 1 || img.RepoTags[0] != "busybox:latest" || len(img.RootFS.Layers) != 1 || img.Size <= 0 {
		t.Fatalf("inspect: %+v", img)
	}
	if _, err := os.Stat(filepath.Join(img.GraphDriver.Data["LayerDirs"], "bin", "busybox")); err != nil {
		t.Fatalf("unpacked layer: %v", err)
	}
	// The same image by ID prefix and by full ID.
	if e.inspect(id[7:13]).ID != id || e.inspect(id).ID != id {
		t.Fatal("resolve by ID")
	}
	e.run("tag", "busybox", "127.0.0.1:5000/bb:v1").ok(t)
	if got := e.inspect("127.0.0.1:5000/bb:v1").RepoTags; strings.Join(got, ",") != "127.0.0.1:5000/bb:v1,busybox:latest" {
		t.Fatalf("tags %v", got)
	}
	if h := e.run("history", "busybox").ok(t).stdout; !strings.Contains(h, "pcr import") || !strings.Contains(h, id[7:19]) {
		t.Fatalf("history:\n%s", h)
	}
	if out := e.run("images", "--format", "json").ok(t).stdout; strings.Count(out, "\n") != 2 || !strings.Contains(out, `"Repository":"127.0.0.1:5000/bb"`) {
		t.Fatalf("images --format json:\n%s", out)
	}
	// By ID with two names: must be forced, as in Docker.
	e.run("rmi", id[7:19]).fails(t, "must be forced")
	if got := e.run("rmi", "127.0.0.1:5000/bb:v1").ok(t).stdout; got != "Untagged: 127.0.0.1:5000/bb:v1\n" {
		t.Fatalf("rmi of a second name: %q", got)
	}
	out = e.run("rmi", "busybox").ok(t).stdout
	if !strings.Contains(out, "Untagged: busybox:latest") || !strings.Contains(out, "Deleted: "+id) {
		t.Fatalf("rmi: %q", out)
	}
	if out := e.run("images", "-q").ok(t).stdout; out != "" {
		t.Fatalf("images after rmi: %q", out)
	}
	if layers, _ := filepath.Glob(filepath.Join(e.root, "layers", "[0-9a-f]*")); len(layers) != 0 {
		t.Fatalf("rmi left layers %v", layers)
	}
	r := e.run("rmi", "busybox").fails(t, "unable to find image 'busybox'")
	if r.code != 125 {
		t.Fatalf("rmi of a missing image: exit %d, want 125", r.code)
	}
	e.run("image", "inspect", "nothere").fails(t, "unable to find image 'nothere'")
}

func TestImageSaveLoadPrune(t *testing.T) {
	e := newImageEnv(t)
	id := e.importBusybox("busybox:1")
	want := e.inspect("busybox:1")
	archive := filepath.Join(e.dir, "bb.tar")
	e.run("save", "-o", archive, "busybox:1").ok(t)
	e.run("rmi", "busybox:1").ok(t)
	out := e.run("load", "-i", archive).ok(t).stdout
	if !strings.Contains(out, "Loaded image: busybox:1") {
		t.Fatalf("load: %q", out)
	}
	if got := e.inspect("busybox:1"); got.ID != id || got.ManifestDigest != want.ManifestDigest {
		t.Fatalf("load gave %s/%s, want %s/%s", got.ID, got.ManifestDigest, id, want.ManifestDigest)
	}
	// From stdin, gzipped, into a second store: the same digests.
	data, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(data)
	zw.Close()
	other := &imageEnv{env: e.env, root: filepath.Join(e.dir, "root2"), state: e.state}
	other.runIn(gz.Bytes(), "load").ok(t)
	if got := other.inspect("busybox:1"); got.ID != id || got.ManifestDigest != want.ManifestDigest {
		t.Fatalf("load from stdin: %s", got.ID)
	}
	// An unnamed import is dangling: <none>, and prune removes it but not named ones.
	dangling := e.importBusybox("")
	if !strings.Contains(e.run("images").ok(t).stdout, "<none>") {
		t.Fatal("dangling image not shown as <none>")
	}
	out = e.run("image", "prune", "-f").ok(t).stdout
	if dangling != id && !strings.Contains(out, "deleted: "+dangling) {
		t.Fatalf("prune: %q", out)
	}
	if got := strings.TrimSpace(e.run("images", "-q", "--no-trunc").ok(t).stdout); got != id {
		t.Fatalf("after prune: %q, want only %s", got, id)
	}
	e.run("image", "prune", "-a", "-f").ok(t)
	if got := e.run("images", "-q").ok(t).stdout; got != "" {
		t.Fatalf("after prune -a: %q", got)
	}
	if blobs, _ := os.ReadDir(filepath.Join(e.root, "images", "blobs", "sha256")); len(blobs) != 0 {
		t.Fatalf("prune -a left %d blobs", len(blobs))
	}
}

func TestImageBadTarballs(t *testing.T) {
	e := newImageEnv(t)
	e.importBusybox("busybox")
	tarOf := func(name, body string) []byte {
		var b bytes.Buffer
		tw := tar.NewWriter(&b)
		tw.WriteHeader(&tar.Header{Name: "ok", Typeflag: tar.TypeReg, Mode: 0o644, Size: 2})
		tw.Write([]byte("ok"))
		tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))})
		tw.Write([]byte(body))
		tw.Close()
		return b.Bytes()
	}
	busybox, err := os.ReadFile(busyboxTarball(t))
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(busybox)
	zw.Close()
	corrupt := gz.Bytes()[:gz.Len()*2/3]
	corrupt[len(corrupt)/2] ^= 0x55
	escaping := tarOf("../../../../escaped", "x")
	images := e.run("images", "--no-trunc").ok(t).stdout
	before := e.storeListing()
	for _, c := range []struct {
		name string
		args []string
		in   []byte
		want string
	}{
		{"import escaping entry", []string{"import", "-", "bad"}, escaping, "escapes"},
		{"import corrupt gzip", []string{"import", "-", "bad"}, corrupt, "import"},
		{"load escaping entry", []string{"load"}, escaping, "leaves the archive"},
		{"load corrupt gzip", []string{"load"}, corrupt, "load"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := e.runIn(c.in, c.args...).fails(t, c.want)
			if r.code != 125 {
				t.Fatalf("exit %d, want 125", r.code)
			}
			if got := e.run("images", "--no-trunc").ok(t).stdout; got != images {
				t.Fatalf("images changed:\n%s\nwant:\n%s", got, images)
			}
			if after := e.storeListing(); after != before {
				t.Fatalf("store changed:\n%s\nwant:\n%s", after, before)
			}
		})
	}
}

// TestImageBrokenImage: an image whose config blob is gone does not break
// `images`; it is reported once and `rmi` removes it.
func TestImageBrokenImage(t *testing.T) {
	e := newImageEnv(t)
	good := e.importBusybox("good")
	broken := e.importBusybox("broken")
	if err := os.Remove(filepath.Join(e.root, "images", "blobs", "sha256", broken[7:])); err != nil {
		t.Fatal(err)
	}
	r := e.run("images", "-q", "--no-trunc").ok(t)
	if strings.TrimSpace(r.stdout) != good {
		t.Fatalf("images with a broken one: %q, want only %s", r.stdout, good)
	}
	if strings.Count(r.stderr, "skipping broken image broken:latest") != 1 {
		t.Fatalf("want one warning naming the broken image, stderr: %q", r.stderr)
	}
	e.run("image", "inspect", "broken").fails(t, "missing from the store")
	if out := e.run("rmi", "broken").ok(t).stdout; !strings.Contains(out, "Untagged: broken:latest") {
		t.Fatalf("rmi of a broken image: %q", out)
	}
	if r := e.run("images", "-q", "--no-trunc").ok(t); strings.TrimSpace(r.stdout) != good || r.stderr != "" {
		t.Fatalf("after rmi: %q, stderr %q", r.stdout, r.stderr)
	}
	e.run("image", "prune", "-f").ok(t)
	e.inspect("good")
}

// intermediateLayout is an OCI layout of an untagged base and a child built
// on it (the base's layer and history, one more of each) named app:1: what
// a build leaves, a parent step and the tagged result.
func intermediateLayout(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	put := func(name string, data []byte) {
		tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(data))})
		tw.Write(data)
	}
	sha := func(data []byte) string { return fmt.Sprintf("sha256:%x", sha256.Sum256(data)) }
	layerOf := func(name string) []byte {
		var l bytes.Buffer
		lw := tar.NewWriter(&l)
		lw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: 1})
		lw.Write([]byte("x"))
		lw.Close()
		return l.Bytes()
	}
	type desc struct {
		MediaType   string            `json:"mediaType"`
		Digest      string            `json:"digest"`
		Size        int               `json:"size"`
		Annotations map[string]string `json:"annotations,omitempty"`
	}
	history := []map[string]any{{"created": "2024-01-01T00:00:00Z", "created_by": "FROM scratch"}, {"created": "2024-01-01T00:00:01Z", "created_by": "RUN b"}}
	layers := [][]byte{layerOf("a"), layerOf("b")}
	var index []desc
	for n := 1; n <= 2; n++ {
		var diffIDs []string
		var ldescs []desc
		for _, l := range layers[:n] {
			put("blobs/sha256/"+sha(l)[7:], l)
			diffIDs = append(diffIDs, sha(l))
			ldescs = append(ldescs, desc{MediaType: "application/vnd.oci.image.layer.v1.tar", Digest: sha(l), Size: len(l)})
		}
		cfg, _ := json.Marshal(map[string]any{"created": history[n-1]["created"], "architecture": "amd64", "os": "linux",
			"rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs}, "history": history[:n]})
		put("blobs/sha256/"+sha(cfg)[7:], cfg)
		man, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
			"config": desc{MediaType: "application/vnd.oci.image.config.v1+json", Digest: sha(cfg), Size: len(cfg)}, "layers": ldescs})
		put("blobs/sha256/"+sha(man)[7:], man)
		d := desc{MediaType: "application/vnd.oci.image.manifest.v1+json", Digest: sha(man), Size: len(man)}
		if n == 2 {
			d.Annotations = map[string]string{"io.containerd.image.name": "app:1"}
		}
		index = append(index, d)
	}
	idx, _ := json.Marshal(map[string]any{"schemaVersion": 2, "manifests": index})
	put("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`))
	put("index.json", idx)
	tw.Close()
	return b.Bytes()
}

// TestImageIntermediatesHidden: as in Docker, `images` hides an untagged
// image another image was built on (-a shows it), and prune without -a
// keeps it while its child is tagged, removing it once the child is gone.
func TestImageIntermediatesHidden(t *testing.T) {
	e := newImageEnv(t)
	e.runIn(intermediateLayout(t), "load", "-q").ok(t)
	rows := func(args ...string) []string {
		out := strings.TrimSpace(e.run(append([]string{"images"}, args...)...).ok(t).stdout)
		return strings.Split(out, "\n")[1:]
	}
	if r := rows(); len(r) != 1 || !strings.HasPrefix(r[0], "app ") {
		t.Fatalf("images: %q, want only app", r)
	}
	if r := rows("-a"); len(r) != 2 || !strings.HasPrefix(r[1], "<none> ") {
		t.Fatalf("images -a: %q, want app and the <none> parent", r)
	}
	e.run("image", "prune", "-f").ok(t)
	if r := rows("-a"); len(r) != 2 {
		t.Fatalf("prune removed the parent of a tagged image: %q", r)
	}
	e.run("rmi", "app:1").ok(t)
	if r := rows(); len(r) != 1 || !strings.HasPrefix(r[0], "<none> ") {
		t.Fatalf("after rmi app: %q, want the now childless parent shown", r)
	}
	out := e.run("image", "prune", "-f").ok(t).stdout
	if !strings.Contains(out, "deleted: sha256:") {
		t.Fatalf("prune of the childless parent: %q", out)
	}
	if r := rows("-a"); len(r) != 0 {
		t.Fatalf("after prune: %q", r)
	}
}
