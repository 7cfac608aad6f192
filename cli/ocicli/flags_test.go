package ocicli

import (
	"reflect"
	"testing"
	"time"
)

func testFlags() []flag {
	return []flag{
		{names: []string{"bundle", "b"}, kind: stringFlag, value: "."},
		{names: []string{"detach", "d"}, kind: boolFlag},
		{names: []string{"preserve-fds"}, kind: intFlag},
		{names: []string{"interval"}, kind: durationFlag, value: "5s"},
		{names: []string{"env", "e"}, kind: listFlag},
		{names: []string{"root"}, kind: stringFlag, value: "/run/x", env: "PCR_TEST_ROOT"},
	}
}

func TestParseFlagsForms(t *testing.T) {
	v, rest, err := parseFlags(testFlags(), []string{
		"--bundle", "/b", "-d", "--preserve-fds=2", "-interval", "250ms", "-e", "A=1", "--env=B=2,3", "id", "--detach=false", "x",
	})
	if err != nil {
		t.Fatal(err)
	}
	if v.String("bundle") != "/b" || !v.Bool("detach") || v.Int("preserve-fds") != 2 || v.Duration("interval") != 250*time.Millisecond {
		t.Errorf("parsed bundle %q detach %v preserve-fds %d interval %v", v.String("bundle"), v.Bool("detach"), v.Int("preserve-fds"), v.Duration("interval"))
	}
	if got := v.List("env"); !reflect.DeepEqual(got, []string{"A=1", "B=2,3"}) {
		t.Errorf("env %q: a repeatable flag keeps each value whole, in order", got)
	}
	// Flags stop at the first argument, as runc's do: what follows is the payload's.
	if !reflect.DeepEqual(rest, []string{"id", "--detach=false", "x"}) {
		t.Errorf("rest %q", rest)
	}
	if !v.IsSet("bundle") || v.IsSet("root") {
		t.Errorf("IsSet: bundle %v root %v", v.IsSet("bundle"), v.IsSet("root"))
	}
}

func TestBoolFlagFromTheEnvironment(t *testing.T) {
	flags := []flag{{names: []string{"debug"}, kind: boolFlag, env: "PCR_TEST_TRACE"}}
	for env, want := range map[string]bool{"1": true, "true": true, "0": false, "no": false, "": false} {
		t.Setenv("PCR_TEST_TRACE", env)
		if v, _, _ := parseFlags(flags, nil); v.Bool("debug") != want {
			t.Errorf("PCR_TEST_TRACE=%q: debug %v, want %v", env, v.Bool("debug"), want)
		}
	}
}

func TestParseFlagsDefaultsAndEnv(t *testing.T) {
	t.Setenv("PCR_TEST_ROOT", "/from/env")
	v, rest, err := parseFlags(testFlags(), []string{"--", "-d"})
	if err != nil {
		t.Fatal(err)
	}
	if v.String("bundle") != "." || v.Bool("detach") || v.Duration("interval") != 5*time.Second || v.String("root") != "/from/env" {
		t.Errorf("defaults: bundle %q detach %v interval %v root %q", v.String("bundle"), v.Bool("detach"), v.Duration("interval"), v.String("root"))
	}
	if !reflect.DeepEqual(rest, []string{"-d"}) {
		t.Errorf("after --: rest %q, want [-d]", rest)
	}
	// The command line wins over the environment.
	if v, _, _ := parseFlags(testFlags(), []string{"--root", "/flag"}); v.String("root") != "/flag" {
		t.Errorf("root %q, want the flag's /flag", v.String("root"))
	}
	// A lone "-" is an argument (stdin, by convention), not a flag.
	if _, rest, err := parseFlags(testFlags(), []string{"-", "x"}); err != nil || !reflect.DeepEqual(rest, []string{"-", "x"}) {
		t.Errorf(`"-": rest %q err %v`, rest, err)
	}
}
