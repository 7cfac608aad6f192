package nsenter

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestEnv(t *testing.T) {
	env, err := Env([]Join{{"mnt", "/proc/1/ns/mnt"}, {"user", "/run/ns/user"}}, unix.CLONE_NEWUTS|unix.CLONE_NEWIPC, 3)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"_PCR_NSENTER=mnt:/proc/1/ns/mnt,user:/run/ns/user",
		"_PCR_UNSHARE=201326592",
		"_PCR_SYNCFD=3",
	}
	if strings.Join(env, "\n") != strings.Join(want, "\n") {
		t.Errorf("Env = %q, want %q", env, want)
	}

	env, err = Env(nil, unix.CLONE_NEWNS, -1)
	if err != nil || len(env) != 1 || env[0] != "_PCR_UNSHARE=131072" {
		t.Errorf("Env(unshare only, no sync fd) = %q, %v", env, err)
	}
	if env, err := Env(nil, 0, 3); env != nil || err != nil {
		t.Errorf("Env(nothing) = %q, %v; want nil, nil so callers add nothing", env, err)
	}
}

func TestEnvRejects(t *testing.T) {
	for _, tc := range []struct {
		name  string
		joins []Join
		flags uintptr
		want  string
	}{
		{"unknown type", []Join{{"mount", "/x"}}, 0, "unknown namespace type"},
		{"duplicate", []Join{{"net", "/a"}, {"net", "/b"}}, 0, "given twice"},
		{"comma in path", []Join{{"net", "/a,b"}}, 0, "without commas"},
		{"empty path", []Join{{"net", ""}}, 0, "non-empty"},
		{"new user ns", nil, unix.CLONE_NEWUSER | unix.CLONE_NEWNS, "created by the parent"},
		{"not a namespace flag", nil, unix.CLONE_VM, "only CLONE_NEW"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Env(tc.joins, tc.flags, 3)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Env(%v, %#x) error = %v, want one containing %q", tc.joins, tc.flags, err, tc.want)
			}
		})
	}
}

func TestParseMessage(t *testing.T) {
	m, err := ParseMessage([]byte(`{"type":"pid","pid":42}` + "\n"))
	if err != nil || m.Type != "pid" || m.Pid != 42 {
		t.Errorf("pid line = %+v, %v", m, err)
	}
	m, err = ParseMessage([]byte(`{"type":"error","error":"nsenter: open mnt /a\"b\\c: No such file or directory"}`))
	if err != nil || m.Error != `nsenter: open mnt /a"b\c: No such file or directory` {
		t.Errorf("error line = %+v, %v", m, err)
	}
	for _, bad := range []string{`{"type":"pid"}`, `{"type":"ready"}`, `not json`} {
		if _, err := ParseMessage([]byte(bad)); err == nil {
			t.Errorf("ParseMessage(%s) succeeded, want error", bad)
		}
	}
}
