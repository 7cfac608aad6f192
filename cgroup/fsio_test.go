package cgroup

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

func TestSubdirsListsOnlyDirectories(t *testing.T) {
	dir := t.TempDir()
	var want []string
	// More entries than one 4 KiB getdents buffer holds.
	for i := range 150 {
		name := fmt.Sprintf("child-with-a-long-name-%03d", i)
		if i%3 == 0 {
			if err := os.Mkdir(filepath.Join(dir, name), 0o755); err != nil {
				t.Fatal(err)
			}
			want = append(want, name)
		} else if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(dir, want[0]), filepath.Join(dir, "link-to-a-dir")); err != nil {
		t.Fatal(err)
	}
	got, err := subdirs(dir)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("subdirs = %v\nwant %v", got, want)
	}
	if got, err := subdirs(filepath.Join(dir, "gone")); err != nil || got != nil {
		t.Fatalf("a missing cgroup: %v, %v; want none and no error", got, err)
	}
	if _, err := subdirs(filepath.Join(dir, "child-with-a-long-name-001")); err == nil {
		t.Fatal("a file listed as a directory without error")
	}
}

// dirent builds one linux_dirent64 record.
func dirent(name string, typ byte) []byte {
	reclen := (19 + len(name) + 1 + 7) &^ 7
	b := make([]byte, reclen)
	binary.LittleEndian.PutUint16(b[16:], uint16(reclen))
	b[18] = typ
	copy(b[19:], name)
	return b
}

func TestAppendSubdirsReadsRecords(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "untyped"), 0o755); err != nil {
		t.Fatal(err)
	}
	var b []byte
	for _, r := range []struct {
		name string
		typ  byte
	}{{".", unix.DT_DIR}, {"..", unix.DT_DIR}, {"a", unix.DT_DIR}, {"cgroup.procs", unix.DT_REG},
		{"untyped", unix.DT_UNKNOWN}, {"missing", unix.DT_UNKNOWN}, {"b", unix.DT_DIR}} {
		b = append(b, dirent(r.name, r.typ)...)
	}
	got, err := appendSubdirs(nil, dir, b)
	if err != nil || !slices.Equal(got, []string{"a", "untyped", "b"}) {
		t.Fatalf("appendSubdirs = %v, %v; want [a untyped b]", got, err)
	}
	bad := dirent("x", unix.DT_DIR)
	binary.LittleEndian.PutUint16(bad[16:], 200)
	if _, err := appendSubdirs(nil, dir, bad); err == nil {
		t.Fatal("a record longer than the buffer was accepted")
	}
}
