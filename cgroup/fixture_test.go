package cgroup

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// A fixture tree is a plain directory, so its "kernel" is a mkdir that also
// writes the files cgroupfs would show in a new cgroup.
func fixtureMkdir(files func(dir string) map[string]string) func(string) error {
	return func(dir string) error {
		if err := os.Mkdir(dir, 0o755); err != nil {
			return err.(*os.PathError).Err // the real mkdir returns a bare errno
		}
		for name, content := range files(dir) {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
				return err
			}
		}
		return nil
	}
}

// fixtureRmdir removes a cgroup like the kernel does: its files go with it,
// but not while it has processes (EBUSY) or child cgroups.
func fixtureRmdir(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err.(*os.PathError).Err
	}
	for _, e := range ents {
		if e.IsDir() {
			return unix.EBUSY
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs")); len(strings.TrimSpace(string(b))) > 0 {
		return unix.EBUSY
	}
	for _, e := range ents {
		os.Remove(filepath.Join(dir, e.Name()))
	}
	return unix.Rmdir(dir)
}

func writeFixture(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func readFixture(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func wantFile(t *testing.T, dir, name, want string) {
	t.Helper()
	if got := readFixture(t, dir, name); got != want {
		t.Errorf("%s/%s = %q, want %q", filepath.Base(dir), name, got, want)
	}
}
