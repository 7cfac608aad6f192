package layer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// The merged view honours the whiteouts and opaque directories Apply wrote.
func TestMountShowsWhiteouts(t *testing.T) {
	requireRoot(t)
	base := mustApply(t, mkTar(t,
		dirEnt("a/", 0o755), file("a/keep", "k", 0o644), file("a/gone", "g", 0o644),
		dirEnt("opq/", 0o755), file("opq/old", "o", 0o644), file("rm", "r", 0o644),
	), ApplyOptions{})
	top := mustApply(t, mkTar(t,
		file("a/.wh.gone", "", 0), file(".wh.rm", "", 0),
		dirEnt("opq/", 0o755), file("opq/.wh..wh..opq", "", 0), file("opq/new", "n", 0o644),
	), ApplyOptions{Lowers: []string{base}, NoDevices: true})
	target := t.TempDir()
	mountForTest(t, Overlay{Lowers: []string{top, base}, Target: target})
	lstat(t, filepath.Join(target, "a/keep"))
	lstat(t, filepath.Join(target, "opq/new"))
	absent(t, filepath.Join(target, "a/gone"))
	absent(t, filepath.Join(target, "rm"))
	absent(t, filepath.Join(target, "opq/old"))
	// Without an upper the view is read-only.
	if err := os.WriteFile(filepath.Join(target, "w"), nil, 0o644); !errors.Is(err, unix.EROFS) {
		t.Errorf("write to a read-only overlay: %v", err)
	}
	if err := Unmount(target); err != nil {
		t.Fatal(err)
	}
	if mounted(t, target) {
		t.Error("still mounted after Unmount")
	}
}

func TestMountSingleLowerReadOnly(t *testing.T) {
	requireRoot(t)
	base := mustApply(t, mkTar(t, file("f", "f", 0o644)), ApplyOptions{})
	target := t.TempDir()
	mountForTest(t, Overlay{Lowers: []string{base}, Target: target})
	lstat(t, filepath.Join(target, "f"))
	if err := os.WriteFile(filepath.Join(target, "w"), nil, 0o644); !errors.Is(err, unix.EROFS) {
		t.Errorf("write: %v", err)
	}
	if err := Unmount(target); err != nil || mounted(t, target) {
		t.Fatalf("unmount: %v", err)
	}
}

// manyLowers makes n layers under deep paths; layer i holds f<i>, and every layer holds
// "shared" with its own index, so the merged view must show the top one's.
func manyLowers(t *testing.T, n int, long bool) []string {
	deep := filepath.Join(t.TempDir(), strings.Repeat("deep-directory-name/", 8))
	lowers := make([]string, n)
	for i := range lowers {
		name := fmt.Sprintf("%03d", i)
		if long {
			name = fmt.Sprintf("sha256-%064d", i)
		}
		lowers[i] = filepath.Join(deep, name)
		if err := os.MkdirAll(lowers[i], 0o755); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(lowers[i], fmt.Sprintf("f%d", i)), nil, 0o644)
		os.WriteFile(filepath.Join(lowers[i], "shared"), []byte(name), 0o644)
	}
	return lowers
}

func checkMany(t *testing.T, target string, lowers []string) {
	t.Helper()
	for i := range lowers {
		lstat(t, filepath.Join(target, fmt.Sprintf("f%d", i)))
	}
	if b, _ := os.ReadFile(filepath.Join(target, "shared")); string(b) != filepath.Base(lowers[0]) {
		t.Errorf("shared = %q, want the top layer's", b)
	}
}

func TestMountManyLowers(t *testing.T) {
	requireRoot(t)
	lowers := manyLowers(t, 200, true)
	if data := options(lowers, Overlay{}); len(data) < 4096 {
		t.Fatalf("test lowers too short to matter: %d bytes", len(data))
	}
	rw := t.TempDir()
	o := Overlay{Lowers: lowers, Upper: filepath.Join(rw, "upper"), Work: filepath.Join(rw, "work"), Target: filepath.Join(rw, "merged")}
	for _, d := range []string{o.Upper, o.Work, o.Target} {
		os.Mkdir(d, 0o755)
	}
	mountForTest(t, o)
	checkMany(t, o.Target, lowers)
	if err := os.WriteFile(filepath.Join(o.Target, "new"), []byte("n"), 0o644); err != nil {
		t.Fatal(err)
	}
	lstat(t, filepath.Join(o.Upper, "new"))
	if err := Unmount(o.Target); err != nil {
		t.Fatal(err)
	}
	if mounted(t, o.Target) {
		t.Error("still mounted")
	}
}

