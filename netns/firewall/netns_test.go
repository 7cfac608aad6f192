package firewall

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// nsThread is an OS thread parked in a network namespace the test created;
// do runs a function on it, so sockets and sysctls land in that namespace and
// the host's never change.
type nsThread struct {
	fd    int
	funcs chan func()
}

// newNetNS makes a new network namespace on a dedicated, locked thread. The
// thread is never unlocked: when the test ends its goroutine returns and Go
// discards the thread, and with its fd closed the namespace goes away.
func newNetNS(t testing.TB) *nsThread {
	t.Helper()
	requireRoot(t)
	ns := &nsThread{funcs: make(chan func())}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("unshare netns: %w", err)
			return
		}
		fd, err := unix.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("open netns: %w", err)
			return
		}
		ns.fd = fd
		errc <- nil
		for f := range ns.funcs {
			f()
		}
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		close(ns.funcs)
		unix.Close(ns.fd)
	})
	return ns
}

// do runs f on the namespace's thread and returns its error.
func (ns *nsThread) do(f func() error) error {
	errc := make(chan error, 1)
	ns.funcs <- func() { errc <- f() }
	return <-errc
}

// requireRoot fails (under CI=true) or skips a test that needs CAP_NET_ADMIN.
func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("needs root (CAP_NET_ADMIN) and CI=true forbids skipping")
	}
	t.Skip("needs root")
}

func uniqueTable(t testing.TB) string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "pcrtest" + hex.EncodeToString(b)
}

// sysctl writes /proc/sys/<key> from the namespace's thread.
func (ns *nsThread) sysctl(key, value string) error {
	return ns.do(func() error { return os.WriteFile("/proc/sys/"+key, []byte(value), 0o644) })
}
