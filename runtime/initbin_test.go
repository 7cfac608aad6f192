package runtime

import (
	"os"
	"path/filepath"
	"testing"
)

func TestInitBinaryBeside(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "pcr")
	if err := os.WriteFile(exe, []byte("pcr"), 0o755); err != nil {
		t.Fatal(err)
	}
	initPath := filepath.Join(dir, InitBinaryName)
	if got := initBinaryBeside(exe, dir); got != "" {
		t.Errorf("no pcr-init beside pcr: got %q, want the fallback", got)
	}

	if err := os.WriteFile(initPath, []byte("init"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got := initBinaryBeside(exe, dir); got != initPath {
		t.Errorf("pcr-init 0755 beside pcr: got %q, want %q", got, initPath)
	}
	if os.Geteuid() == 0 {
		if err := os.Chown(initPath, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		if got := initBinaryBeside(exe, dir); got != "" {
			t.Errorf("pcr-init owned by another user: got %q, want the fallback", got)
		}
		os.Chown(initPath, 0, 0)
	}
	for _, mode := range []os.FileMode{0o775, 0o757, 0o644} {
		if err := os.Chmod(initPath, mode); err != nil {
			t.Fatal(err)
		}
		if got := initBinaryBeside(exe, dir); got != "" {
			t.Errorf("pcr-init mode %o: got %q, want the fallback", mode, got)
		}
	}

	os.Remove(initPath)
	if err := os.Mkdir(initPath, 0o755); err != nil {
		t.Fatal(err)
	}
	if got := initBinaryBeside(exe, dir); got != "" {
		t.Errorf("pcr-init a directory: got %q, want the fallback", got)
	}
	os.Remove(initPath)
	if err := os.Link(exe, initPath); err != nil {
		t.Fatal(err)
	}
	if got := initBinaryBeside(exe, dir); got != "" {
		t.Errorf("pcr-init a hard link to pcr: got %q, want the fallback", got)
	}
}
