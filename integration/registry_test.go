package integration

import (
	"context"
	"io"
	"math/rand"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
	"github.com/sirupsen/logrus"
)

// startRegistry runs distribution's registry in this test process on
// 127.0.0.1:<free port>, storing in a temp dir, and returns host:port.
// slow delays every blob response, so a pull can be killed mid-transfer.
func startRegistry(t *testing.T, slow time.Duration) string {
	t.Helper()
	cfg := &configuration.Configuration{
		Storage: configuration.Storage{
			"filesystem":  configuration.Parameters{"rootdirectory": t.TempDir()},
			"maintenance": configuration.Parameters{"uploadpurging": map[any]any{"enabled": false}},
		},
	}
	cfg.Log.AccessLog.Disabled = true
	// The registry logs every request through logrus's standard logger; the
	// test's own assertions say what went wrong.
	logrus.SetOutput(io.Discard)
	app := handlers.NewApp(context.Background(), cfg)
	var h http.Handler = app
	if slow > 0 {
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.Contains(r.URL.Path, "/blobs/") && r.Method == http.MethodGet {
				time.Sleep(slow)
			}
			app.ServeHTTP(w, r)
		})
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ErrorLog: nil}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func TestRegistryPushRmiPull(t *testing.T) {
	e := newImageEnv(t)
	reg := startRegistry(t, 0)
	e.importBusybox("busybox")
	want := e.inspect("busybox")
	remote := reg + "/pcr-test/busybox:v1"

	out := e.run("push", "busybox", remote).ok(t).stdout
	if !strings.Contains(out, "digest: "+want.ManifestDigest) {
		t.Fatalf("push output %q does not give the manifest digest %s", out, want.ManifestDigest)
	}
	e.run("rmi", "busybox").ok(t)
	e.run("images", "-q").ok(t)
	if ids := strings.TrimSpace(e.run("images", "-q").stdout); ids != "" {
		t.Fatalf("images after rmi: %q", ids)
	}
	out = e.run("pull", remote).ok(t).stdout
	if !strings.Contains(out, "Digest: "+want.ManifestDigest) {
		t.Fatalf("pull output %q", out)
	}
	got := e.inspect(remote)
	if got.ID != want.ID || got.ManifestDigest != want.ManifestDigest || strings.Join(got.RootFS.Layers, ",") != strings.Join(want.RootFS.Layers, ",") {
		t.Fatalf("pulled image differs: got %+v, want %+v", got, want)
	}
	if len(got.RepoTags) != 1 || got.RepoTags[0] != remote {
		t.Fatalf("pulled image named %v, want %s (no registry host added or changed)", got.RepoTags, remote)
	}
	// The unpacked layer is the busybox rootfs.
	for _, dir := range strings.Split(got.GraphDriver.Data["LayerDirs"], ":") {
		if _, err := os.Stat(filepath.Join(dir, "bin", "busybox")); err != nil {
			t.Fatalf("pulled layer: %v", err)
		}
	}
	// Pushing under a second tag uploads nothing new and keeps the digest.
	out = e.run("push", remote, reg+"/pcr-test/busybox:v2").ok(t).stdout
	if !strings.Contains(out, want.ManifestDigest) {
		t.Fatalf("second push: %q", out)
	}
	e.run("pull", reg+"/pcr-test/nothere").fails(t, "pull "+reg+"/pcr-test/nothere:latest")
}

// TestRegistryPullKilled SIGKILLs `pcr pull` at random points; afterwards
// the store must be consistent: prune clears the leftovers, and a pull
// that runs to the end gives the right image.
func TestRegistryPullKilled(t *testing.T) {
	e := newImageEnv(t)
	reg := startRegistry(t, 80*time.Millisecond)
	e.importBusybox("busybox")
	want := e.inspect("busybox")
	remote := reg + "/pcr-test/killed:v1"
	e.run("push", "-q", "busybox", remote).ok(t)
	e.run("rmi", "busybox").ok(t)

	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewSource(seed))
	deadline := time.Now().Add(6 * time.Second)
	killed := 0
	for i := 0; i < 6 && time.Now().Before(deadline); i++ {
		delay := time.Duration(rng.Intn(250)) * time.Millisecond
		cmd := exec.Command(pcrBin, "--root", e.root, "--state", e.state, "pull", "-q", remote)
		cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(delay)
		if cmd.Process.Signal(syscall.SIGKILL) == nil {
			killed++
		}
		cmd.Wait()
		// Whatever state the kill left, listing and resolving still work.
		e.run("images").ok(t)
		if r := e.run("image", "inspect", remote); r.code == 0 {
			e.run("rmi", remote).ok(t)
		}
	}
	t.Logf("seed %d: %d pulls killed", seed, killed)
	e.run("image", "prune", "-f").ok(t)
	leftovers, _ := filepath.Glob(filepath.Join(e.root, "layers", "tmp-*"))
	more, _ := filepath.Glob(filepath.Join(e.root, "images", "blobs", "sha256", "tmp-*"))
	leftovers = append(leftovers, more...)
	for _, pattern := range []string{"images/.*.tmp-*", "images/blobs/sha256/.*.tmp-*", "images/tmp-*"} {
		more, _ = filepath.Glob(filepath.Join(e.root, pattern))
		leftovers = append(leftovers, more...)
	}
	if len(leftovers) > 0 {
		t.Fatalf("prune left %v", leftovers)
	}
	if blobs, _ := os.ReadDir(filepath.Join(e.root, "images", "blobs", "sha256")); len(blobs) != 0 {
		t.Fatalf("prune of an empty store left %d blobs", len(blobs))
	}
	e.run("pull", "-q", remote).ok(t)
	if got := e.inspect(remote); got.ID != want.ID || got.ManifestDigest != want.ManifestDigest {
		t.Fatalf("pull after kills: %s/%s, want %s/%s", got.ID, got.ManifestDigest, want.ID, want.ManifestDigest)
	}
}
