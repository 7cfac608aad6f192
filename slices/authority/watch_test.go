package authority

import (
	"context"
	"net/http"
	"reflect"
	"slices"
	"testing"
	"time"

	"pcr/slices/api"
	"pcr/slices/store"
)

// follow runs a node's watch in the background and hands each
// assignment to the returned channel.
func follow(t *testing.T, node *api.Client, name string) <-chan *api.Assignment {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	out := make(chan *api.Assignment, 16)
	done := make(chan error, 1)
	go func() {
		done <- node.Watch(ctx, name, func(a *api.Assignment) error {
			out <- a
			return nil
		})
	}()
	t.Cleanup(func() {
		// The stream must have lasted the whole test; how it ends once
		// cancelled does not matter.
		select {
		case err := <-done:
			t.Errorf("watch %s ended early: %v", name, err)
		default:
			cancel()
			<-done
		}
	})
	return out
}

func next(t *testing.T, ch <-chan *api.Assignment, what string) (*api.Assignment, time.Duration) {
	t.Helper()
	start := time.Now()
	select {
	case a := <-ch:
		return a, time.Since(start)
	case <-time.After(3 * time.Second):
		t.Fatalf("%s: no assignment within 3s", what)
	}
	return nil, 0
}

func sliverNames(a *api.Assignment) []string {
	var out []string
	for _, s := range a.Slivers {
		out = append(out, s.Slice)
	}
	return out
}

func TestWatchDeliversChangesThatConcernTheNode(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	s := setupSite(h)
	ctx := t.Context()
	watch := follow(t, s.n1, "n1")
	first, _ := next(t, watch, "first assignment")
	if first.Node != "n1" || len(first.Slivers) != 0 {
		t.Fatalf("first assignment %+v", first)
	}

	start := time.Now()
	if _, err := s.alice.CreateSlice(ctx, api.CreateSlice{Name: "pl_a", Image: "busybox", Nodes: []string{"n1", "n2"},
		Owners: []string{"bob"}}); err != nil {
		t.Fatal(err)
	}
	a, _ := next(t, watch, "after creating pl_a")
	latency := time.Since(start)
	t.Logf("watch delivered the new slice %s after the create was sent", latency)
	if latency > time.Second {
		t.Errorf("watch took %s to deliver a change, want < 1s", latency)
	}
	if !slices.Equal(sliverNames(a), []string{"pl_a"}) || a.Revision <= first.Revision {
		t.Fatalf("after pl_a: %+v", a)
	}
	sv := a.Slivers[0]
	if sv.Site != "pl" || sv.Image != "busybox" || !slices.Equal(sv.Owners, []string{"bob"}) || sv.Network == nil {
		t.Fatalf("sliver %+v", sv)
	}
	if n := sv.Network; n.VNI != 4096 || n.Subnet != "10.96.0.0/24" || n.Address != "10.96.0.2" || !slices.Equal(n.Peers, []string{"192.0.2.2"}) {
		t.Fatalf("sliver network %+v", n)
	}

	// A slice elsewhere does not concern n1: the next message is pl_c's.
	if _, err := s.alice.CreateSlice(ctx, api.CreateSlice{Name: "pl_b", Image: "busybox", Nodes: []string{"n2"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.alice.CreateSlice(ctx, api.CreateSlice{Name: "pl_c", Image: "busybox", Nodes: []string{"n1"}}); err != nil {
		t.Fatal(err)
	}
	a, _ = next(t, watch, "after creating pl_c")
	if !slices.Equal(sliverNames(a), []string{"pl_a", "pl_c"}) {
		t.Fatalf("after pl_b and pl_c: %v, want [pl_a pl_c] (pl_b is not n1's)", sliverNames(a))
	}

	if _, err := s.bob.SliceAction(ctx, "pl_a", "restart"); err != nil {
		t.Fatal(err)
	}
	a, _ = next(t, watch, "after restarting pl_a")
	if a.Slivers[0].RestartGeneration != 1 {
		t.Fatalf("after restart: %+v", a.Slivers[0])
	}
	// A new underlay address of a peer reaches the slice's other nodes.
	report(t, s.n2, "n2", "192.0.2.22", []string{"busybox"})
	a, _ = next(t, watch, "after n2 moved")
	if !slices.Equal(a.Slivers[0].Network.Peers, []string{"192.0.2.22"}) {
		t.Fatalf("peers after n2 moved: %v", a.Slivers[0].Network.Peers)
	}
	if err := s.alice.DeleteSlice(ctx, "pl_a"); err != nil {
		t.Fatal(err)
	}
	a, _ = next(t, watch, "after deleting pl_a")
	if !slices.Equal(sliverNames(a), []string{"pl_c"}) {
		t.Fatalf("after deleting pl_a: %v", sliverNames(a))
	}

	// The stream ends when the node is removed; a new one is refused.
	if err := h.admin.RemoveNode(ctx, "n2"); err != nil {
		t.Fatal(err)
	}
	err := s.n2.Watch(ctx, "n2", func(*api.Assignment) error { return nil })
	wantRefusal(t, "watch of a removed node", err, http.StatusNotFound, "unknown node n2")
}

func TestReportRewritesTheNodeRecordOnlyForANewAddress(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	s := setupSite(h)
	ctx := t.Context()
	rec := func() *store.NodeRecord {
		t.Helper()
		r, err := h.st.GetNode(ctx, "n2")
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	before := rec()
	err := s.n2.Report(ctx, "n2", api.Report{Address: "192.0.2.2", Images: []string{"busybox"},
		Capacity: api.Capacity{CPUs: 4, Memory: 8 << 30, Disk: 123 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	if after := rec(); !reflect.DeepEqual(after, before) {
		t.Fatalf("a report with a new disk figure rewrote the record: %+v, was %+v", after, before)
	}
	nodes, err := h.admin.ListNodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if i := slices.IndexFunc(nodes, func(n api.Node) bool { return n.Name == "n2" }); i < 0 || nodes[i].Capacity.Disk != 123<<20 {
		t.Fatalf("nodes after the report: %+v", nodes)
	}
	report(t, s.n2, "n2", "192.0.2.22", []string{"busybox"})
	if got := rec().Address; got != "192.0.2.22" {
		t.Fatalf("record address after a move: %s", got)
	}
}
