package build

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"pcr/image/dockerfile"
)

func TestExposedPorts(t *testing.T) {
	for in, want := range map[string][]string{
		"80":        {"80/tcp"},
		"53/UDP":    {"53/udp"},
		"8000-8002": {"8000/tcp", "8001/tcp", "8002/tcp"},
		"9/sctp":    {"9/sctp"},
	} {
		got, err := exposedPorts(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("exposedPorts(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"0", "http", "70000", "80/icmp", "90-80"} {
		if _, err := exposedPorts(bad); err == nil {
			t.Errorf("exposedPorts(%q) accepted", bad)
		}
	}
}

func TestDockerignore(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, ".dockerignore"), []byte("# comment\n*.log\nbuild\n**/secret*\n!keep.log\n"), 0o644)
	c, err := openContext(dir)
	if err != nil {
		t.Fatal(err)
	}
	for rel, want := range map[string]bool{
		"a.log":            true,
		"keep.log":         false,
		"sub/a.log":        false, // * stays in one component, as in Docker
		"build":            true,
		"build/out/x":      true,
		"src/main.go":      false,
		"src/secret.key":   true,
		"secret":           true,
		"deep/er/secret.x": true,
	} {
		if got := c.ignored(rel); got != want {
			t.Errorf("ignored(%q) = %v, want %v", rel, got, want)
		}
	}
}

func TestSourcesStayInContext(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.txt"), []byte("a"), 0o644)
	os.WriteFile(filepath.Join(dir, "b.txt"), []byte("b"), 0o644)
	c, err := openContext(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.sources("../etc/passwd"); err == nil || !strings.Contains(err.Error(), "outside the build context") {
		t.Errorf("../etc/passwd: %v", err)
	}
	srcs, err := c.sources("*.txt")
	if err != nil || len(srcs) != 2 {
		t.Errorf("*.txt: %v %v", srcs, err)
	}
	// An absolute source is read from the context, never from the host.
	if _, err := c.sources("/etc/passwd"); err == nil {
		t.Error("/etc/passwd was found in the context")
	}
	d1, _ := c.digest(srcs)
	os.WriteFile(filepath.Join(dir, "b.txt"), []byte("B"), 0o644)
	d2, _ := c.digest(srcs)
	os.Chmod(filepath.Join(dir, "b.txt"), 0o600)
	srcs, _ = c.sources("*.txt")
	d3, _ := c.digest(srcs)
	if d1 == d2 || d2 == d3 {
		t.Errorf("digest ignores content or mode changes: %s %s %s", d1, d2, d3)
	}
}

func TestCheckStructure(t *testing.T) {
	for src, want := range map[string]string{
		"ARG V=1\nFROM busybox:$V\nRUN true\n": "",
		"RUN true\nFROM busybox\n":             "line 1: RUN before FROM",
		"FROM a\nFROM b\n":                     "line 2: a second FROM",
		"FROM a\nHEALTHCHECK CMD true\n":       "line 2: HEALTHCHECK is not supported",
		"ARG X\n":                              "no FROM",
	} {
		df, err := dockerfile.Parse(strings.NewReader(src))
		if err != nil {
			t.Fatal(err)
		}
		err = checkStructure(df)
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("checkStructure(%q) = %v, want %q", src, err, want)
		}
	}
}

func TestCacheRoundTrip(t *testing.T) {
	c := cache{dir: t.TempDir()}
	k := cacheKey("sha256:parent", "RUN", "echo")
	if k == cacheKey("sha256:parent", "RUNecho") {
		t.Error("cache key parts run together")
	}
	if _, ok := c.get(k); ok {
		t.Error("empty cache hit")
	}
	if err := c.put(k, "sha256:abc"); err != nil {
		t.Fatal(err)
	}
	if id, ok := c.get(k); !ok || id != "sha256:abc" {
		t.Errorf("get = %q %v", id, ok)
	}
	entries, _ := os.ReadDir(c.dir)
	if len(entries) != 1 {
		t.Errorf("cache dir holds %d files, want 1 (no temp left)", len(entries))
	}
}
