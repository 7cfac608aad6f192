package engine

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEngineCopyViewMapsBinds: container paths under a bind mount (a
// volume, /etc/hosts) are on its host source, resolved inside it; a tmpfs
// is refused; a read-only volume refuses writes.
func TestEngineCopyViewMapsBinds(t *testing.T) {
	dir := t.TempDir()
	rootfs := filepath.Join(dir, "rootfs")
	vol := t.TempDir()
	for _, d := range []string{"etc", "data", "run", "ro"} {
		os.MkdirAll(filepath.Join(rootfs, d), 0o755)
	}
	os.WriteFile(filepath.Join(rootfs, "etc/hosts"), []byte("image's\n"), 0o644)
	os.Symlink("/data", filepath.Join(rootfs, "link"))
	os.WriteFile(filepath.Join(dir, "hosts"), []byte("container's\n"), 0o644)
	os.WriteFile(filepath.Join(vol, "f"), []byte("volume\n"), 0o644)
	os.Symlink("/etc", filepath.Join(vol, "escape"))
	config := `{"ociVersion":"1.2.0","mounts":[
		{"destination":"/proc","type":"proc","source":"proc"},
		{"destination":"/etc/hosts","type":"bind","source":"` + filepath.Join(dir, "hosts") + `","options":["rbind","rprivate"]},
		{"destination":"/data","type":"bind","source":"` + vol + `","options":["rbind","rprivate"]},
		{"destination":"/ro","type":"bind","source":"` + vol + `","options":["rbind","rprivate","ro"]},
		{"destination":"/run","type":"tmpfs","source":"tmpfs"}]}`
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(config), 0o644)
	root, err := os.OpenRoot(rootfs)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	v := &ctrView{rootfs: root, desc: "container x"}
	if v.mounts, err = containerMounts(dir, root); err != nil {
		t.Fatal(err)
	}
	read := func(p string) string {
		t.Helper()
		end, done, err := v.end(p, false)
		if err != nil {
			t.Fatalf("end(%s): %v", p, err)
		}
		defer done()
		rel, err := resolveIn(end.root, end.path, true)
		if err != nil {
			t.Fatal(err)
		}
		data, err := end.root.ReadFile(rel)
		if err != nil {
			return "error: " + err.Error()
		}
		return string(data)
	}
	for p, want := range map[string]string{
		"/etc/hosts":         "container's\n",
		"/data/f":            "volume\n",
		"/link/f":            "volume\n", // a rootfs link into the volume
		"/ro/f":              "volume\n",
		"/data/../etc/hosts": "container's\n",
	} {
		if got := read(p); got != want {
			t.Errorf("read %s = %q, want %q", p, got, want)
		}
	}
	// A link in the volume resolves inside the volume, never to the host.
	if got := read("/data/escape/hosts"); !strings.HasPrefix(got, "error") {
		t.Errorf("read through the volume's /etc link = %q; it must stay inside the volume", got)
	}
	end, done, err := v.end("/etc/hosts", true)
	if err != nil || !end.inPlace || end.name != "hosts" {
		t.Errorf("file bind end = %+v, %v; want written in place", end, err)
	} else {
		done()
	}
	if _, _, err := v.end("/run/x", true); err == nil || !strings.Contains(err.Error(), "tmpfs mount") {
		t.Errorf("tmpfs: %v", err)
	}
	if _, _, err := v.end("/ro/f", true); err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("read-only volume: %v", err)
	}
}
