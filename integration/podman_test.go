package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// podman is the client users drive runc-compatible runtimes with; this
// test runs it with --runtime bin/pcr-oci, offline, on the busybox fixture.
type podman struct {
	t    *testing.T
	args []string
}

func newPodman(t *testing.T) *podman {
	t.Helper()
	requirePrereqs(t)
	if _, err := exec.LookPath("podman"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("podman is not installed (.ci/run installs it)")
		}
		t.Skip("podman is not installed")
	}
	dir := t.TempDir()
	p := &podman{t: t, args: []string{
		"--root", filepath.Join(dir, "store"), "--runroot", filepath.Join(dir, "run"),
		"--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "file",
		"--runtime", filepath.Join(filepath.Dir(pcrBin), "pcr-oci"),
	}}
	t.Cleanup(func() {
		p.run("rm", "--all", "--force")
		// conmon's cgroups are podman's, made for this test: remove them.
		dirs, _ := filepath.Glob("/sys/fs/cgroup/*/libpod_parent")
		for _, d := range dirs {
			os.Remove(filepath.Join(d, "conmon"))
			os.Remove(d)
		}
		for _, d := range []string{"store", "run"} {
			exec.Command("umount", "-R", filepath.Join(dir, d)).Run()
		}
	})
	out, err := p.run("import", filepath.Join(fixtures, "busybox.tar"), "localhost/busybox")
	if err != nil {
		t.Fatalf("podman import: %v\n%s", err, out)
	}
	return p
}

func (p *podman) run(args ...string) (string, error) {
	cmd := exec.Command("podman", append(append([]string{}, p.args...), args...)...)
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(90 * time.Second):
		cmd.Process.Kill()
		<-done
		p.t.Errorf("podman %s: timed out", strings.Join(args, " "))
	}
	return string(out), err
}

// This host refuses raising the hard nofile/nproc limits (no
// CAP_SYS_RESOURCE), which podman asks for by default.
var podmanRunArgs = []string{"--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", "--network", "none"}

func TestPodmanDrivesPcrOCI(t *testing.T) {
	p := newPodman(t)
	out, err := p.run(append(append([]string{"run", "--rm"}, podmanRunArgs...), "localhost/busybox", "sh", "-c", "echo pid=$$; hostname")...)
	if err != nil || !strings.Contains(out, "pid=1") {
		t.Fatalf("podman run: %v\n%s", err, out)
	}
	out, err = p.run(append(append([]string{"run", "--rm"}, podmanRunArgs...), "localhost/busybox", "sh", "-c", "exit 7")...)
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 7 {
		t.Fatalf("podman run exit 7: %v\n%s", err, out)
	}

	// Detached, then exec (pcr oci exec behind it), stop and rm.
	if out, err := p.run(append(append([]string{"run", "-d", "--name", "web"}, podmanRunArgs...), "localhost/busybox", "sleep", "100")...); err != nil {
		t.Fatalf("podman run -d: %v\n%s", err, out)
	}
	out, err = p.run("exec", "web", "sh", "-c", "ps -o pid,args")
	if err != nil || !strings.Contains(out, "sleep 100") {
		t.Fatalf("podman exec: %v\n%s", err, out)
	}
	if _, err := p.run("exec", "web", "sh", "-c", "exit 3"); err == nil {
		t.Fatal("podman exec exit 3 reported success")
	}
	if out, err := p.run("stop", "-t", "1", "web"); err != nil {
		t.Fatalf("podman stop: %v\n%s", err, out)
	}
	if out, err := p.run("rm", "web"); err != nil {
		t.Fatalf("podman rm: %v\n%s", err, out)
	}

	// pcr's errors reach podman's user through the --log file it reads.
	out, err = p.run(append(append([]string{"run", "--rm"}, podmanRunArgs...), "localhost/busybox", "/nonexistent")...)
	if err == nil || !strings.Contains(out, "/nonexistent") {
		t.Fatalf("podman run of a missing command: %v\n%s", err, out)
	}
}
