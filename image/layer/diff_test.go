package layer

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// A container's changes, written by Diff and applied on the same lowers, give back the view the
// container had.
func TestDiffReproducesMergedView(t *testing.T) {
	requireRoot(t)
	base := mustApply(t, mkTar(t,
		dirEnt("etc/", 0o755), file("etc/motd", "hi", 0o644), file("etc/hosts", "h", 0o644),
		dirEnt("var/", 0o755), dirEnt("var/cache/", 0o755), file("var/cache/a", "a", 0o644), file("var/cache/b", "b", 0o644),
		dirEnt("tmp/", 0o1777), file("bin/tool", "t", 0o755),
	), ApplyOptions{})
	rw := t.TempDir()
	o := Overlay{Lowers: []string{base}, Upper: filepath.Join(rw, "upper"), Work: filepath.Join(rw, "work"), Target: filepath.Join(rw, "merged")}
	for _, d := range []string{o.Upper, o.Work, o.Target} {
		os.Mkdir(d, 0o755)
	}
	mountForTest(t, o)
	m := o.Target
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(m, "etc/new"), []byte("created"), 0o600))
	must(os.Chown(filepath.Join(m, "etc/new"), 33, 44))
	must(os.WriteFile(filepath.Join(m, "etc/motd"), []byte("modified"), 0o644))
	must(os.Remove(filepath.Join(m, "etc/hosts")))
	must(os.RemoveAll(filepath.Join(m, "var/cache")))
	must(os.Mkdir(filepath.Join(m, "var/cache"), 0o700))
	must(os.WriteFile(filepath.Join(m, "var/cache/c"), []byte("c"), 0o644))
	must(os.Link(filepath.Join(m, "etc/new"), filepath.Join(m, "tmp/twin")))
	must(os.Symlink("../etc/motd", filepath.Join(m, "tmp/lnk")))
	must(os.Chmod(filepath.Join(m, "bin/tool"), 0o4755))
	must(unix.Lsetxattr(filepath.Join(m, "etc/motd"), "user.note", []byte("v"), 0))
	must(unix.Mkfifo(filepath.Join(m, "tmp/fifo"), 0o600))
	must(unix.Mknod(filepath.Join(m, "tmp/sock"), unix.S_IFSOCK|0o600, 0))
	// Diff skips sockets; leave it out of the expected view.
	want := snapshot(t, m)
	delete(want, "tmp/sock")
	must(Unmount(m))

	var diff bytes.Buffer
	must(Diff(&diff, o.Upper))
	names := tarNames(t, diff.Bytes())
	for _, n := range []string{"etc/.wh.hosts", "var/cache/.wh..wh..opq", "tmp/twin"} {
		if names[n] == 0 {
			t.Errorf("diff lacks %s; has %v", n, names)
		}
	}
	if names["tmp/sock"] != 0 {
		t.Error("diff has a socket")
	}
	if names["tmp/twin"] != tar.TypeLink && names["etc/new"] != tar.TypeLink {
		t.Error("hard link not kept")
	}
	var again bytes.Buffer
	must(Diff(&again, o.Upper))
	if !bytes.Equal(diff.Bytes(), again.Bytes()) {
		t.Error("two diffs of the same upper differ")
	}

	layer := mustApply(t, diff.Bytes(), ApplyOptions{Lowers: []string{base}})
	view := t.TempDir()
	mountForTest(t, Overlay{Lowers: []string{layer, base}, Target: view})
	diffSnapshots(t, want, snapshot(t, view))
}

func tarNames(t *testing.T, b []byte) map[string]byte {
	names := map[string]byte{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		names[h.Name] = h.Typeflag
	}
}
