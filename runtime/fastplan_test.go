package runtime

import (
	"bytes"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// planOps splits a plan into its ops, each with its arguments, after the
// PLAN header, the rootfs and the trace start.
func planOps(t *testing.T, b []byte) (rootfs string, ops [][]string) {
	t.Helper()
	toks := strings.Split(string(b), "\x00")
	if toks[len(toks)-1] != "" {
		t.Fatalf("plan does not end with a NUL: %q", b)
	}
	toks = toks[:len(toks)-1]
	if len(toks) < 3 || toks[0] != "PLAN" {
		t.Fatalf("plan header: %q", toks)
	}
	rootfs = toks[1]
	for _, tok := range toks[3:] {
		if len(ops) > 0 && wantsMore(ops[len(ops)-1]) {
			ops[len(ops)-1] = append(ops[len(ops)-1], tok)
			continue
		}
		if len(tok) != 1 || !strings.Contains("npvmrRPDLVXMOYSHNUlFATWZzCuckxG", tok) {
			t.Fatalf("%q where an op should start (after %q)", tok, ops)
		}
		ops = append(ops, []string{tok})
	}
	return rootfs, ops
}

// wantsMore knows the fixed-arity ops' argument counts; 'l' and 'u' carry
// their own counts.
func wantsMore(op []string) bool {
	arity := map[string]int{"n": 0, "p": 1, "v": 0, "m": 6, "r": 2, "R": 1, "P": 2, "D": 7, "L": 2, "V": 0, "X": 1,
		"M": 1, "O": 1, "Y": 0, "S": 2, "H": 1, "N": 1, "U": 0, "F": 1, "A": 1, "T": 3, "W": 0, "Z": 2, "z": 2,
		"C": 5, "c": 1, "k": 1, "x": 0, "G": 1}
	args := len(op) - 1
	switch op[0] {
	case "l":
		if args < 3 {
			return true
		}
		argc := atoi(op[3])
		if args < 3+argc+1 {
			return true
		}
		return args < 3+argc+1+atoi(op[3+argc+1])
	case "u":
		if args < 3 {
			return true
		}
		return args < 3+atoi(op[3])
	}
	return args < arity[op[0]]
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

func opNames(ops [][]string) string {
	var b strings.Builder
	for _, op := range ops {
		b.WriteString(op[0])
	}
	return b.String()
}

func fastCfg(s *specs.Spec) *initConfig {
	return &initConfig{ID: "c1", Bundle: "/b", Spec: s, Rootfs: "/b/rootfs", CgroupV2: true,
		CgroupDirs: map[string]string{"": "/sys/fs/cgroup/pcr/c1"}}
}

func TestFastPlanDefaultSpec(t *testing.T) {
	s := validSpec()
	b, err := buildFastPlan(fastCfg(s))
	if err != nil {
		t.Fatal(err)
	}
	rootfs, ops := planOps(t, b)
	if rootfs != "/b/rootfs" {
		t.Errorf("rootfs %q", rootfs)
	}
	// propagation, rootfs bind, the default spec's mounts, 6 devices and 6
	// links, pivot_root, masks, read-only paths, hostname, lo, the payload,
	// then privileges and exec, in init.go's order.
	want := "pv" + strings.Repeat("m", len(s.Mounts)) + strings.Repeat("D", 6) + strings.Repeat("L", 6) + "V" +
		strings.Repeat("M", len(s.Linux.MaskedPaths)) + strings.Repeat("O", len(s.Linux.ReadonlyPaths))
	if s.Root.Readonly {
		want += "Y"
	}
	want += "HUlF" + strings.Repeat("T", len(s.Process.Rlimits))
	if s.Process.NoNewPrivileges {
		want += "W"
	}
	want += "Cucx"
	if got := opNames(ops); got != want {
		t.Errorf("ops\n got %s\nwant %s", got, want)
	}
	for _, op := range ops {
		switch op[0] {
		case "p":
			if op[1] != num(uintptr(unix.MS_SLAVE|unix.MS_REC)) {
				t.Errorf("default propagation %v", op)
			}
		case "l":
			if op[2] != s.Process.Cwd || op[4] != s.Process.Args[0] {
				t.Errorf("payload op %v", op)
			}
		case "m":
			if op[2] == "/sys/fs/cgroup" && (op[1] != "cgroup2" || op[3] != "cgroup2") {
				t.Errorf("cgroup mount on v2: %v", op)
			}
		}
	}
}

func TestFastPlanMountsAndPropagation(t *testing.T) {
	s := validSpec()
	s.Linux.RootfsPropagation = "shared"
	s.Mounts = []specs.Mount{
		// cleaned before the C init follows any link, as resolveInRoot does
		{Destination: "/run/../data/", Source: "vol", Options: []string{"rbind", "ro", "nosuid", "rprivate"}},
		{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"ro"}},
	}
	cfg := fastCfg(s)
	cfg.CgroupV2 = false
	cfg.CgroupDirs = map[string]string{"": "/x", "memory": "/sys/fs/cgroup/memory/pcr/c1", "name=systemd": "/sys/fs/cgroup/systemd/pcr/c1"}
	b, err := buildFastPlan(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, ops := planOps(t, b)
	var got [][]string
	for _, op := range ops {
		if strings.Contains("pmrRPX", op[0]) {
			got = append(got, op)
		}
	}
	want := [][]string{
		{"p", num(uintptr(unix.MS_PRIVATE | unix.MS_REC))},
		{"m", "/b/vol", "/data", "", num(uintptr(unix.MS_BIND | unix.MS_REC)), "", "s"},
		{"r", "/data", num(uintptr(unix.MS_RDONLY | unix.MS_NOSUID))},
		{"P", "/data", num(uintptr(unix.MS_PRIVATE | unix.MS_REC))},
		{"m", "tmpfs", "/sys/fs/cgroup", "tmpfs", num(uintptr(unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC)), "mode=755", "d"},
		{"m", "/sys/fs/cgroup/memory/pcr/c1", "/sys/fs/cgroup/memory", "", num(uintptr(unix.MS_BIND | unix.MS_REC)), "", "d"},
		{"R", "/sys/fs/cgroup/memory"},
		{"m", "/sys/fs/cgroup/systemd/pcr/c1", "/sys/fs/cgroup/systemd", "", num(uintptr(unix.MS_BIND | unix.MS_REC)), "", "d"},
		{"R", "/sys/fs/cgroup/systemd"},
		{"R", "/sys/fs/cgroup"},
		{"X", num(uintptr(unix.MS_SHARED))},
	}
	if len(got) != len(want) {
		t.Fatalf("mount ops\n got %q\nwant %q", got, want)
	}
	for i := range want {
		if strings.Join(got[i], "|") != strings.Join(want[i], "|") {
			t.Errorf("op %d\n got %q\nwant %q", i, got[i], want[i])
		}
	}
}

func TestFastPlanFinal(t *testing.T) {
	s := validSpec()
	adj := 100
	umask := uint32(0o27)
	s.Process.OOMScoreAdj = &adj
	s.Process.User = specs.User{UID: 1000, GID: 100, AdditionalGids: []uint32{10, 20}, Umask: &umask}
	s.Process.Env = []string{"PATH=/bin"}
	s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: []string{"CAP_CHOWN", "CAP_KILL"}, Effective: []string{"CAP_KILL"}}
	s.Process.NoNewPrivileges = true
	s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow,
		Syscalls: []specs.LinuxSyscall{{Names: []string{"mkdir"}, Action: specs.ActErrno}}}
	b, err := buildFastPlan(fastCfg(s))
	if err != nil {
		t.Fatal(err)
	}
	_, ops := planOps(t, b)
	byName := map[string][]string{}
	order := ""
	for _, op := range ops {
		if strings.Contains("lFATWZzCuckx", op[0]) {
			byName[op[0]] = op
			order += op[0]
		}
	}
	if want := "lFA" + strings.Repeat("T", len(s.Process.Rlimits)) + "WCuckzx"; order != want {
		t.Errorf("final ops %s, want %s (seccomp after no_new_privs, right before exec)", order, want)
	}
	if got := strings.Join(byName["u"][1:], " "); got != "1000 100 2 10 20" {
		t.Errorf("user op %q", got)
	}
	if got := byName["k"][1]; got != "23" {
		t.Errorf("umask op %q", got)
	}
	// bounding CHOWN(0)|KILL(5), effective KILL, the rest empty
	if got := strings.Join(byName["C"][1:], " "); got != "21 20 0 0 0" {
		t.Errorf("capability masks %q", got)
	}
	if z := byName["z"]; len(z) != 3 || len(z[2])%16 != 0 || len(z[2]) == 0 {
		t.Errorf("seccomp op %q", z)
	}
}

