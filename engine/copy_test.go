package engine

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// rootTree makes a fake container rootfs next to a "host" directory that
// no copy may reach, and opens the rootfs as an os.Root.
func rootTree(t *testing.T) (*os.Root, string, string) {
	t.Helper()
	base := t.TempDir()
	rootfs, host := filepath.Join(base, "rootfs"), filepath.Join(base, "host")
	for _, d := range []string{"etc", "usr/lib", "var", "d/sub", "run"} {
		mustDo(t, os.MkdirAll(filepath.Join(rootfs, d), 0o755))
	}
	mustDo(t, os.MkdirAll(filepath.Join(host, "etc"), 0o755))
	mustDo(t, os.WriteFile(filepath.Join(rootfs, "etc/passwd"), []byte("container\n"), 0o644))
	mustDo(t, os.WriteFile(filepath.Join(host, "etc/passwd"), []byte("host\n"), 0o644))
	mustDo(t, os.WriteFile(filepath.Join(rootfs, "d/sub/f"), []byte("f\n"), 0o640))
	links := map[string]string{
		"abs-etc":   "/etc",                     // absolute: the container's /etc
		"rel-up":    "../../../../../../etc",    // climbs above the root
		"host-etc":  filepath.Join(host, "etc"), // the host path of the host dir
		"lib":       "usr/lib",                  // merged-usr style
		"var/run":   "/run",                     // absolute, one level down
		"loop1":     "loop2",
		"loop2":     "loop1",
		"dotdot":    "/../../..",
		"chain":     "abs-etc",
		"d/up":      "../..",
		"d/abs-etc": "/abs-etc/",
	}
	for l, target := range links {
		mustDo(t, os.Symlink(target, filepath.Join(rootfs, l)))
	}
	r, err := os.OpenRoot(rootfs)
	mustDo(t, err)
	t.Cleanup(func() { r.Close() })
	return r, rootfs, host
}

