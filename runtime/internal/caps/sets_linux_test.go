package caps

import (
	"errors"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

const (
	bitChown   = 1 << unix.CAP_CHOWN
	bitKill    = 1 << unix.CAP_KILL
	bitNetBind = 1 << unix.CAP_NET_BIND_SERVICE
)

// childSets is what the child applies: a bounding set of three, an
// ambient capability (which needs it permitted and inheritable too).
var childSets = Sets{
	Bounding:    bitChown | bitKill | bitNetBind,
	Effective:   bitChown | bitKill,
	Permitted:   bitChown | bitKill | bitNetBind,
	Inheritable: bitNetBind,
	Ambient:     bitNetBind,
}

const childEnv = "PCR_CAPS_TEST_CHILD"

// TestApplyInChild applies sets in a child process (the test binary run
// again), never in the test process itself, and reads back the kernel's
// view of the child's thread.
func TestApplyInChild(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil || data[0].Effective&(1<<unix.CAP_SETPCAP) == 0 {
		t.Skipf("needs CAP_SETPCAP (capget: %v)", err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestApplyChildHelper$", "-test.v")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	got := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(line, "\t"); ok && strings.HasPrefix(k, "CAP") {
			got[k] = strings.TrimSpace(v)
		}
	}
	want := map[string]uint64{
		"CAPBND": childSets.Bounding, "CAPEFF": childSets.Effective, "CAPPRM": childSets.Permitted,
		"CAPINH": childSets.Inheritable, "CAPAMB": childSets.Ambient,
	}
	for k, w := range want {
		v, err := strconv.ParseUint(got[k], 16, 64)
		if err != nil || v != w {
			t.Errorf("%s = %q, want %x", k, got[k], w)
		}
	}
	if !strings.Contains(got["CAPERR"], "raise in the ambient set CAP_KILL") || got["CAPERRPERM"] != "true" {
		t.Errorf("ambient error %q (EPERM: %s)", got["CAPERR"], got["CAPERRPERM"])
	}
	if got["CAPNOSETPCAP"] != "<nil>" {
		t.Errorf("bounding without CAP_SETPCAP: %s", got["CAPNOSETPCAP"])
	}
}

// TestApplyChildHelper is the child's side of TestApplyInChild.
func TestApplyChildHelper(t *testing.T) {
	if os.Getenv(childEnv) == "" {
		t.Skip("run by TestApplyInChild")
	}
	// Capabilities belong to a thread: apply and read back on one.
	runtime.LockOSThread()
	last, err := LastCap()
	if err != nil {
		t.Fatal(err)
	}
	s := childSets
	if err := s.ApplyBounding(last); err != nil {
		t.Fatal(err)
	}
	if err := s.ApplyCaps(); err != nil {
		t.Fatal(err)
	}
	if err := s.ApplyAmbient(last); err != nil {
		t.Fatal(err)
	}
	// The effective set now lacks CAP_SETPCAP: dropping is skipped, not
	// refused, as in moby/sys/capability.
	println("CAPNOSETPCAP\t" + errString((&Sets{}).ApplyBounding(last)))
	status, err := os.ReadFile("/proc/thread-self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.HasPrefix(k, "Cap") {
			println(strings.ToUpper(k) + "\t" + strings.TrimSpace(v))
		}
	}
	// CAP_KILL is not inheritable, so the kernel refuses it as ambient.
	err = (&Sets{Ambient: bitKill}).ApplyAmbient(last)
	println("CAPERR\t" + errString(err))
	println("CAPERRPERM\t" + strconv.FormatBool(errors.Is(err, unix.EPERM)))
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

func TestErrorNamesTheCapability(t *testing.T) {
	err := error(&Error{Op: "drop from the bounding set", Cap: unix.CAP_SYS_ADMIN, Err: unix.EPERM})
	if got := err.Error(); got != "drop from the bounding set CAP_SYS_ADMIN: operation not permitted" {
		t.Errorf("%q", got)
	}
	if !errors.Is(err, unix.EPERM) {
		t.Error("errno not unwrapped")
	}
	if got := (&Error{Op: "raise in the ambient set", Cap: 41, Err: unix.EPERM}).Error(); !strings.Contains(got, "capability 41") {
		t.Errorf("%q", got)
	}
	if got := (&Error{Op: "capset", Cap: -1, Err: unix.EPERM}).Error(); got != "capset: operation not permitted" {
		t.Errorf("%q", got)
	}
}