func TestFastPlanRefusals(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*specs.Spec, *CreateOpts)
		want   string
	}{
		{"terminal", func(s *specs.Spec, _ *CreateOpts) { s.Process.Terminal = true }, "terminal"},
		{"no pivot", func(_ *specs.Spec, o *CreateOpts) { o.NoPivot = true }, "--no-pivot"},
		{"userns", func(s *specs.Spec, _ *CreateOpts) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
		}, "user namespace"},
		{"no mount ns", func(s *specs.Spec, _ *CreateOpts) {
			s.Linux.Namespaces = []specs.LinuxNamespace{{Type: specs.PIDNamespace}}
		}, "no mount namespace"},
		{"joined mount ns", func(s *specs.Spec, _ *CreateOpts) {
			for i := range s.Linux.Namespaces {
				if s.Linux.Namespaces[i].Type == specs.MountNamespace {
					s.Linux.Namespaces[i].Path = "/proc/1/ns/mnt"
				}
			}
		}, "joined mount namespace"},
		{"hooks", func(s *specs.Spec, _ *CreateOpts) {
			s.Hooks = &specs.Hooks{CreateContainer: []specs.Hook{{Path: "/bin/true"}}}
		}, "hooks"},
		{"seccomp listener", func(s *specs.Spec, _ *CreateOpts) {
			s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, ListenerPath: "/run/l.sock"}
		}, "notify"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, o := validSpec(), CreateOpts{}
			if got := fastInitRefusal(s, o); got != "" {
				t.Fatalf("default spec refused: %s", got)
			}
			c.mutate(s, &o)
			if got := fastInitRefusal(s, o); !strings.Contains(got, c.want) {
				t.Errorf("refusal %q, want it to name %q", got, c.want)
			}
		})
	}
}

