package cgroup

import (
	"strings"
	"testing"
)

func v1Mount(point, opts string) cgroupMount {
	return cgroupMount{Mountpoint: point, Root: "/", FSType: "cgroup", Options: "rw," + opts}
}

// The development machine: separate cpu and cpuacct hierarchies, memory
// nested at /process_api/<hash>, an empty cgroup2 at unified.
func TestHostFromHybrid(t *testing.T) {
	mounts := []cgroupMount{
		v1Mount("/sys/fs/cgroup/cpu", "cpu"),
		v1Mount("/sys/fs/cgroup/cpuacct", "cpuacct"),
		v1Mount("/sys/fs/cgroup/memory", "memory"),
		v1Mount("/sys/fs/cgroup/systemd", "name=systemd"),
		{Mountpoint: "/sys/fs/cgroup/unified", Root: "/", FSType: "cgroup2", Options: "rw"},
	}
	self := "9:name=systemd:/\n4:memory:/process_api/abc\n2:cpuacct:/\n1:cpu:/\n3:rdma:/\n0::/\n"
	h, err := hostFrom(mounts, strings.NewReader(self))
	if err != nil {
		t.Fatal(err)
	}
	if h.Mode != ModeHybrid {
		t.Errorf("mode %q", h.Mode)
	}
	want := map[string]Hierarchy{
		"cpu":          {"/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu"},
		"cpuacct":      {"/sys/fs/cgroup/cpuacct", "/sys/fs/cgroup/cpuacct"},
		"memory":       {"/sys/fs/cgroup/memory", "/sys/fs/cgroup/memory/process_api/abc"},
		"name=systemd": {"/sys/fs/cgroup/systemd", "/sys/fs/cgroup/systemd"},
	}
	if len(h.Hierarchies) != len(want) {
		t.Errorf("hierarchies %v", h.Hierarchies) // rdma is not mounted, unified is not ours
	}
	for k, w := range want {
		if h.Hierarchies[k] != w {
			t.Errorf("%s: %+v, want %+v", k, h.Hierarchies[k], w)
		}
	}
}

func TestHostFromCoMountedAndBindRoot(t *testing.T) {
	mounts := []cgroupMount{
		v1Mount("/sys/fs/cgroup/cpu,cpuacct", "cpu,cpuacct"),
		// Inside another container: only our subtree is mounted.
		{Mountpoint: "/sys/fs/cgroup/pids", Root: "/docker/x", FSType: "cgroup", Options: "rw,pids"},
	}
	h, err := hostFrom(mounts, strings.NewReader("2:cpu,cpuacct:/a\n5:pids:/docker/x/y\n"))
	if err != nil {
		t.Fatal(err)
	}
	if h.Mode != ModeV1 {
		t.Errorf("mode %q", h.Mode)
	}
	if h.Hierarchies["cpu"] != h.Hierarchies["cpuacct"] || h.Hierarchies["cpu"].Caller != "/sys/fs/cgroup/cpu,cpuacct/a" {
		t.Errorf("co-mounted: %+v", h.Hierarchies)
	}
	if got := h.Hierarchies["pids"].Caller; got != "/sys/fs/cgroup/pids/y" {
		t.Errorf("bind root caller %q", got)
	}
}

func TestHostFromV2(t *testing.T) {
	mounts := []cgroupMount{{Mountpoint: "/sys/fs/cgroup", Root: "/", FSType: "cgroup2"}}
	h, err := hostFrom(mounts, strings.NewReader("0::/user.slice/session-1.scope\n"))
	if err != nil {
		t.Fatal(err)
	}
	if h.Mode != ModeV2 || h.Hierarchies[""].Caller != "/sys/fs/cgroup/user.slice/session-1.scope" {
		t.Errorf("%+v", h)
	}
}

