package build

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

func gzipped(t *testing.T, data []byte) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(data)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func zstded(t *testing.T, data []byte) []byte {
	var b bytes.Buffer
	zw, err := zstd.NewWriter(&b)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(data)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func tarOf(t *testing.T, name, content string) []byte {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg})
	tw.Write([]byte(content))
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// ADD unpacks tars, compressed or not, and copies every other file as it
// is, a compressed file that is not a tar (or only looks compressed) too.
func TestAddArchiveUnpacksTarsOnly(t *testing.T) {
	text := []byte(strings.Repeat("not a tar\n", 100))
	for name, tc := range map[string]struct {
		data   []byte
		unpack bool
	}{
		"plain.txt":      {text, false},
		"small.txt":      {[]byte("hi"), false},
		"notes.txt.gz":   {gzipped(t, text), false},
		"notes.txt.zst":  {zstded(t, text), false},
		"fake.gz":        {append([]byte{0x1f, 0x8b}, text...), false},
		"archive.tar":    {tarOf(t, "in.txt", "x"), true},
		"archive.tar.gz": {gzipped(t, tarOf(t, "in.txt", "x")), true},
		"archive.tzst":   {zstded(t, tarOf(t, "in.txt", "x")), true},
	} {
		ctxDir, root := t.TempDir(), t.TempDir()
		if err := os.WriteFile(filepath.Join(ctxDir, name), tc.data, 0o644); err != nil {
			t.Fatal(err)
		}
		ctx, err := openContext(ctxDir)
		if err != nil {
			t.Fatal(err)
		}
		c := copier{root: root}
		ok, err := c.addArchive(ctx, name, "/dst")
		if err != nil || ok != tc.unpack {
			t.Errorf("%s: addArchive = %v, %v; want %v", name, ok, err, tc.unpack)
			continue
		}
		if tc.unpack {
			if b, err := os.ReadFile(filepath.Join(root, "dst/in.txt")); err != nil || string(b) != "x" {
				t.Errorf("%s: unpacked in.txt = %q, %v", name, b, err)
			}
		} else if entries, _ := os.ReadDir(root); len(entries) != 0 {
			t.Errorf("%s: not an archive, yet addArchive wrote %d entries", name, len(entries))
		}
	}
}

func TestCachePutGet(t *testing.T) {
	c := cache{dir: t.TempDir()}
	key := cacheKey("parent", "RUN", "true")
	if _, ok := c.get(key); ok {
		t.Fatal("empty cache hit")
	}
	if err := c.put(key, "sha256:abc"); err != nil {
		t.Fatal(err)
	}
	if id, ok := c.get(key); !ok || id != "sha256:abc" {
		t.Errorf("get = %q, %v", id, ok)
	}
	entries, _ := os.ReadDir(c.dir)
	if len(entries) != 1 {
		t.Errorf("cache dir holds %d entries, want 1 (no temp files)", len(entries))
	}
}
