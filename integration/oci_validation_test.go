package integration

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestOCIValidationAllowlist runs the OCI runtime-tools validation cases that
// hack/oci-validation/allowlist.txt says pcr passes, through the same script
// `make test-oci-validation` uses; a listed case that fails fails this test.
func TestOCIValidationAllowlist(t *testing.T) {
	requirePrereqs(t)
	script, err := filepath.Abs(filepath.Join("..", "hack", "oci-validation", "run.sh"))
	if err != nil {
		t.Fatal(err)
	}
	// The suite only recognises the runtime by its argv[0]: pcr-oci.
	dir := t.TempDir()
	runtimeBin := filepath.Join(dir, "pcr-oci")
	if err := os.Symlink(pcrBin, runtimeBin); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Second)
	defer cancel()
	run := func(env ...string) (string, error) {
		cmd := exec.CommandContext(ctx, script)
		cmd.Env = append(os.Environ(), append([]string{"RUNTIME_BIN=" + runtimeBin}, env...)...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		cmd.WaitDelay = 10 * time.Second
		err := cmd.Run()
		return out.String(), err
	}

	// Building needs the Go toolchain and the module proxy; outside CI a
	// machine without them skips, under CI it is a broken CI.
	if out, err := run("BUILD_ONLY=1"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("build the validation suite: %v\n%s", err, out)
		}
		t.Skipf("cannot build the OCI validation suite (set CI=true to make this a failure): %v\n%s", err, lastLines(out, 10))
	}

	listed, whole := allowlistedCases(t, filepath.Join(filepath.Dir(script), "allowlist.txt"))
	if len(listed) == 0 {
		t.Fatal("allowlist.txt lists no case")
	}
	out, err := run("ONLY_ALLOWLISTED=1", "CASE_TIMEOUT=30")
	if err != nil && ctx.Err() == nil {
		// Known, not yet understood: now and then a case's in-container
		// checker prints nothing (about 1 in 30 runs). One retry keeps CI
		// honest about real regressions, which fail twice; the first
		// failure stays in the log for whoever chases it.
		t.Logf("first validation run failed, retrying once:\n%s", lastLines(out, 40))
		out, err = run("ONLY_ALLOWLISTED=1", "CASE_TIMEOUT=30")
	}
	if ctx.Err() != nil {
		t.Fatalf("validation run timed out\n%s", out)
	}
	if err != nil {
		t.Fatalf("allowlisted OCI validation cases fail: %v\n%s", err, out)
	}
	// A script that ran nothing would also exit 0.
	m := regexp.MustCompile(`running (\d+) cases`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no 'running N cases' line in the output:\n%s", out)
	}
	if n, _ := strconv.Atoi(m[1]); n != len(listed) {
		t.Fatalf("ran %s cases, allowlist has %d:\n%s", m[1], len(listed), out)
	}
	for _, c := range whole {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(c) + `\s+pass\s`).MatchString(out) {
			t.Errorf("case %s not reported as pass:\n%s", c, out)
		}
	}
	if !strings.Contains(out, "PASS: every allowlisted case passes") {
		t.Fatalf("no PASS line:\n%s", out)
	}
}

// allowlistedCases returns the distinct case names allowlist.txt names,
// whole or through one of their subtests, and those it names whole.
func allowlistedCases(t *testing.T, path string) (cases, whole []string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(string(data), "\n") {
		line, _, _ = strings.Cut(line, "#")
		name, _, sub := strings.Cut(strings.TrimSpace(line), ":")
		if name == "" {
			continue
		}
		if !sub {
			whole = append(whole, name)
		}
		if !seen[name] {
			seen[name] = true
			cases = append(cases, name)
		}
	}
	return cases, whole
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