func TestFastPlanErrorsKeepTheGoInit(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*specs.Spec)
		want   string
	}{
		{"NUL in an argument", func(s *specs.Spec) { s.Process.Args = []string{"/bin/echo", "a\x00b"} }, "NUL"},
		{"unknown capability", func(s *specs.Spec) {
			s.Process.Capabilities.Bounding = append(s.Process.Capabilities.Bounding, "CAP_FROM_THE_FUTURE")
		}, "unknown to this kernel"},
		{"unknown rlimit", func(s *specs.Spec) {
			s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_BOGUS", Soft: 1, Hard: 1}}
		}, "RLIMIT_BOGUS"},
		{"bad sysctl", func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{"kernel/../x": "1"} }, "invalid name"},
		{"bad propagation", func(s *specs.Spec) { s.Linux.RootfsPropagation = "sideways" }, "not a propagation mode"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := validSpec()
			c.mutate(s)
			_, err := buildFastPlan(fastCfg(s))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one naming %q", err, c.want)
			}
			p := refusalPlan(fastCfg(s), err)
			if !bytes.HasPrefix(p, []byte("PLAN\x00")) || !bytes.Contains(p, []byte("G\x00")) {
				t.Errorf("refusal plan %q", p)
			}
		})
	}
}

func TestFilterHexIsKernelLayout(t *testing.T) {
	got := filterHex([]unix.SockFilter{{Code: 0x0006, Jt: 1, Jf: 2, K: 0x7fff0000}})
	if want := "06000102" + "0000ff7f"; got != want {
		t.Errorf("filterHex %s, want %s", got, want)
	}
}
