package inroot

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func write(t *testing.T, p, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, p string) {
	t.Helper()
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
}

func TestOpenInRootFollowsLinksInsideRoot(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "run/x"), "in")
	os.MkdirAll(filepath.Join(root, "var"), 0o755)
	symlink(t, "/run", filepath.Join(root, "var/run"))
	symlink(t, "../../../../../run", filepath.Join(root, "up"))
	for _, p := range []string{"/var/run/x", "var/run/x", "/up/x", "/../../run/x"} {
		f, err := OpenInRoot(root, p, unix.O_RDONLY)
		if err != nil {
			t.Errorf("OpenInRoot(%q): %v", p, err)
			continue
		}
		b := make([]byte, 8)
		n, _ := f.Read(b)
		f.Close()
		if string(b[:n]) != "in" {
			t.Errorf("OpenInRoot(%q) read %q", p, b[:n])
		}
	}
	if _, err := OpenInRoot(root, "/missing", unix.O_RDONLY); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing path: %v, want ErrNotExist", err)
	}
}

func TestResolveStaysInRoot(t *testing.T) {
	outside := t.TempDir()
	write(t, filepath.Join(outside, "secret"), "host")
	root := t.TempDir()
	symlink(t, outside, filepath.Join(root, "abs"))
	symlink(t, "../../../../"+outside, filepath.Join(root, "rel"))
	for _, p := range []string{"/abs/secret", "/rel/secret"} {
		hp, err := Resolve(root, p)
		if err == nil {
			t.Errorf("Resolve(%q) = %s; it must not exist inside the root", p, hp)
		}
	}
	write(t, filepath.Join(root, outside, "secret"), "in")
	hp, err := Resolve(root, "/abs/secret")
	if err != nil || hp != filepath.Join(root, outside, "secret") {
		t.Errorf("Resolve(/abs/secret) = %q, %v; want the copy inside the root", hp, err)
	}
}

func TestResolveRootThroughSymlink(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real")
	write(t, filepath.Join(real, "f"), "x")
	symlink(t, real, filepath.Join(dir, "link"))
	hp, err := Resolve(filepath.Join(dir, "link"), "/f")
	if err != nil || hp != filepath.Join(real, "f") {
		t.Errorf("Resolve through a symlinked root = %q, %v", hp, err)
	}
}

func TestMkdirAllStaysInRoot(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	symlink(t, outside, filepath.Join(root, "escape"))
	hp, err := MkdirAll(root, "/escape/sub", 0, 0)
	if err == nil && !strings.HasPrefix(hp, root+"/") {
		t.Errorf("created %s, outside the root %s", hp, root)
	}
	if _, err := os.Stat(filepath.Join(outside, "sub")); err == nil {
		t.Error("MkdirAll followed an absolute symlink out of the root")
	}
	os.MkdirAll(filepath.Join(root, outside), 0o755)
	hp, err = MkdirAll(root, "/escape/sub/deeper", 0, 0)
	if err != nil || hp != filepath.Join(root, outside, "sub/deeper") {
		t.Errorf("MkdirAll through an in-root link = %q, %v", hp, err)
	}
	write(t, filepath.Join(root, "file"), "")
	if _, err := MkdirAll(root, "/file/sub", 0, 0); err == nil {
		t.Error("MkdirAll made a directory under a file")
	}
}

func TestExists(t *testing.T) {
	root := t.TempDir()
	symlink(t, "/nowhere", filepath.Join(root, "dangling"))
	symlink(t, "/", filepath.Join(root, "etc"))
	if !Exists(root, "/dangling") {
		t.Error("a dangling symlink exists")
	}
	if !Exists(root, "/") {
		t.Error("/ exists")
	}
	// /etc/hostname would exist on the host; inside the root it does not.
	if Exists(root, "/etc/hostname") {
		t.Error("Exists followed /etc -> / to the host")
	}
}

