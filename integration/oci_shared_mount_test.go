package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// sharedTmpfs mounts a tmpfs at <test dir>/shared and makes it shared, as
// systemd makes every mount of a host. The dev hosts' mounts are private, so
// without it a container whose mounts propagate back to the host (or whose
// pivot_root fails under a shared parent mount) would pass here. Its cleanup
// runs before env's leak check: it fails the test for any mount that showed
// up below the tmpfs, then detaches the tmpfs.
func sharedTmpfs(t *testing.T, e *env) string {
	t.Helper()
	dir := filepath.Join(e.dir, "shared")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "mode=0755"); err != nil {
		t.Fatalf("mount tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		data, _ := os.ReadFile("/proc/self/mountinfo")
		for _, l := range strings.Split(string(data), "\n") {
			if f := strings.Fields(l); len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
				t.Errorf("container mount propagated to the host: %s", l)
			}
		}
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	if err := unix.Mount("", dir, "", unix.MS_SHARED, ""); err != nil {
		t.Fatalf("make %s shared: %v", dir, err)
	}
	return dir
}

// copyBundle copies a bundle made by e.bundle into dir and returns its path.
func copyBundle(t *testing.T, bundle, dir string) string {
	t.Helper()
	if out, err := exec.Command("cp", "-a", bundle, dir).CombinedOutput(); err != nil {
		t.Fatalf("copy bundle %s to %s: %v: %s", bundle, dir, err, out)
	}
	return filepath.Join(dir, filepath.Base(bundle))
}
