package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"pcr/slices/api"
)

func TestExecExitCode(t *testing.T) {
	ok := func(n string) api.ExecResult { return api.ExecResult{Node: n} }
	exit := func(n string, code int) api.ExecResult { return api.ExecResult{Node: n, ExitCode: code} }
	failed := func(n string) api.ExecResult { return api.ExecResult{Node: n, Error: "node did not answer"} }
	for _, tc := range []struct {
		name    string
		results []api.ExecResult
		want    int
	}{
		{"all zero", []api.ExecResult{ok("n1"), ok("n2")}, 0},
		{"first non-zero in node order", []api.ExecResult{ok("n1"), exit("n2", 3), exit("n3", 5)}, 3},
		{"a node did not run it", []api.ExecResult{ok("n1"), failed("n2")}, 1},
		{"a status beats a node that did not run it", []api.ExecResult{failed("n1"), exit("n2", 4)}, 4},
		{"no result at all", nil, 1},
	} {
		if got := execExitCode(tc.results); got != tc.want {
			t.Errorf("%s: exit %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestExecOutputPrefixedPerNodeInOrder(t *testing.T) {
	var out, errb bytes.Buffer
	printExecResults(&out, &errb, []api.ExecResult{
		{Node: "n2", Stdout: "a\nb\n", Stderr: "warn"},
		{Node: "n1", Stdout: "c\n\nd"},
		{Node: "n3", Error: "node n3 unreachable"},
	})
	if want := "n2: a\nn2: b\nn1: c\nn1: \nn1: d\n"; out.String() != want {
		t.Errorf("stdout %q, want %q", out.String(), want)
	}
	if want := "n2: warn\nn3: error: node n3 unreachable\n"; errb.String() != want {
		t.Errorf("stderr %q, want %q", errb.String(), want)
	}
}

func TestStatusTableShowsUnreachableNodes(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	var out bytes.Buffer
	err := renderStatusTable(&out, []api.SliverRow{
		{Node: "n1", State: "running", Address: "10.9.0.2", LastSeen: now.Add(-4 * time.Second),
			Usage: &api.Usage{CPUSeconds: 1.5, MemoryBytes: 64 << 20, MemoryLimit: 256 << 20, DiskBytes: 1 << 20}},
		{Node: "n2", State: api.HealthUnreachable, LastSeen: now.Add(-5 * time.Minute)},
		{Node: "n3", State: "pending"},
		{Node: "n4", State: "refused", Reason: "policy: site evil is denied", LastSeen: now.Add(-2 * time.Hour)},
	}, now)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	if len(lines) != 5 {
		t.Fatalf("want a header and 4 rows, got:\n%s", out.String())
	}
	if f := strings.Fields(lines[0]); strings.Join(f, " ") != "NODE STATE ADDRESS CPU MEMORY DISK LAST-SEEN REASON" {
		t.Errorf("header %q", lines[0])
	}
	for i, want := range []string{
		"n1 running 10.9.0.2 1.50s 64MiB / 256MiB 1MiB / unlimited 4s ago -",
		"n2 unreachable - - - - 5m ago node not seen for 5m",
		"n3 pending - - - - never -",
		"n4 refused - - - - 2h ago policy: site evil is denied",
	} {
		if got := strings.Join(strings.Fields(lines[i+1]), " "); got != want {
			t.Errorf("row %d:\n got %q\nwant %q", i+1, got, want)
		}
	}
}

func TestNodeTableCountsVservers(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	var out bytes.Buffer
	err := renderNodeTable(&out, []api.Node{
		{Name: "n1", Health: api.HealthUp, Address: "192.0.2.1", LastSeen: now.Add(-3 * time.Second),
			Capacity: api.Capacity{CPUs: 4, Memory: 8 << 30}, Vservers: map[string]int{"running": 2, "refused": 1}, Policy: "max_vservers=10"},
		{Name: "n2", Health: api.HealthNotJoined},
	}, now)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	for i, want := range []string{
		"NAME HEALTH ADDRESS LAST-SEEN CPUS MEMORY VSERVERS POLICY",
		"n1 up 192.0.2.1 3s ago 4 8GiB 3 max_vservers=10",
		"n2 not joined - never - - 0 -",
	} {
		if i >= len(lines) {
			t.Fatalf("missing line %d in:\n%s", i, out.String())
		}
		if got := strings.Join(strings.Fields(lines[i]), " "); got != want {
			t.Errorf("line %d:\n got %q\nwant %q", i, got, want)
		}
	}
}

func TestShortListKeepsRowsShort(t *testing.T) {
	for in, want := range map[string]string{"": "-", "a": "a", "a,b,c": "a,b,c", "a,b,c,d,e": "a,b,c,+2 more"} {
		if got := shortList(splitList(in)); got != want {
			t.Errorf("shortList(%q) = %q, want %q", in, got, want)
		}
	}
}
