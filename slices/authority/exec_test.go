package authority

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"pcr/slices/api"
)

// fakeNode answers each exec job it is handed, as a node manager would,
// with the command echoed and the node's name.
func fakeNode(t *testing.T, node *api.Client, name string) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	answered := map[string]bool{}
	go func() {
		defer close(done)
		node.Watch(ctx, name, func(a *api.Assignment) error {
			for _, j := range a.Exec {
				if answered[j.ID] {
					continue
				}
				answered[j.ID] = true
				res := api.ExecResult{Node: name, ExitCode: 3, Stdout: strings.Join(j.Cmd, " ") + " on " + name, Stderr: j.Slice}
				if err := node.PostExecResult(ctx, name, j.ID, res); err != nil && ctx.Err() == nil {
					t.Errorf("%s: post result: %v", name, err)
				}
			}
			return nil
		})
	}()
}

func TestExecRoundTrip(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	s := setupSite(h)
	ctx := t.Context()
	if _, err := s.alice.CreateSlice(ctx, api.CreateSlice{Name: "pl_a", Image: "busybox", Nodes: []string{"n2", "n1"}, Owners: []string{"bob"}}); err != nil {
		t.Fatal(err)
	}
	fakeNode(t, s.n1, "n1")

	res, err := s.bob.Exec(ctx, "pl_a", api.ExecRequest{Node: "n1", Cmd: []string{"echo", "hi"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].Node != "n1" || res[0].Stdout != "echo hi on n1" || res[0].Stderr != "pl_a" || res[0].ExitCode != 3 {
		t.Fatalf("exec on n1: %+v", res)
	}

	// n2 runs no node manager: its row says so, in the slice's order.
	h.clock.Add(12 * time.Second)
	start := time.Now()
	res, err = s.bob.Exec(ctx, "pl_a", api.ExecRequest{All: true, Cmd: []string{"uptime"}, Timeout: 1})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < time.Second || took > 3*time.Second {
		t.Errorf("exec with a silent node took %s, want about its 1s timeout", took)
	}
	if len(res) != 2 || res[0].Node != "n2" || res[1].Node != "n1" {
		t.Fatalf("results %+v, want n2 then n1", res)
	}
	if want := "node n2 did not answer within 1s (last seen 12s ago)"; res[0].Error != want {
		t.Errorf("silent node: %q, want %q", res[0].Error, want)
	}
	if res[1].Stdout != "uptime on n1" || res[1].Error != "" {
		t.Errorf("n1: %+v", res[1])
	}
	// The job n2 never took is withdrawn, so a late n2 does not run it.
	if a, err := s.n2.Assignment(ctx, "n2"); err != nil || len(a.Exec) != 0 {
		t.Fatalf("n2's jobs after the deadline: %+v %v", a.Exec, err)
	}

	_, err = s.eve.Exec(ctx, "pl_a", api.ExecRequest{All: true, Cmd: []string{"id"}})
	wantRefusal(t, "exec by a non-owner", err, http.StatusForbidden, "user eve may not act on slice pl_a")
	_, err = s.bob.Exec(ctx, "pl_a", api.ExecRequest{Node: "n4", Cmd: []string{"id"}})
	wantRefusal(t, "exec on a node outside the slice", err, http.StatusBadRequest, "node n4 is not in the slice")
	_, err = s.bob.Exec(ctx, "pl_a", api.ExecRequest{All: true, Cmd: []string{"id"}, Timeout: 900})
	wantRefusal(t, "exec with a long timeout", err, http.StatusBadRequest, "timeout 900s out of range (1 to 600)")
	for _, secs := range []int{9223372037, 18446744074, -1} {
		_, err = s.bob.Exec(ctx, "pl_a", api.ExecRequest{All: true, Cmd: []string{"id"}, Timeout: secs})
		wantRefusal(t, "exec with a timeout past time.Duration", err, http.StatusBadRequest, fmt.Sprintf("timeout %ds out of range (1 to 600)", secs))
	}
	_, err = s.bob.Exec(ctx, "pl_a", api.ExecRequest{Cmd: []string{"id"}})
	wantRefusal(t, "exec on no node", err, http.StatusBadRequest, "name a node or all")
	_, err = s.bob.Exec(ctx, "pl_a", api.ExecRequest{All: true})
	wantRefusal(t, "exec of nothing", err, http.StatusBadRequest, "no command")
}

func TestExecOutputOverTheStoreLimitIsCutNotLost(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	s := setupSite(h)
	ctx := t.Context()
	if _, err := s.alice.CreateSlice(ctx, api.CreateSlice{Name: "pl_a", Image: "busybox", Nodes: []string{"n1"}, Owners: []string{"bob"}}); err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", api.MaxExecOutput)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	posted := make(chan error, 2)
	answered := map[string]bool{}
	go s.n1.Watch(wctx, "n1", func(a *api.Assignment) error {
		for _, j := range a.Exec {
			if answered[j.ID] {
				continue
			}
			answered[j.ID] = true
			// Too large even without output: refused, the job stays.
			posted <- s.n1.PostExecResult(wctx, "n1", j.ID, api.ExecResult{Error: big + big})
			posted <- s.n1.PostExecResult(wctx, "n1", j.ID, api.ExecResult{ExitCode: 1, Stdout: big, Stderr: big})
			return nil
		}
		return nil
	})
	res, err := s.bob.Exec(ctx, "pl_a", api.ExecRequest{Node: "n1", Cmd: []string{"yes"}, Timeout: 5})
	if err != nil {
		t.Fatal(err)
	}
	wantRefusal(t, "a result too large to store", <-posted, http.StatusRequestEntityTooLarge, "too large to store even without its output")
	if err := <-posted; err != nil {
		t.Fatalf("the node's post of 2 MiB of output: %v", err)
	}
	if len(res) != 1 || res[0].Error != "" || res[0].ExitCode != 1 {
		t.Fatalf("exec result: %d rows, error %q", len(res), res[0].Error)
	}
	out, errOut := cutAt(t, "stdout", res[0].Stdout, big), cutAt(t, "stderr", res[0].Stderr, big)
	if out+errOut > maxStoredResult || out+errOut < maxStoredResult-4096 {
		t.Errorf("kept %d + %d bytes of output, want just under %d", out, errOut, maxStoredResult)
	}
}