func mustDo(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestResolveInStaysInRoot(t *testing.T) {
	r, _, host := rootTree(t)
	for _, c := range []struct {
		in         string
		followLast bool
		want       string
	}{
		{"/", true, "."},
		{"/etc/passwd", true, "etc/passwd"},
		{"/abs-etc/passwd", true, "etc/passwd"},
		{"/rel-up/passwd", true, "etc/passwd"},
		{"/chain/passwd", true, "etc/passwd"},
		{"/dotdot/etc/passwd", true, "etc/passwd"},
		{"/../../etc/passwd", true, "etc/passwd"},
		{"/d/up/d/up/etc", true, "etc"},
		{"/d/abs-etc/passwd", true, "etc/passwd"},
		{"/var/run/x", true, "run/x"},
		{"/lib/new/file", true, "usr/lib/new/file"},
		{"/abs-etc", false, "abs-etc"},
		{"/abs-etc", true, "etc"},
		{"/missing/../etc", true, "etc"},
		// The host's own path of a host dir means nothing inside the root.
		{"/host-etc/passwd", true, strings.TrimPrefix(filepath.Join(host, "etc/passwd"), "/")},
	} {
		got, err := resolveIn(r, c.in, c.followLast)
		if err != nil {
			t.Errorf("resolveIn(%q): %v", c.in, err)
			continue
		}
		if got != c.want {
			t.Errorf("resolveIn(%q, %v) = %q, want %q", c.in, c.followLast, got, c.want)
		}
	}
	if _, err := resolveIn(r, "/loop1/x", true); err == nil || !strings.Contains(err.Error(), "too many levels") {
		t.Errorf("a symlink loop: %v, want too many levels of symbolic links", err)
	}
	// What the host-etc link resolved to does not exist inside the root:
	// reading it must fail rather than reach the host's file.
	rel, _ := resolveIn(r, "/host-etc/passwd", true)
	if data, err := r.ReadFile(rel); err == nil {
		t.Errorf("read %s through an absolute host path: got %q", rel, data)
	}
}

// copyIn unpacks a tar built from entries into dir of the root.
func copyIn(t *testing.T, r *os.Root, dir string, entries []*tar.Header, bodies map[string]string) error {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range entries {
		if b, ok := bodies[h.Name]; ok {
			h.Size = int64(len(b))
		}
		mustDo(t, tw.WriteHeader(h))
		if b, ok := bodies[h.Name]; ok {
			tw.Write([]byte(b))
		}
	}
	mustDo(t, tw.Close())
	return extractTree(tar.NewReader(&buf), r, dir, CopyOptions{}, false)
}

func TestExtractTreeCannotLeaveRoot(t *testing.T) {
	r, rootfs, host := rootTree(t)
	// Through the container's absolute symlinks: lands in the container.
	err := copyIn(t, r, ".", []*tar.Header{{Name: "abs-etc/new", Typeflag: tar.TypeReg, Mode: 0o644}}, map[string]string{"abs-etc/new": "x"})
	mustDo(t, err)
	if _, err := os.Stat(filepath.Join(rootfs, "etc/new")); err != nil {
		t.Errorf("abs-etc/new did not land in the container's /etc: %v", err)
	}
	err = copyIn(t, r, ".", []*tar.Header{{Name: "rel-up/new2", Typeflag: tar.TypeReg, Mode: 0o644}}, map[string]string{"rel-up/new2": "x"})
	mustDo(t, err)
	if _, err := os.Stat(filepath.Join(rootfs, "etc/new2")); err != nil {
		t.Errorf("rel-up/new2 did not land in the container's /etc: %v", err)
	}
	// A link the stream itself makes, then a file through it.
	err = copyIn(t, r, ".", []*tar.Header{
		{Name: "evil", Typeflag: tar.TypeSymlink, Linkname: "/../../../../" + host},
		{Name: "evil/etc/passwd", Typeflag: tar.TypeReg, Mode: 0o644},
	}, map[string]string{"evil/etc/passwd": "pwned\n"})
	if data, _ := os.ReadFile(filepath.Join(host, "etc/passwd")); string(data) != "host\n" {
		t.Fatalf("the host's file was overwritten: %q (extract error %v)", data, err)
	}
	// Entries that name a path above the destination are refused.
	for _, name := range []string{"../escape", "/../escape", "a/../../escape"} {
		err := copyIn(t, r, "d", []*tar.Header{{Name: name, Typeflag: tar.TypeReg, Mode: 0o644}}, nil)
		if err == nil || !strings.Contains(err.Error(), "escapes") {
			t.Errorf("entry %q: %v, want an escape error", name, err)
		}
	}
	err = copyIn(t, r, "d", []*tar.Header{{Name: "hl", Typeflag: tar.TypeLink, Linkname: "../../../etc/passwd"}}, nil)
	if err == nil || !strings.Contains(err.Error(), "outside") {
		t.Errorf("a hard link out of the destination: %v, want an error", err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(rootfs), "escape")); err == nil {
		t.Error("an entry was written outside the root")
	}
}

func TestCopyBetweenPlans(t *testing.T) {
	r, rootfs, _ := rootTree(t)
	hostDir := t.TempDir()
	hr, err := os.OpenRoot("/")
	mustDo(t, err)
	defer hr.Close()
	ctr := func(p string) copyEnd { return copyEnd{root: r, path: p, desc: "container"} }
	host := func(p string) copyEnd { return copyEnd{root: hr, path: hostDir + "/" + p, desc: "host"} }

	// A file into a new name, and into an existing directory.
	mustDo(t, copyBetween(ctr("/abs-etc/passwd"), host("pw"), CopyOptions{}))
	mustDo(t, copyBetween(ctr("/etc/passwd"), copyEnd{root: hr, path: hostDir + "/", desc: "host"}, CopyOptions{}))
	for _, p := range []string{"pw", "passwd"} {
		if data, _ := os.ReadFile(filepath.Join(hostDir, p)); string(data) != "container\n" {
			t.Errorf("%s: %q, want the container's passwd", p, data)
		}
	}
	// A directory: new name gets its contents, existing dir gets it inside.
	mustDo(t, copyBetween(ctr("/d"), host("newd"), CopyOptions{}))
	mustDo(t, copyBetween(ctr("/d"), host("newd"), CopyOptions{}))
	mustDo(t, copyBetween(ctr("/d/."), host("newd"), CopyOptions{}))
	for _, p := range []string{"newd/sub/f", "newd/d/sub/f"} {
		fi, err := os.Stat(filepath.Join(hostDir, p))
		if err != nil {
			t.Errorf("%s: %v", p, err)
		} else if fi.Mode().Perm() != 0o640 {
			t.Errorf("%s: mode %v, want 0640", p, fi.Mode())
		}
	}
	// The symlink d/up is copied as a link, not followed.
	if target, err := os.Readlink(filepath.Join(hostDir, "newd/up")); err != nil || target != "../.." {
		t.Errorf("newd/up: %q %v, want the link itself", target, err)
	}
	// Errors docker cp gives.
	for _, c := range []struct {
		src, dst copyEnd
		want     string
	}{
		{ctr("/d"), host("pw"), "cannot copy a directory"},
		{ctr("/etc/passwd"), host("nodir/"), "does not exist"},
		{ctr("/etc/passwd"), host("no/such/parent"), "parent directory"},
		{ctr("/nothing"), host("x"), "no such file"},
		{ctr("/etc/passwd"), host("pw/"), "not a directory"},
	} {
		err := copyBetween(c.src, c.dst, CopyOptions{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("copy %s -> %s: %v, want %q", c.src.path, c.dst.path, err, c.want)
		}
	}
	// Into the container through an absolute link: the container's /etc.
	mustDo(t, os.WriteFile(filepath.Join(hostDir, "in"), []byte("in\n"), 0o600))
	mustDo(t, copyBetween(host("in"), ctr("/d/abs-etc/"), CopyOptions{}))
	if data, _ := os.ReadFile(filepath.Join(rootfs, "etc/in")); string(data) != "in\n" {
		t.Errorf("copy into /d/abs-etc/: container /etc/in is %q", data)
	}
}
