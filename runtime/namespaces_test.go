package runtime

import (
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestPlanNamespaces(t *testing.T) {
	self := "/proc/self/ns/"
	t.Run("all new", func(t *testing.T) {
		s := validSpec()
		p, err := planNamespaces(s)
		if err != nil {
			t.Fatal(err)
		}
		want := uintptr(unix.CLONE_NEWPID | unix.CLONE_NEWNET | unix.CLONE_NEWIPC | unix.CLONE_NEWUTS | unix.CLONE_NEWNS)
		if p.cloneFlags != want {
			t.Fatalf("clone flags %#x, want %#x", p.cloneFlags, want)
		}
		if !p.newCgroupNS || p.childUnshare != 0 || len(p.childJoins) != 0 || len(p.parentJoins) != 0 {
			t.Fatalf("unexpected plan %+v", p)
		}
	})
	t.Run("joins split between parent and constructor", func(t *testing.T) {
		s := validSpec()
		s.Linux.Namespaces = []specs.LinuxNamespace{
			{Type: specs.NetworkNamespace, Path: self + "net"},
			{Type: specs.MountNamespace, Path: self + "mnt"},
			{Type: specs.PIDNamespace},
			{Type: specs.UTSNamespace},
		}
		p, err := planNamespaces(s)
		if err != nil {
			t.Fatal(err)
		}
		if p.parentJoins["net"] != self+"net" || len(p.childJoins) != 1 || p.childJoins[0][0] != "mnt" {
			t.Fatalf("joins: %+v", p)
		}
		if p.cloneFlags != unix.CLONE_NEWPID|unix.CLONE_NEWUTS {
			t.Fatalf("clone flags %#x", p.cloneFlags)
		}
	})
	t.Run("joined user namespace owns the new ones", func(t *testing.T) {
		s := validSpec()
		s.Linux.Namespaces = []specs.LinuxNamespace{
			{Type: specs.UserNamespace, Path: self + "user"},
			{Type: specs.MountNamespace}, {Type: specs.PIDNamespace}, {Type: specs.NetworkNamespace},
		}
		p, err := planNamespaces(s)
		if err != nil {
			t.Fatal(err)
		}
		if p.cloneFlags != 0 {
			t.Fatalf("clone must make nothing when a user ns is joined, got %#x", p.cloneFlags)
		}
		if p.childUnshare != unix.CLONE_NEWNS|unix.CLONE_NEWPID|unix.CLONE_NEWNET {
			t.Fatalf("unshare %#x", p.childUnshare)
		}
	})
	t.Run("missing path", func(t *testing.T) {
		s := validSpec()
		s.Linux.Namespaces = []specs.LinuxNamespace{{Type: specs.NetworkNamespace, Path: "/nonexistent/ns"}}
		if _, err := planNamespaces(s); err == nil {
			t.Fatal("missing namespace path accepted")
		}
	})
}

func TestCgroupDevicesKeepsSpecRulesFirst(t *testing.T) {
	s := validSpec()
	s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229}}
	rules := cgroupDevices(s)
	if rules[0].Allow || rules[0].Access != "rwm" {
		t.Fatalf("spec's deny-all must come first, got %+v", rules[0])
	}
	last := rules[len(rules)-1]
	if !last.Allow || *last.Major != 10 || *last.Minor != 229 {
		t.Fatalf("spec device not allowed last: %+v", last)
	}
}
