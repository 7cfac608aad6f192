package engine

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"pcr/engine/internal/inroot"
	"pcr/engine/internal/monitor"
)

func testInput(t *testing.T, cfg ocispec.ImageConfig) *specInput {
	layer := t.TempDir()
	os.MkdirAll(filepath.Join(layer, "etc"), 0o755)
	os.WriteFile(filepath.Join(layer, "etc", "passwd"), []byte("root:x:0:0::/root:/bin/sh\nweb:x:33:44::/srv:/bin/sh\n"), 0o644)
	os.WriteFile(filepath.Join(layer, "etc", "group"), []byte("root:x:0:\nwww:x:44:\nextra:x:50:web\n"), 0o644)
	return &specInput{id: strings.Repeat("ab", 32), dir: "/c", image: cfg, lowers: []string{layer}}
}

func TestBuildSpecCommandAndEnv(t *testing.T) {
	in := testInput(t, ocispec.ImageConfig{Entrypoint: []string{"/ep"}, Cmd: []string{"default"}, Env: []string{"A=image", "PATH=/img"}, WorkingDir: "/w"})
	s, err := buildSpec(in, &Options{Cmd: []string{"given"}, Env: []string{"A=flag"}, Tty: true})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.Process.Args, []string{"/ep", "given"}) {
		t.Errorf("args %v", s.Process.Args)
	}
	if !slices.Equal(s.Process.Env, []string{"PATH=/img", "HOSTNAME=abababababab", "TERM=xterm", "A=flag"}) {
		t.Errorf("env %v", s.Process.Env)
	}
	if s.Process.Cwd != "/w" || s.Hostname != "abababababab" || !s.Process.Terminal || s.Process.NoNewPrivileges {
		t.Errorf("cwd %q hostname %q terminal %v nnp %v", s.Process.Cwd, s.Hostname, s.Process.Terminal, s.Process.NoNewPrivileges)
	}
	s, _ = buildSpec(in, &Options{EntrypointSet: true})
	if s != nil {
		t.Errorf("an empty --entrypoint and no command built %v", s.Process.Args)
	}
}

func TestBuildSpecSecurityDefaults(t *testing.T) {
	s, err := buildSpec(testInput(t, ocispec.ImageConfig{Cmd: []string{"sh"}}), &Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Process.Capabilities.Bounding) != len(inroot.DockerCapabilities()) || s.Linux.Seccomp == nil || s.Linux.Seccomp.DefaultAction != specs.ActErrno {
		t.Errorf("caps %v seccomp %v", s.Process.Capabilities.Bounding, s.Linux.Seccomp)
	}
	if !slices.Contains(s.Linux.MaskedPaths, "/proc/kcore") || !slices.Contains(s.Linux.ReadonlyPaths, "/proc/sys") {
		t.Errorf("masked %v readonly %v", s.Linux.MaskedPaths, s.Linux.ReadonlyPaths)
	}
	s, err = buildSpec(testInput(t, ocispec.ImageConfig{Cmd: []string{"sh"}}), &Options{
		CapAdd: []string{"sys_admin"}, CapDrop: []string{"NET_RAW"}, SecurityOpt: []string{"no-new-privileges"},
		Network: "host", Init: true, ReadOnly: true, Memory: 64 << 20, NanoCPUs: 5e8, PidsLimit: 9,
	})
	if err != nil {
		t.Fatal(err)
	}
	caps := s.Process.Capabilities.Bounding
	if !slices.Contains(caps, "CAP_SYS_ADMIN") || slices.Contains(caps, "CAP_NET_RAW") || !s.Process.NoNewPrivileges || !s.Root.Readonly {
		t.Errorf("caps %v nnp %v ro %v", caps, s.Process.NoNewPrivileges, s.Root.Readonly)
	}
	for _, n := range s.Linux.Namespaces {
		if n.Type == specs.NetworkNamespace {
			t.Error("--net host kept a network namespace")
		}
	}
	if s.Process.Args[0] != monitor.InitPath || s.Process.Args[1] != "--" {
		t.Errorf("--init args %v", s.Process.Args)
	}
	r := s.Linux.Resources
	if *r.Memory.Limit != 64<<20 || *r.CPU.Quota != 50000 || *r.Pids.Limit != 9 {
		t.Errorf("resources %+v", r)
	}
}

// TestEngineUserResolvedInContainerRoot: the user is resolved on the
// container's rootfs (users the container added are seen) and a symlinked
// /etc resolves inside it, never to the host's passwd.
func TestEngineUserResolvedInContainerRoot(t *testing.T) {
	dir := t.TempDir()
	rootfs := filepath.Join(dir, "rootfs")
	os.MkdirAll(filepath.Join(rootfs, "etc"), 0o755)
	os.WriteFile(filepath.Join(rootfs, "etc", "passwd"), []byte("root:x:0:0::/root:/bin/sh\nweb:x:33:44::/srv:/bin/sh\n"), 0o644)
	os.WriteFile(filepath.Join(rootfs, "etc", "group"), []byte("root:x:0:\nwww:x:44:\nextra:x:50:web\n"), 0o644)
	for spec, want := range map[string]specs.User{
		"web":      {UID: 33, GID: 44, AdditionalGids: []uint32{44, 50}},
		"33":       {UID: 33, GID: 44, AdditionalGids: []uint32{44, 50}},
		"web:0":    {UID: 33, GID: 0},
		"1000:www": {UID: 1000, GID: 44},
		"1000":     {UID: 1000},
	} {
		s := specs.Spec{Process: &specs.Process{Args: []string{"sh"}, Cwd: "/"}}
		if err := setProcessUser(rootfs, &Record{ID: strings.Repeat("ab", 32), User: spec}, &s); err != nil {
			t.Fatalf("setProcessUser(%q): %v", spec, err)
		}
		got := s.Process.User
		if got.UID != want.UID || got.GID != want.GID || !slices.Equal(got.AdditionalGids, want.AdditionalGids) || s.Process.Args[0] != "sh" {
			t.Errorf("user %q = %+v (args %v); want %+v", spec, got, s.Process.Args, want)
		}
	}
	for _, bad := range []string{"nobody", "web:nogroup"} {
		if err := setProcessUser(rootfs, &Record{ID: strings.Repeat("ab", 32), User: bad}, &specs.Spec{Process: &specs.Process{}}); err == nil {
			t.Errorf("user %q passed", bad)
		}
	}
	// /etc -> /etc (absolute): inside the container that is itself, so a
	// name only the host's passwd has ("root" is in both; use a host-only
	// one made for this test) must not resolve.
	host := t.TempDir()
	os.WriteFile(filepath.Join(host, "passwd"), []byte("hostonly:x:4242:4242::/:/bin/sh\n"), 0o644)
	os.RemoveAll(filepath.Join(rootfs, "etc"))
	os.Symlink(host, filepath.Join(rootfs, "etc"))
	if u, err := resolveUser(rootfs, "hostonly"); err == nil {
		t.Errorf("resolved hostonly = %+v through a symlinked /etc to the host", u)
	}
}
