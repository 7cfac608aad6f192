package seccomp

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// childEnv selects a helper-process mode: loading a filter is irreversible,
// so each real-kernel test runs in a re-executed copy of the test binary.
const childEnv = "PCR_SECCOMP_TEST_CHILD"

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		if err := runChild(mode, os.Getenv("PCR_SECCOMP_TEST_DIR")); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		fmt.Println("child: ok")
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func runChild(mode, dir string) error {
	runtime.LockOSThread()
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("set no_new_privs: %w", err)
	}
	switch mode {
	case "mkdir":
		return childDenyMkdir(dir)
	case "docker":
		return childDockerProfile()
	}
	return fmt.Errorf("unknown mode %q", mode)
}

func childDenyMkdir(dir string) error {
	// A thread that exists before the filter is loaded must get it too
	// (TSYNC), or a goroutine scheduled there would run unfiltered.
	start, result := make(chan struct{}), make(chan error)
	go func() {
		runtime.LockOSThread()
		<-start
		result <- os.Mkdir(filepath.Join(dir, "from-other-thread"), 0o755)
	}()

	p := &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno, ErrnoRet: uintp(38)},
		},
	}
	prog, err := Compile(p)
	if err != nil {
		return err
	}
	if err := Load(prog, []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagLog}); err != nil {
		return err
	}

	if err := os.Mkdir(filepath.Join(dir, "blocked"), 0o755); !errors.Is(err, syscall.Errno(38)) {
		return fmt.Errorf("mkdir under the filter: got %v, want errno 38", err)
	}
	close(start)
	if err := <-result; !errors.Is(err, syscall.Errno(38)) {
		return fmt.Errorf("mkdir on a thread started before the filter: got %v, want errno 38", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "allowed"), []byte("x"), 0o644); err != nil {
		return fmt.Errorf("write a file under the filter: %w", err)
	}
	// The filter survives fork and exec.
	out, err := exec.Command("/bin/mkdir", filepath.Join(dir, "by-child")).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "not implemented") {
		return fmt.Errorf("/bin/mkdir under the filter: got %v %q, want ENOSYS", err, out)
	}
	if out, err := exec.Command("/bin/true").CombinedOutput(); err != nil {
		return fmt.Errorf("/bin/true under the filter: %v %q", err, out)
	}
	return nil
}

func childDockerProfile() error {
	target := new(byte) // heap: its address is handed over as an integer
	local := []unix.Iovec{{Base: new(byte), Len: 1}}
	remote := []unix.RemoteIovec{{Base: uintptr(unsafe.Pointer(target)), Len: 1}}
	if _, err := unix.ProcessVMReadv(os.Getpid(), local, remote, 0); err != nil {
		return fmt.Errorf("process_vm_readv before the filter: %w (cannot tell the filter's EPERM apart)", err)
	}
	p, err := readDockerLikeProfile()
	if err != nil {
		return err
	}
	prog, err := Compile(p)
	if err != nil {
		return err
	}
	if err := Load(prog, nil); err != nil {
		return err
	}
	if _, err := unix.ProcessVMReadv(os.Getpid(), local, remote, 0); !errors.Is(err, unix.EPERM) {
		return fmt.Errorf("process_vm_readv under the filter: got %v, want EPERM", err)
	}
	runtime.KeepAlive(target)
	out, err := exec.Command("/bin/sh", "-c", "echo hello; exec /bin/true").CombinedOutput()
	if err != nil || string(out) != "hello\n" {
		return fmt.Errorf("/bin/sh under the Docker-like filter: %v %q", err, out)
	}
	return nil
}

func runChildTest(t *testing.T, mode string) {
	t.Helper()
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64" {
		t.Skipf("profiles in this test are written for amd64/arm64, not %s", runtime.GOARCH)
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+mode, "PCR_SECCOMP_TEST_DIR="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper process (%s): %v\n%s", mode, err, out)
	}
	if !strings.Contains(string(out), "child: ok") {
		t.Fatalf("helper process (%s) did not report success:\n%s", mode, out)
	}
	for _, name := range []string{"blocked", "from-other-thread", "by-child"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			t.Errorf("%s was created despite the filter", name)
		}
	}
}

func TestLoadDeniesMkdirWithErrno(t *testing.T) {
	runChildTest(t, "mkdir")
}

func TestLoadDockerLikeProfile(t *testing.T) {
	runChildTest(t, "docker")
}

func TestLoadRejectsBadInput(t *testing.T) {
	if err := Load(nil, nil); err == nil {
		t.Error("Load of an empty program succeeded")
	}
	prog := []unix.SockFilter{{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW}}
	if err := Load(prog, []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_BOGUS"}); err == nil ||
		!strings.Contains(err.Error(), `unknown seccomp flag "SECCOMP_FILTER_FLAG_BOGUS"`) {
		t.Errorf("got %v, want an unknown flag error", err)
	}
}
