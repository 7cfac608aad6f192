package engine

import (
	"os"
	"path/filepath"
	"testing"

	digest "github.com/opencontainers/go-digest"

	"pcr/cgroup"
	"pcr/image"
)

func TestCgroupVersionText(t *testing.T) {
	for mode, want := range map[string]string{
		cgroup.ModeV1: "1", cgroup.ModeV2: "2", cgroup.ModeHybrid: "1 (hybrid, cgroup2 at /sys/fs/cgroup/unified)",
	} {
		if got := CgroupVersionText(mode); got != want {
			t.Errorf("%s: %q, want %q", mode, got, want)
		}
	}
}

func TestOSPrettyName(t *testing.T) {
	p := filepath.Join(t.TempDir(), "os-release")
	mustDo(t, os.WriteFile(p, []byte("NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"), 0o644))
	if got := osPrettyName(p); got != "Debian GNU/Linux 12 (bookworm)" {
		t.Errorf("PRETTY_NAME %q", got)
	}
	if got := osPrettyName(p + ".missing"); got != "unknown" {
		t.Errorf("missing file: %q", got)
	}
}

func TestImageUsageCountsSharedLayersOnce(t *testing.T) {
	l := func(n string, size int64) image.Layer { return image.Layer{ChainID: digest.FromString(n), Size: size} }
	base, php, other := l("base", 100), l("php", 30), l("other", 7)
	imgs := []*image.Image{
		{ID: "sha256:a", Layers: []image.Layer{base}},
		{ID: "sha256:b", Layers: []image.Layer{base, php}},
		{ID: "sha256:c", Layers: []image.Layer{base, other}},
	}
	row := imageUsage(imgs, map[digest.Digest]bool{"sha256:b": true})
	want := DiskUsageRow{Type: "Images", Total: 3, Active: 1, Size: 137, Reclaimable: 7}
	if row != want {
		t.Errorf("usage %+v, want %+v", row, want)
	}
}

func TestDirSizeCountsHardLinksOnce(t *testing.T) {
	d := t.TempDir()
	mustDo(t, os.WriteFile(filepath.Join(d, "a"), make([]byte, 1000), 0o644))
	mustDo(t, os.Link(filepath.Join(d, "a"), filepath.Join(d, "b")))
	mustDo(t, os.MkdirAll(filepath.Join(d, "sub"), 0o755))
	mustDo(t, os.WriteFile(filepath.Join(d, "sub/c"), make([]byte, 24), 0o644))
	if got := DirSize(d); got != 1024 {
		t.Errorf("DirSize = %d, want 1024", got)
	}
}