func TestNewResolvesPaths(t *testing.T) {
	h := &Host{Mode: ModeV1, Hierarchies: map[string]Hierarchy{
		"cpu":    {"/cg/cpu", "/cg/cpu"},
		"memory": {"/cg/memory", "/cg/memory/process_api/abc"},
	}}
	cases := []struct{ path, cpu, memory string }{
		{"", "/cg/cpu/pcr/c1", "/cg/memory/process_api/abc/pcr/c1"},
		{"mine/c1", "/cg/cpu/mine/c1", "/cg/memory/process_api/abc/mine/c1"},
		{"/machine/c1", "/cg/cpu/machine/c1", "/cg/memory/machine/c1"},
		{"/../../etc", "/cg/cpu/etc", "/cg/memory/etc"},
	}
	for _, c := range cases {
		m, err := h.New(c.path, "c1")
		if err != nil {
			t.Fatalf("%q: %v", c.path, err)
		}
		p := m.State().Paths
		if p["cpu"] != c.cpu || p["memory"] != c.memory {
			t.Errorf("%q: got %v", c.path, p)
		}
		if fd, err := m.FD(); fd != -1 || err != nil {
			t.Errorf("v1 FD() = %d, %v", fd, err)
		}
	}
	for _, bad := range []string{"..", "a/../..", ".", "/"} {
		if _, err := h.New(bad, "c1"); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := h.New("", "a/b"); err == nil {
		t.Error("id with a slash accepted")
	}
	v2 := &Host{Mode: ModeV2, Hierarchies: map[string]Hierarchy{"": {"/cg", "/cg/user.slice/s"}}}
	m, err := v2.New("", "c1")
	if err != nil {
		t.Fatal(err)
	}
	if st := m.State(); st.Version != ModeV2 || st.Paths[""] != "/cg/user.slice/s/pcr/c1" {
		t.Errorf("v2 state %+v", st)
	}
}

func TestLoadRejectsBadState(t *testing.T) {
	for _, st := range []State{{}, {Version: "v3"}, {Version: ModeV2}, {Version: ModeV1}} {
		if _, err := Load(st); err == nil {
			t.Errorf("Load(%+v) accepted", st)
		}
	}
}

func TestParseCgroupMounts(t *testing.T) {
	text := `22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
25 22 0:21 / /sys/fs/cgroup rw,nosuid shared:9 - tmpfs tmpfs ro,mode=755
26 25 0:22 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
27 25 0:23 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:11 master:3 - cgroup cgroup rw,cpu,cpuacct
28 25 0:24 /docker/x /sys/fs/cgroup/my\040pids rw - cgroup cgroup rw,pids
29 22 0:25 / /mnt/cgroupish rw - cgroupfs none rw
30 25 0:26 / /sys/fs/cgroup/nosource rw - cgroup2  rw,nsdelegate
`
	got, err := parseCgroupMounts(text)
	if err != nil {
		t.Fatal(err)
	}
	want := []cgroupMount{
		{Root: "/", Mountpoint: "/sys/fs/cgroup/unified", FSType: "cgroup2", Options: "rw,nsdelegate"},
		{Root: "/", Mountpoint: "/sys/fs/cgroup/cpu,cpuacct", FSType: "cgroup", Options: "rw,cpu,cpuacct"},
		{Root: "/docker/x", Mountpoint: "/sys/fs/cgroup/my pids", FSType: "cgroup", Options: "rw,pids"},
		{Root: "/", Mountpoint: "/sys/fs/cgroup/nosource", FSType: "cgroup2", Options: "rw,nsdelegate"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("mount %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	if _, err := parseCgroupMounts("1 2 3 - cgroup cgroup rw\n"); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("a short line: got %v, want an error naming line 1", err)
	}
	for in, want := range map[string]string{`a\040b`: "a b", `\134x`: `\x`, `\01`: `\01`, `tab\011`: "tab\t", `\999`: `\999`} {
		if got := unescapeMountField(in); got != want {
			t.Errorf("unescape %q: got %q, want %q", in, got, want)
		}
	}
}