// The mount(2) fallbacks for kernels before 6.8: relative names from the common parent, and
// short symlinks when even those do not fit.
func TestMountLegacyManyLowers(t *testing.T) {
	requireRoot(t)
	for _, long := range []bool{false, true} {
		t.Run(fmt.Sprintf("long=%v", long), func(t *testing.T) {
			lowers := manyLowers(t, 200, long)
			if data := options(lowers, Overlay{}); len(data) <= mountDataLimit {
				t.Fatalf("test lowers too short to matter: %d bytes", len(data))
			}
			target := t.TempDir()
			t.Cleanup(func() {
				if mounted(t, target) {
					unix.Unmount(target, unix.MNT_DETACH)
				}
			})
			cwd, _ := os.Getwd()
			if err := mountLegacy(Overlay{Lowers: lowers, Target: target}); err != nil {
				t.Fatal(err)
			}
			if now, _ := os.Getwd(); now != cwd {
				t.Errorf("cwd moved to %s", now)
			}
			checkMany(t, target, lowers)
			if err := Unmount(target); err != nil || mounted(t, target) {
				t.Fatalf("unmount: %v", err)
			}
		})
	}
}

func TestMountBadInput(t *testing.T) {
	d := t.TempDir()
	for name, o := range map[string]Overlay{
		"no lowers":      {Target: d},
		"no target":      {Lowers: []string{d}},
		"upper, no work": {Lowers: []string{d}, Upper: d, Target: d},
		"missing lower":  {Lowers: []string{filepath.Join(d, "nope"), d}, Target: d},
	} {
		if err := Mount(o); err == nil {
			unix.Unmount(d, unix.MNT_DETACH)
			t.Errorf("%s: mounted", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
	if err := Unmount(d); !errors.Is(err, unix.EINVAL) {
		t.Errorf("unmount of a plain dir: %v", err)
	}
}

// A volatile overlay says so in its options, and mounts again on the same
// work directory once its mark is cleared after a clean unmount; with the
// mark still there (a crash) the mount refuses and says why.
func TestMountVolatileAgain(t *testing.T) {
	requireRoot(t)
	base := mustApply(t, mkTar(t, file("f", "f", 0o644)), ApplyOptions{})
	d := t.TempDir()
	o := Overlay{Lowers: []string{base}, Upper: filepath.Join(d, "upper"), Work: filepath.Join(d, "work"),
		Target: filepath.Join(d, "rootfs"), Volatile: true}
	for _, p := range []string{o.Upper, o.Work, o.Target} {
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for i, mount := range []func(Overlay) error{Mount, mountLegacy, Mount} {
		if err := mount(o); err != nil {
			t.Fatalf("mount %d: %v", i, err)
		}
		opts := superOptions(t, o.Target)
		if i == 0 {
			if err := os.WriteFile(filepath.Join(o.Target, "w"), []byte("w"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if b, err := os.ReadFile(filepath.Join(o.Target, "w")); err != nil || string(b) != "w" {
			t.Errorf("mount %d: the upper's file: %q, %v", i, b, err)
		}
		if err := Unmount(o.Target); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(opts, "volatile") {
			t.Fatalf("mount %d: options %q lack volatile", i, opts)
		}
		if i == 0 {
			// What a crash leaves: the mark, which makes the next mount refuse.
			if err := Mount(o); err == nil || !strings.Contains(err.Error(), "not cleanly unmounted") {
				Unmount(o.Target)
				t.Fatalf("volatile mount over a crash's mark: %v", err)
			}
		}
		if err := ClearVolatileMark(o.Work); err != nil {
			t.Fatal(err)
		}
	}
}

// superOptions is the overlay's own option field in mountinfo.
func superOptions(t *testing.T, target string) string {
	t.Helper()
	f := mountinfoFields(t, target)
	if f == nil {
		t.Fatalf("%s is not mounted", target)
	}
	return f[len(f)-1]
}
