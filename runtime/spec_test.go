package runtime

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func validSpec() *specs.Spec {
	s := DefaultSpec(false)
	s.Process.Terminal = false
	return s
}

func TestValidateSpec(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*specs.Spec)
		want   string // "" = valid
	}{
		{"default spec", func(*specs.Spec) {}, ""},
		{"rootless default", func(s *specs.Spec) { *s = *DefaultSpec(true) }, ""},
		{"oldest accepted version", func(s *specs.Spec) { s.Version = "1.0.0" }, ""},
		{"rc version", func(s *specs.Spec) { s.Version = "1.0.2-dev" }, ""},
		{"future minor", func(s *specs.Spec) { s.Version = "1.9.0" }, "unsupported ociVersion"},
		{"major 2", func(s *specs.Spec) { s.Version = "2.0.0" }, "unsupported ociVersion"},
		{"no version", func(s *specs.Spec) { s.Version = "" }, "ociVersion is missing"},
		{"garbage version", func(s *specs.Spec) { s.Version = "one" }, "not a version"},
		{"no root", func(s *specs.Spec) { s.Root = nil }, "root.path"},
		{"no process", func(s *specs.Spec) { s.Process = nil }, "process is required"},
		{"empty args", func(s *specs.Spec) { s.Process.Args = nil }, "args must not be empty"},
		{"relative cwd", func(s *specs.Spec) { s.Process.Cwd = "tmp" }, "absolute"},
		{"unknown namespace", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "bogus"})
		}, "unknown namespace"},
		{"namespace twice", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.PIDNamespace})
		}, "given twice"},
		{"mappings without userns", func(s *specs.Spec) {
			s.Linux.UIDMappings = []specs.LinuxIDMapping{{HostID: 1000, Size: 1}}
		}, "need a user namespace"},
		{"userns without mappings", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
		}, "needs uidMappings"},
		{"hostname without uts", func(s *specs.Spec) {
			s.Linux.Namespaces = []specs.LinuxNamespace{{Type: specs.MountNamespace}}
		}, "uts namespace"},
		{"net sysctl without netns", func(s *specs.Spec) {
			s.Hostname = ""
			s.Linux.Namespaces = []specs.LinuxNamespace{{Type: specs.MountNamespace}}
			s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
		}, "network namespace"},
		{"relative mount destination", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "tmp", Type: "tmpfs"})
		}, "not absolute"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := validSpec()
			c.mutate(s)
			err := ValidateSpec(s)
			if c.want == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("want error containing %q, got %v", c.want, err)
			}
		})
	}
}

func TestLoadSpecErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadSpec(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("missing bundle: %v", err)
	}
	if _, err := LoadSpec(dir); err == nil || !strings.Contains(err.Error(), "has no config.json") {
		t.Fatalf("no config: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "config.json"), []byte("{not json"), 0o644)
	if _, err := LoadSpec(dir); err == nil || !strings.Contains(err.Error(), "parse") {
		t.Fatalf("bad json: %v", err)
	}
}

func TestValidateID(t *testing.T) {
	for _, id := range []string{"a", "abc-123", "A.b_c+d", "9", strings.Repeat("x", 1024)} {
		if err := ValidateID(id); err != nil {
			t.Errorf("%q: %v", id, err)
		}
	}
	for _, id := range []string{"", ".", "..", "../x", "a/b", "-x", "+x", "a b", "a\x00b", ".hidden", "a:b", strings.Repeat("x", 1025)} {
		if err := ValidateID(id); err == nil {
			t.Errorf("%q accepted", id)
		}
	}
}

func TestParseSignal(t *testing.T) {
	for in, want := range map[string]unix.Signal{"KILL": unix.SIGKILL, "SIGTERM": unix.SIGTERM, "9": unix.SIGKILL, "hup": unix.SIGHUP, "SIGRTMIN+1": 0} {
		got, err := ParseSignal(in)
		if want == 0 {
			continue // realtime names are not required
		}
		if err != nil || got != want {
			t.Errorf("%q: got %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"NOPE", "0", "-1", "65", ""} {
		if _, err := ParseSignal(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}
