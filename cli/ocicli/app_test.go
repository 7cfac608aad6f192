package ocicli

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// testApp is the runtime's command line writing into buffers.
func testApp() (*App, *bytes.Buffer, *bytes.Buffer) {
	var out, errOut bytes.Buffer
	return &App{Name: "pcr-oci", Version: "1.2.3", Stdout: &out, Stderr: &errOut}, &out, &errOut
}

func TestVersionReadsLikeRunc(t *testing.T) {
	want := "pcr-oci version 1.2.3\nspec: " + specs.Version + "\n"
	for _, args := range [][]string{{"--version"}, {"-v"}} {
		app, out, _ := testApp()
		if code := app.Main(args, 1); code != 0 {
			t.Fatalf("pcr-oci %v: status %d", args, code)
		}
		if out.String() != want {
			t.Errorf("pcr-oci %v printed %q, want %q", args, out.String(), want)
		}
	}
	// `pcr oci --version` inside the engine's binary says the same.
	app, out, _ := testApp()
	app.Name = "pcr oci"
	if code := app.Main([]string{"--version"}, 125); code != 0 || out.String() != want {
		t.Errorf("pcr oci --version: status %d, printed %q, want %q", code, out.String(), want)
	}
}

func TestFailureStatusAndLog(t *testing.T) {
	root := t.TempDir()
	logPath := filepath.Join(t.TempDir(), "log.json")
	app, _, errOut := testApp()
	args := []string{"--root", root, "--log", logPath, "--log-format", "json", "state", "nosuch"}
	if code := app.Main(args, 1); code != 1 {
		t.Fatalf("state of a missing container: status %d, want 1", code)
	}
	if lines := strings.Split(strings.TrimSpace(errOut.String()), "\n"); len(lines) != 1 || !strings.Contains(lines[0], "nosuch") {
		t.Errorf("stderr %q, want one line naming the container", errOut.String())
	}
	data, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"level":"error"`) || !strings.Contains(string(data), "nosuch") {
		t.Errorf("--log has %q, want a json error line naming the container", data)
	}

	// A verb this runtime lacks (podman's update, checkpoint) is logged too.
	app, _, _ = testApp()
	if code := app.Main([]string{"--root", root, "--log", logPath, "--log-format", "json", "checkpoint", "x"}, 1); code != 1 {
		t.Fatalf("checkpoint: status %d, want 1", code)
	}
	if data, _ := os.ReadFile(logPath); !strings.Contains(string(data), `no command \"checkpoint\"`) {
		t.Errorf("--log has %q, want the unknown verb's error", data)
	}

	// The failure status is the caller's: pcr's engine convention is 125.
	app, _, errOut = testApp()
	if code := app.Main([]string{"--root", root, "--systemd-cgroup", "list"}, 125); code != 125 {
		t.Errorf("--systemd-cgroup: status %d, want 125", code)
	}
	if !strings.Contains(errOut.String(), "--systemd-cgroup is not supported") {
		t.Errorf("--systemd-cgroup: stderr %q", errOut.String())
	}
}

func TestDeleteForceOfMissingContainerSucceeds(t *testing.T) {
	root := t.TempDir()
	app, _, _ := testApp()
	if code := app.Main([]string{"--root", root, "delete", "--force", "nosuch"}, 1); code != 0 {
		t.Errorf("delete --force of a missing container: status %d, want 0 as runc", code)
	}
	if code := app.Main([]string{"--root", root, "delete", "-f", "nosuch"}, 1); code != 0 {
		t.Errorf("delete -f of a missing container: status %d, want 0 as runc", code)
	}
	if code := app.Main([]string{"--root", root, "delete", "nosuch"}, 1); code != 1 {
		t.Errorf("delete of a missing container: status %d, want 1", code)
	}
}

func TestBadCommandLinesFailWithOneLine(t *testing.T) {
	root := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"frobnicate"}, `no command "frobnicate"`},
		{[]string{"--nosuch", "list"}, "flag provided but not defined: --nosuch"},
		{[]string{"--root"}, "flag needs an argument: --root"},
		{[]string{"--root", root, "create", "--bundle"}, "create: flag needs an argument: --bundle"},
		{[]string{"--root", root, "create", "--preserve-fds", "two", "x"}, `"two" is not an integer`},
		{[]string{"--root", root, "events", "--interval", "soon", "x"}, `"soon" is not a duration`},
		{[]string{"--root", root, "delete", "--force=maybe", "x"}, `"maybe" is not true or false`},
		{[]string{"--root", root, "state"}, "state: a container id is required (see 'pcr-oci state --help')"},
		{[]string{"--root", root, "state", "a", "b"}, "expected one container id, got 2 arguments"},
		{[]string{"--root", root, "kill"}, "kill: usage: kill ID [SIGNAL]"},
		{[]string{"--root", root, "--log-format", "xml", "list"}, `--log-format "xml"`},
		{[]string{"help", "frobnicate"}, `help: no command "frobnicate"`},
	} {
		app, out, errOut := testApp()
		if code := app.Main(tc.args, 1); code != 1 {
			t.Errorf("%v: status %d, want 1", tc.args, code)
		}
		msg := errOut.String()
		if strings.Count(msg, "\n") != 1 || !strings.HasPrefix(msg, "pcr: ") || !strings.Contains(msg, tc.want) {
			t.Errorf("%v: stderr %q, want one line with %q", tc.args, msg, tc.want)
		}
		if out.Len() != 0 {
			t.Errorf("%v: wrote %q to stdout", tc.args, out.String())
		}
	}
}

func TestHelpListsVerbsAndFlags(t *testing.T) {
	for _, args := range [][]string{nil, {"--help"}, {"-h"}, {"help"}} {
		app, out, _ := testApp()
		if code := app.Main(args, 1); code != 0 {
			t.Fatalf("pcr-oci %v: status %d", args, code)
		}
		for _, want := range []string{"USAGE:", "create", "exec", "features", "--root value", "[$PCR_OCI_ROOT]", "(default: /run/pcr/oci)"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("pcr-oci %v: help lacks %q:\n%s", args, want, out.String())
			}
		}
		if strings.Contains(out.String(), "--criu") {
			t.Errorf("pcr-oci %v: help shows the hidden --criu", args)
		}
	}
	for _, args := range [][]string{{"exec", "--help"}, {"help", "exec"}, {"exec", "-h", "x"}} {
		app, out, _ := testApp()
		if code := app.Main(args, 1); code != 0 {
			t.Fatalf("pcr-oci %v: status %d", args, code)
		}
		for _, want := range []string{"pcr-oci exec [command options] ID [--] COMMAND [ARG...]", "--process, -p value", "--env, -e value"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("pcr-oci %v: help lacks %q:\n%s", args, want, out.String())
			}
		}
	}
}

func TestPayloadStatusIsTheExitStatus(t *testing.T) {
	for _, err := range []error{ExitStatus(7), fmt.Errorf("run: %w", ExitStatus(7))} {
		if code, ok := ExitCode(err); !ok || code != 7 {
			t.Errorf("ExitCode(%v) = %d, %v; want 7", err, code, ok)
		}
	}
	if _, ok := ExitCode(errors.New("exit status 7")); ok {
		t.Error("a plain error read as a payload status")
	}
}
