package runtime

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestParseMountOptions(t *testing.T) {
	cases := []struct {
		opts  []string
		flags uintptr
		prop  []uintptr
		data  []string
	}{
		{nil, 0, nil, nil},
		{[]string{"ro", "nosuid", "nodev", "noexec"}, unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, nil, nil},
		{[]string{"ro", "rw"}, 0, nil, nil},
		{[]string{"rbind", "rprivate"}, unix.MS_BIND | unix.MS_REC, []uintptr{unix.MS_PRIVATE | unix.MS_REC}, nil},
		{[]string{"bind", "shared", "slave"}, unix.MS_BIND, []uintptr{unix.MS_SHARED, unix.MS_SLAVE}, nil},
		{[]string{"nosuid", "mode=755", "size=65536k", "tmpcopyup"}, unix.MS_NOSUID, nil, []string{"mode=755", "size=65536k"}},
		{[]string{"strictatime", "noatime", "atime"}, unix.MS_STRICTATIME, nil, nil},
	}
	for _, c := range cases {
		got := parseMountOptions(c.opts)
		if got.flags != c.flags || !reflect.DeepEqual(got.propagation, c.prop) || !reflect.DeepEqual(got.data, c.data) {
			t.Errorf("%v: got flags %#x prop %v data %v; want %#x %v %v", c.opts, got.flags, got.propagation, got.data, c.flags, c.prop, c.data)
		}
	}
}

func TestIsBind(t *testing.T) {
	if !isBind(specs.Mount{Type: "bind"}) || !isBind(specs.Mount{Type: "none", Options: []string{"rbind"}}) {
		t.Fatal("bind not recognised")
	}
	if isBind(specs.Mount{Type: "tmpfs", Options: []string{"nosuid"}}) {
		t.Fatal("tmpfs taken for a bind")
	}
}

// A hostile rootfs must not be able to point a mount target outside itself.
func TestResolveInRoot(t *testing.T) {
	root := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "a/b"), 0o755))
	must(os.Symlink("/etc", filepath.Join(root, "abs")))        // absolute: re-rooted
	must(os.Symlink("../../..", filepath.Join(root, "a/b/up"))) // climbs past root
	must(os.Symlink("b", filepath.Join(root, "a/rel")))         // relative
	must(os.Symlink("loop2", filepath.Join(root, "loop1")))     // a loop
	must(os.Symlink("loop1", filepath.Join(root, "loop2")))
	cases := map[string]string{
		"/":           root,
		"/a/b":        root + "/a/b",
		"/abs/passwd": root + "/etc/passwd",
		"/a/b/up/x":   root + "/x",
		"/a/rel/c":    root + "/a/b/c",
		"../../etc":   root + "/etc",
		"/a/./b/../b": root + "/a/b",
		"/new/dir":    root + "/new/dir",
	}
	for in, want := range cases {
		got, err := resolveInRoot(root, in)
		if err != nil || got != want {
			t.Errorf("%s: got %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := resolveInRoot(root, "/loop1/x"); err == nil {
		t.Error("symlink loop not detected")
	}
}
