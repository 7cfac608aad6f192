package cgroup

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// A refused program reports the verifier's reason, not a bare errno.
func TestRootDeviceFilterLoadErrorHasVerifierLog(t *testing.T) {
	requireRoot(t)
	_, err := loadCgroupDeviceProg([]bpfInsn{mov64Imm(bpfR0, 1)}, deviceFilterName) // no exit
	if err == nil || !strings.Contains(err.Error(), "verifier log:") {
		t.Fatalf("load of a program without exit: %v, want an error with the verifier log", err)
	}
}

// v2TestCgroup makes an empty cgroup below the caller's own one in the
// unified hierarchy (cgroup v2 or hybrid) and removes it at the end.
func v2TestCgroup(t *testing.T) string {
	t.Helper()
	text, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	all, err := parseCgroupMounts(string(text))
	if err != nil {
		t.Fatal(err)
	}
	var mounts []cgroupMount
	for _, m := range all {
		if m.FSType == "cgroup2" {
			mounts = append(mounts, m)
		}
	}
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	own := ""
	for sc := bufio.NewScanner(f); sc.Scan(); {
		if p, ok := strings.CutPrefix(sc.Text(), "0::"); ok {
			own = p
		}
	}
	m := pickMount(mounts, own)
	if own == "" || m == nil {
		t.Skip("no cgroup2 mount shows our cgroup")
	}
	dir := filepath.Join(callerDir(m, own), testName(t))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := unix.Rmdir(dir); err != nil {
			t.Errorf("cleanup: rmdir %s: %v", dir, err)
		}
	})
	return dir
}

// readIn reads a byte of dev from a child started inside the cgroup, so
// the device filter attached there judges the open.
func readIn(t *testing.T, dir, dev string) error {
	t.Helper()
	cg, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(cg)
	cmd := exec.Command("head", "-c1", dev)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: cg}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		if !strings.Contains(stderr.String(), "Operation not permitted") {
			t.Fatalf("head %s in %s: %v: %s", dev, dir, err, stderr.String())
		}
		return unix.EPERM
	}
	return nil
}

func attachedNames(t *testing.T, dir string) []string {
	t.Helper()
	cg, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(cg)
	ids, err := cgroupDeviceProgIDs(cg)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, id := range ids {
		fd, err := progFdByID(id)
		if err != nil {
			t.Fatal(err)
		}
		_, name, err := progInfo(fd)
		unix.Close(fd)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// The filter is attached for real and enforced; an update replaces pcr's
// filter and leaves a program someone else attached in place.
func TestRootDeviceFilterEnforcedAndReplaced(t *testing.T) {
	requireRoot(t)
	dir := v2TestCgroup(t)
	allowAll := specs.LinuxDeviceCgroup{Allow: true, Access: "rwm"}
	deny := func(minor int64) specs.LinuxDeviceCgroup {
		return specs.LinuxDeviceCgroup{Allow: false, Type: "c", Major: i64(1), Minor: i64(minor), Access: "rwm"}
	}

	if err := setDevicesV2(dir, []specs.LinuxDeviceCgroup{allowAll, deny(9)}); err != nil {
		t.Fatal(err)
	}
	if err := readIn(t, dir, "/dev/urandom"); err == nil {
		t.Error("/dev/urandom (c 1:9) readable despite a deny rule")
	}
	if err := readIn(t, dir, "/dev/null"); err != nil {
		t.Errorf("/dev/null (c 1:3): %v", err)
	}

	// Someone else's allow-all filter, which must survive pcr's update.
	cg, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(cg)
	other, err := loadCgroupDeviceProg([]bpfInsn{mov64Imm(bpfR0, 1), exit()}, "other")
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(other)
	if err := attachCgroupDeviceProg(cg, other); err != nil {
		t.Fatal(err)
	}

	if err := setDevicesV2(dir, []specs.LinuxDeviceCgroup{allowAll, deny(3)}); err != nil {
		t.Fatal(err)
	}
	if err := readIn(t, dir, "/dev/urandom"); err != nil {
		t.Errorf("/dev/urandom after the update allowed it: %v (old filter still attached?)", err)
	}
	if err := readIn(t, dir, "/dev/null"); err == nil {
		t.Error("/dev/null readable after the update denied it")
	}
	if got, want := attachedNames(t, dir), []string{"other", deviceFilterName}; !slices.Equal(got, want) {
		t.Errorf("attached programs %q, want %q", got, want)
	}
}
