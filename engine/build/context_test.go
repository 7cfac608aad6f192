package build

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A context symlink to a host directory must resolve inside the context:
// COPY ln/hostname reads the context's etc/hostname or nothing, never the
// host's /etc/hostname.
func TestSourcesSymlinkedDirStaysInContext(t *testing.T) {
	if _, err := os.Stat("/etc/hostname"); err != nil {
		t.Fatalf("the host needs an /etc/hostname for this test: %v", err)
	}
	for _, target := range []string{"/etc", "../../../../../../etc"} {
		dir := t.TempDir()
		if err := os.Symlink(target, filepath.Join(dir, "ln")); err != nil {
			t.Fatal(err)
		}
		c, err := openContext(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{"ln/hostname", "ln/host*", "/ln/./hostname"} {
			srcs, err := c.sources(p)
			if err == nil {
				t.Errorf("ln -> %s: sources(%q) = %+v; it reached the host", target, p, srcs)
			} else if !strings.Contains(err.Error(), "no such file or directory in the build context") || strings.Contains(err.Error(), "\n") {
				t.Errorf("ln -> %s: sources(%q) error %q, want a one-line not-found error", target, p, err)
			}
		}
		// With an etc inside the context, that is what the link leads to.
		if err := os.Mkdir(filepath.Join(dir, "etc"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "etc/hostname"), []byte("inside\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		srcs, err := c.sources("ln/hostname")
		if err != nil || len(srcs) != 1 {
			t.Fatalf("ln -> %s with etc in the context: %v, %v", target, srcs, err)
		}
		if srcs[0].real != "etc/hostname" || srcs[0].rel != "ln/hostname" {
			t.Errorf("source = %+v, want rel ln/hostname real etc/hostname", srcs[0])
		}
		f, err := c.open(srcs[0].real)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(f)
		f.Close()
		if string(b) != "inside\n" {
			t.Errorf("read %q, want the context's file", b)
		}
	}
}

// A symlink named as the source is copied as the link itself, and a link
// inside a copied directory is hashed by its target text, not followed.
func TestSourcesSymlinkIsTakenAsLink(t *testing.T) {
	dir := t.TempDir()
	os.Symlink("/etc/passwd", filepath.Join(dir, "pw"))
	os.Mkdir(filepath.Join(dir, "d"), 0o755)
	os.Symlink("/etc/passwd", filepath.Join(dir, "d/pw"))
	c, err := openContext(dir)
	if err != nil {
		t.Fatal(err)
	}
	srcs, err := c.sources("pw")
	if err != nil || len(srcs) != 1 || srcs[0].fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("sources(pw) = %+v, %v; want the symlink", srcs, err)
	}
	if l, err := c.readlink(srcs[0].real); err != nil || l != "/etc/passwd" {
		t.Errorf("readlink = %q, %v", l, err)
	}
	// Opening the link as a file is refused, not followed to the host.
	if f, err := c.open("pw"); err == nil {
		f.Close()
		t.Error("open followed a symlink out of the context")
	}
	d, err := c.sources("d")
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	if err := c.walk(d[0], func(real, rel string, fi os.FileInfo) error {
		seen = append(seen, rel+"="+real+"="+fi.Mode().Type().String())
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(seen, " ") != ".=d=d--------- pw=d/pw=L---------" {
		t.Errorf("walk = %v", seen)
	}
	if _, err := c.digest(d); err != nil {
		t.Errorf("digest of a dir with an outward link: %v", err)
	}
}

func TestGlobThroughContextLinks(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "real/sub"), 0o755)
	os.WriteFile(filepath.Join(dir, "real/sub/a.txt"), nil, 0o644)
	os.WriteFile(filepath.Join(dir, "real/sub/b.txt"), nil, 0o644)
	os.WriteFile(filepath.Join(dir, "real/sub/c.md"), nil, 0o644)
	os.Symlink("/real", filepath.Join(dir, "abs"))
	c, err := openContext(dir)
	if err != nil {
		t.Fatal(err)
	}
	srcs, err := c.sources("abs/*/?.txt")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range srcs {
		got = append(got, s.rel+"->"+s.real)
	}
	if strings.Join(got, " ") != "abs/sub/a.txt->real/sub/a.txt abs/sub/b.txt->real/sub/b.txt" {
		t.Errorf("glob = %v", got)
	}
	if _, err := c.sources("real/[a"); err == nil {
		t.Error("a bad pattern was accepted")
	}
}

// .dockerignore applies to where a source really is, too: a link cannot
// smuggle an ignored file in.
func TestSourcesIgnoredThroughLink(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "secret"), 0o755)
	os.WriteFile(filepath.Join(dir, "secret/key"), []byte("k"), 0o600)
	os.Symlink("secret", filepath.Join(dir, "ln"))
	os.WriteFile(filepath.Join(dir, ".dockerignore"), []byte("secret\n"), 0o644)
	c, err := openContext(dir)
	if err != nil {
		t.Fatal(err)
	}
	if srcs, err := c.sources("ln/key"); err == nil {
		t.Errorf("ln/key = %+v; the ignored secret/key was taken", srcs)
	}
}

// A .dockerignore that is a link out of the context is not read from the host.
func TestDockerignoreLinkStaysInContext(t *testing.T) {
	dir := t.TempDir()
	os.Symlink("/etc/hostname", filepath.Join(dir, ".dockerignore"))
	c, err := openContext(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.ignore) != 0 {
		t.Errorf("read %d ignore rules from the host's /etc/hostname", len(c.ignore))
	}
}