func userRoot(t *testing.T) string {
	root := t.TempDir()
	write(t, filepath.Join(root, "etc/passwd"), "root:x:0:0::/root:/bin/sh\n# comment\napp:x:1000:1000::/home/app:/bin/sh\n")
	write(t, filepath.Join(root, "etc/group"), "root:x:0:\napp:x:1000:\nstaff:x:50:app,other\n")
	return root
}

func TestResolveUser(t *testing.T) {
	root := userRoot(t)
	for spec, want := range map[string]User{
		"":          {UID: 0, GID: 0, AdditionalGids: []uint32{0}},
		"root":      {UID: 0, GID: 0, AdditionalGids: []uint32{0}},
		"app":       {UID: 1000, GID: 1000, AdditionalGids: []uint32{1000, 50}},
		"1000":      {UID: 1000, GID: 1000, AdditionalGids: []uint32{1000, 50}},
		"4242":      {UID: 4242, GID: 0},
		"4242:7":    {UID: 4242, GID: 7},
		"app:staff": {UID: 1000, GID: 50},
		"app:7":     {UID: 1000, GID: 7},
	} {
		got, err := ResolveUser(root, spec)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("ResolveUser(%q) = %+v, %v; want %+v", spec, got, err, want)
		}
	}
	for spec, msg := range map[string]string{
		"ghost":      "unable to find user ghost: no matching entries in passwd file",
		"app:ghosts": "unable to find group ghosts: no matching entries in group file",
		"-1":         "unable to find user -1: no matching entries in passwd file",
		":0":         `user ":0": empty user name`,
	} {
		if _, err := ResolveUser(root, spec); err == nil || err.Error() != msg {
			t.Errorf("ResolveUser(%q) error = %v; want %q", spec, err, msg)
		}
	}
}

func TestResolveUserNoEtc(t *testing.T) {
	root := t.TempDir()
	if u, err := ResolveUser(root, "12:34"); err != nil || u.UID != 12 || u.GID != 34 {
		t.Errorf("numeric user without /etc = %+v, %v", u, err)
	}
	if _, err := ResolveUser(root, "app"); err == nil {
		t.Error("a name without /etc/passwd resolved")
	}
}

// A rootfs whose /etc is a symlink out of it must be read inside it, never
// the host's /etc/passwd (which has root, so a lookup of "root" would
// succeed if it escaped).
func TestResolveUserEtcSymlinkStaysInRoot(t *testing.T) {
	if _, err := os.Stat("/etc/passwd"); err != nil {
		t.Fatalf("the host needs an /etc/passwd for this test: %v", err)
	}
	for _, target := range []string{"/", "../../etc", "/../../../../etc"} {
		root := t.TempDir()
		symlink(t, target, filepath.Join(root, "etc"))
		if u, err := ResolveUser(root, "root"); err == nil {
			t.Errorf("/etc -> %s: ResolveUser(root) = %+v; it read the host's passwd", target, u)
		}
	}
	// /etc -> / with a passwd at the root's top: that one is used.
	root := t.TempDir()
	symlink(t, "/", filepath.Join(root, "etc"))
	write(t, filepath.Join(root, "passwd"), "inside:x:7:8::/:/bin/sh\n")
	if u, err := ResolveUser(root, "inside"); err != nil || u.UID != 7 || u.GID != 8 {
		t.Errorf("/etc -> /: ResolveUser(inside) = %+v, %v", u, err)
	}
}

func TestResolveUserFIFOPasswd(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	if err := unix.Mkfifo(filepath.Join(root, "etc/passwd"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ResolveUser(root, "root"); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("FIFO passwd: %v", err)
	}
}

func TestDockerCapabilitiesFresh(t *testing.T) {
	a := DockerCapabilities()
	if len(a) != 14 || a[0] != "CAP_CHOWN" {
		t.Fatalf("DockerCapabilities() = %v", a)
	}
	a[0] = "CAP_SYS_ADMIN"
	if DockerCapabilities()[0] != "CAP_CHOWN" {
		t.Error("DockerCapabilities shares its slice")
	}
}
