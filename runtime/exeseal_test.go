package runtime

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// sealTarget copies /bin/true into a directory of its own: the file a
// sealed view must keep anyone from writing.
func sealTarget(t *testing.T) (string, []byte) {
	t.Helper()
	data, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "pcr-init")
	if err := os.WriteFile(path, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return path, data
}

// checkSealed asserts what a container process that opened
// /proc/<child>/exe would meet: the contents, no way to write them, and a
// binary that still runs.
func checkSealed(t *testing.T, f *os.File, want []byte, writeErr syscall.Errno) {
	t.Helper()
	proc := fmt.Sprintf("/proc/self/fd/%d", f.Fd())
	got, err := os.ReadFile(proc)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("sealed view reads %d bytes (%v), want the binary's %d", len(got), err, len(want))
	}
	// A read-only mount refuses the open; a sealed memfd opens and refuses the write.
	w, err := os.OpenFile(proc, os.O_WRONLY, 0)
	if err == nil {
		_, err = w.Write([]byte("#!/bin/sh\n"))
		w.Close()
	}
	if !errors.Is(err, writeErr) {
		t.Errorf("write through /proc/self/fd: %v, want %v", err, writeErr)
	}
	if out, err := exec.Command(proc).CombinedOutput(); err != nil {
		t.Errorf("exec of the sealed binary: %v %s", err, out)
	}
}

func TestSealExeByOverlayRefusesWrites(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("needs root (overlayfs)")
		}
		t.Skip("needs root (overlayfs)")
	}
	path, data := sealTarget(t)
	root := t.TempDir()
	before, _ := os.ReadFile("/proc/self/mountinfo")
	f, err := sealExe(path, root)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Through the overlay, not a copy: a copy would be /memfd:…
	if link, _ := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", f.Fd())); link != "/pcr-init" {
		t.Errorf("sealed fd is %q, want the overlay's /pcr-init", link)
	}
	checkSealed(t, f, data, syscall.EROFS)
	// The original stays writable for its owner: only the view is sealed.
	if err := os.WriteFile(path, data, 0o755); err != nil {
		t.Errorf("rewrite the original: %v", err)
	}
	after, _ := os.ReadFile("/proc/self/mountinfo")
	if !bytes.Equal(before, after) {
		t.Errorf("sealing changed the mount table:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

func TestSealExeByCopyRefusesWrites(t *testing.T) {
	path, data := sealTarget(t)
	f, err := sealByCopy(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	checkSealed(t, f, data, syscall.EPERM)
	if _, err := f.Write([]byte("x")); err == nil {
		t.Error("the sealed copy took a write through its own fd")
	}
}

func TestSealExeFallsBackToACopy(t *testing.T) {
	path, data := sealTarget(t)
	// A state root overlayfs cannot take as a layer (the binary's own
	// directory overlaps it) leaves the sealed copy.
	f, err := sealExe(path, filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	checkSealed(t, f, data, syscall.EPERM)
}

func TestEscapeOverlayPath(t *testing.T) {
	if got := escapeOverlayPath(`/a:b,c\d`); got != `/a\:b\,c\\d` {
		t.Errorf("escapeOverlayPath = %q", got)
	}
}

func TestLayersThatOverlapAreNotTried(t *testing.T) {
	for _, tc := range []struct {
		path, dir string
		want      bool
	}{
		{"/usr/bin", "/usr/bin", true},
		{"/usr/bin/x", "/usr/bin", true},
		{"/usr/binx", "/usr/bin", false},
		{"/usr", "/usr/bin", false},
		{"/run/pcr", "/", true},
	} {
		if got := within(tc.path, tc.dir); got != tc.want {
			t.Errorf("within(%q, %q) = %v, want %v", tc.path, tc.dir, got, tc.want)
		}
	}
}
