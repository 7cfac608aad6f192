package ocicli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	ucli "github.com/urfave/cli/v2"
)

func TestVersionReadsLikeRunc(t *testing.T) {
	want := "pcr-oci version 1.2.3\nspec: " + specs.Version + "\n"

	var out bytes.Buffer
	app := NewApp("1.2.3")
	app.Writer = &out
	if code := RunApp(app, []string{"pcr-oci", "--version"}, 1); code != 0 {
		t.Fatalf("pcr-oci --version: status %d", code)
	}
	if out.String() != want {
		t.Errorf("pcr-oci --version printed %q, want %q", out.String(), want)
	}

	// `pcr oci --version` inside the engine's binary says the same.
	out.Reset()
	pcr := &ucli.App{Name: "pcr", Writer: &out, Commands: []*ucli.Command{Command("1.2.3")}}
	if code := RunApp(pcr, []string{"pcr", "oci", "--version"}, 125); code != 0 {
		t.Fatalf("pcr oci --version: status %d", code)
	}
	if out.String() != want {
		t.Errorf("pcr oci --version printed %q, want %q", out.String(), want)
	}
}

func TestFailureStatusAndLog(t *testing.T) {
	root := t.TempDir()
	logPath := filepath.Join(t.TempDir(), "log.json")
	args := []string{"pcr-oci", "--root", root, "--log", logPath, "--log-format", "json", "state", "nosuch"}
	if code := RunApp(NewApp("t"), args, 1); code != 1 {
		t.Fatalf("state of a missing container: status %d, want 1", code)
	}
	data, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"level":"error"`) || !strings.Contains(string(data), "nosuch") {
		t.Errorf("--log has %q, want a json error line naming the container", data)
	}

	// The failure status is the caller's: pcr's engine convention is 125.
	if code := RunApp(NewApp("t"), []string{"pcr-oci", "--root", root, "--systemd-cgroup", "list"}, 125); code != 125 {
		t.Errorf("--systemd-cgroup: status %d, want 125", code)
	}
}

func TestDeleteForceOfMissingContainerSucceeds(t *testing.T) {
	root := t.TempDir()
	if code := RunApp(NewApp("t"), []string{"pcr-oci", "--root", root, "delete", "--force", "nosuch"}, 1); code != 0 {
		t.Errorf("delete --force of a missing container: status %d, want 0 as runc", code)
	}
	if code := RunApp(NewApp("t"), []string{"pcr-oci", "--root", root, "delete", "nosuch"}, 1); code != 1 {
		t.Errorf("delete of a missing container: status %d, want 1", code)
	}
}

func TestPayloadStatusIsTheExitStatus(t *testing.T) {
	app := &ucli.App{Name: "x", Action: func(*ucli.Context) error { return ExitStatus(7) }}
	if code := RunApp(app, []string{"x"}, 1); code != 7 {
		t.Errorf("an action ending with the payload's status 7: exit %d", code)
	}
}
