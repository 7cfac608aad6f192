package engine

import (
	"math"
	"slices"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"pcr/engine/internal/monitor"
)

func TestParseUlimit(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want specs.POSIXRlimit
	}{
		{"nofile=512:1024", specs.POSIXRlimit{Type: "RLIMIT_NOFILE", Soft: 512, Hard: 1024}},
		{"nproc=512", specs.POSIXRlimit{Type: "RLIMIT_NPROC", Soft: 512, Hard: 512}},
		{"core=0", specs.POSIXRlimit{Type: "RLIMIT_CORE"}},
		{"as=-1", specs.POSIXRlimit{Type: "RLIMIT_AS", Soft: math.MaxUint64, Hard: math.MaxUint64}},
		{"stack=8192:unlimited", specs.POSIXRlimit{Type: "RLIMIT_STACK", Soft: 8192, Hard: math.MaxUint64}},
		{"rttime=1:-1", specs.POSIXRlimit{Type: "RLIMIT_RTTIME", Soft: 1, Hard: math.MaxUint64}},
	} {
		got, err := ParseUlimit(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseUlimit(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	for _, name := range []string{"core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile",
		"nproc", "rss", "rtprio", "rttime", "sigpending", "stack", "as"} {
		if rl, err := ParseUlimit(name + "=1"); err != nil || rl.Type != "RLIMIT_"+strings.ToUpper(name) {
			t.Errorf("Docker's name %s: %+v, %v", name, rl, err)
		}
	}
	for _, tc := range []struct{ in, msg string }{
		{"nofile", "want NAME=SOFT[:HARD]"},
		{"=5", "want NAME=SOFT[:HARD]"},
		{"files=5", `unknown name "files"`},
		{"NOFILE=5", `unknown name "NOFILE"`},
		{"nofile=-2", "negative"},
		{"nofile=1:-5", "negative"},
		{"nofile=2048:1024", "soft limit must not exceed the hard limit"},
		{"nofile=unlimited:1024", "soft limit must not exceed the hard limit"},
		{"nofile=abc", "not a number"},
		{"nofile=", "not a number"},
		{"nofile=1:2:3", "at most two values"},
		{"nofile=1.5", "not a number"},
	} {
		_, err := ParseUlimit(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.msg) || strings.Contains(err.Error(), "\n") {
			t.Errorf("ParseUlimit(%q): err = %v, want one line with %q", tc.in, err, tc.msg)
		}
	}
}

func TestBuildSpecUlimits(t *testing.T) {
	in := testInput(t, ocispec.ImageConfig{Cmd: []string{"sh"}})
	s, err := buildSpec(in, &Options{Ulimits: []string{"nofile=10:20", "nproc=5", "nofile=30:40"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []specs.POSIXRlimit{{Type: "RLIMIT_NPROC", Soft: 5, Hard: 5}, {Type: "RLIMIT_NOFILE", Soft: 30, Hard: 40}}
	if !slices.Equal(s.Process.Rlimits, want) {
		t.Errorf("rlimits %+v, want %+v (the last nofile wins)", s.Process.Rlimits, want)
	}
	s, err = buildSpec(in, &Options{})
	if err != nil || len(s.Process.Rlimits) != 0 {
		t.Errorf("no --ulimit: rlimits %+v (%v), want none (pcr's own are inherited)", s.Process.Rlimits, err)
	}
	if _, err := buildSpec(in, &Options{Ulimits: []string{"nofile=9:1"}}); err == nil {
		t.Error("a bad --ulimit built a spec")
	}
}

func TestBuildSpecIdleInit(t *testing.T) {
	// No CMD in the image and none given: IdleInit runs nothing anyway.
	in := testInput(t, ocispec.ImageConfig{})
	for _, o := range []Options{{IdleInit: true}, {IdleInit: true, Init: true, Cmd: []string{"ignored"}}} {
		s, err := buildSpec(in, &o)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(s.Process.Args, []string{monitor.InitPath, monitor.IdleArg}) || !slices.Contains(s.Process.Env, monitor.InitEnv+"=1") {
			t.Errorf("%+v: args %v env %v", o, s.Process.Args, s.Process.Env)
		}
		n := 0
		for _, m := range s.Mounts {
			if m.Destination == monitor.InitPath && m.Type == "bind" && slices.Contains(m.Options, "ro") {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%+v: %d read-only binds on %s, want 1", o, n, monitor.InitPath)
		}
	}
}

func TestBuildSpecNetRate(t *testing.T) {
	in := testInput(t, ocispec.ImageConfig{Cmd: []string{"sh"}})
	if _, err := buildSpec(in, &Options{Network: NetBridge, NetRate: 1 << 20}); err != nil {
		t.Errorf("a bridged rate: %v", err)
	}
	for _, o := range []Options{
		{Network: NetBridge, NetRate: -1},
		{Network: NetBridge, NetRate: 10},
		{Network: NetHost, NetRate: 1 << 20},
		{Network: NetNone, NetRate: 1 << 20},
		{Network: "container:other", NetRate: 1 << 20},
	} {
		if _, err := buildSpec(in, &o); err == nil {
			t.Errorf("net %s rate %d: built a spec", o.Network, o.NetRate)
		}
	}
}
