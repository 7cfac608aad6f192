package authority

import (
	"encoding/json"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"pcr/slices/api"
)

// cutAt checks that s is a prefix of full followed by the cut marker,
// and returns where it was cut.
func cutAt(t *testing.T, what, s, full string) int {
	t.Helper()
	m := regexp.MustCompile(`\n\[output cut at (\d+) bytes\]$`).FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("%s: no cut marker at the end of %d bytes", what, len(s))
	}
	n, _ := strconv.Atoi(m[1])
	if kept := strings.TrimSuffix(s, m[0]); kept != full[:n] || n == 0 {
		t.Fatalf("%s: kept %d bytes that are not the first %d of the output", what, len(kept), n)
	}
	return n
}

func TestFitResultKeepsStoredResultsUnderTheLimit(t *testing.T) {
	small := api.ExecResult{Node: "n1", ExitCode: 2, Stdout: "hi\n", Stderr: "oops\n"}
	if got, err := fitResult(small, maxStoredResult); err != nil || got != small {
		t.Fatalf("a small result changed: %+v %v", got, err)
	}
	big := strings.Repeat("x", api.MaxExecOutput)
	escaped := strings.Repeat("<\x01", api.MaxExecOutput/2) // 12 bytes of JSON per 2 of output
	invalid := strings.Repeat("\xff", api.MaxExecOutput)
	for _, c := range []struct {
		name           string
		stdout, stderr string
		cutOut, cutErr bool
	}{
		{"big stdout, short stderr", big + big, "warning\n", true, false},
		{"both big", big, big, true, true},
		{"output that JSON escapes", escaped, escaped, true, true},
		{"invalid UTF-8", invalid, "", true, false},
	} {
		got, err := fitResult(api.ExecResult{Node: "n1", Stdout: c.stdout, Stderr: c.stderr}, maxStoredResult)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		b, _ := json.Marshal(got)
		if len(b) > maxStoredResult {
			t.Errorf("%s: stored result takes %d bytes, over %d", c.name, len(b), maxStoredResult)
		}
		if c.cutOut {
			n := cutAt(t, c.name+" stdout", got.Stdout, c.stdout)
			t.Logf("%s: stdout cut at %d bytes, %d bytes of JSON in all", c.name, n, len(b))
		} else if got.Stdout != c.stdout {
			t.Errorf("%s: stdout changed", c.name)
		}
		if c.cutErr {
			cutAt(t, c.name+" stderr", got.Stderr, c.stderr)
		} else if got.Stderr != c.stderr {
			t.Errorf("%s: stderr changed to %q", c.name, got.Stderr)
		}
		// The room the streams share is used, not wasted.
		if len(b) < maxStoredResult-4*markerRoom {
			t.Errorf("%s: only %d bytes of %d used", c.name, len(b), maxStoredResult)
		}
	}
	_, err := fitResult(api.ExecResult{Node: "n1", Error: big + big, Stdout: "x"}, maxStoredResult)
	if !errors.Is(err, errUnstorable) {
		t.Fatalf("a 2 MiB error line: %v, want errUnstorable", err)
	}
}
