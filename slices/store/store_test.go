package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"pcr/slices/api"
)

// newTestStore starts a private embedded etcd in a temp dir.
func newTestStore(t testing.TB, opts Options) *Store {
	t.Helper()
	root := t.TempDir()
	emb, err := StartEmbedded(root, slog.New(slog.DiscardHandler), 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emb.Close)
	s, err := Open(t.Context(), emb.Endpoints(), opts, slog.New(slog.DiscardHandler), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// mustCreateSlice creates a slice on nodes, recording those not yet
// recorded.
func mustCreateSlice(t *testing.T, s *Store, name string, nodes ...string) *api.Slice {
	t.Helper()
	mustAddNodes(t, s, nodes...)
	sl, err := s.CreateSlice(t.Context(), api.Slice{Name: name, Site: "pl", Image: "busybox", Nodes: nodes,
		Expires: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	return sl
}

// mustAddNodes records the nodes not yet recorded.
func mustAddNodes(t *testing.T, s *Store, nodes ...string) {
	t.Helper()
	for _, n := range nodes {
		if err := s.CreateNode(t.Context(), NodeRecord{Node: api.Node{Name: n}}); err != nil && !errors.Is(err, ErrExists) {
			t.Fatal(err)
		}
	}
}

func TestEmbeddedEtcdRefusesASecondProcessOnTheSameRoot(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	emb, err := StartEmbedded(root, slog.New(slog.DiscardHandler), 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer emb.Close()
	if !strings.HasPrefix(emb.Endpoints()[0], "unix:///") {
		t.Errorf("endpoint %s: want the unix socket under the root", emb.Endpoints()[0])
	}
	_, err = StartEmbedded(root, slog.New(slog.DiscardHandler), 5*time.Second)
	if err == nil || !strings.Contains(err.Error(), "held by another process") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("second start on %s: got %v, want a one-line refusal naming the lock", root, err)
	}
}

func TestUsersCreateTheirSiteOnce(t *testing.T) {
	t.Parallel()
	s := newTestStore(t, Options{})
	ctx := t.Context()
	if err := s.CreateUser(ctx, api.User{Name: "alice", Role: "pi", Site: "princeton"}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateUser(ctx, api.User{Name: "bob", Role: "user", Site: "princeton"}); err != nil {
		t.Fatal(err)
	}
	err := s.CreateUser(ctx, api.User{Name: "alice", Role: "user", Site: "mit"})
	if !errors.Is(err, ErrExists) {
		t.Fatalf("second alice: got %v, want ErrExists", err)
	}
	sites, err := s.ListSites(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(sites) != 1 || sites[0].Name != "princeton" {
		t.Fatalf("sites %+v: want only princeton (the refused alice must not add mit)", sites)
	}
	users, err := s.ListUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 2 || users[0].Name != "alice" || users[0].Role != "pi" {
		t.Fatalf("users %+v", users)
	}
	if _, err := s.GetUser(ctx, "carol"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown user: got %v, want ErrNotFound", err)
	}
	if _, err := s.GetUser(ctx, "../nodes/x"); err == nil {
		t.Fatal("a name with / reached the store")
	}
}

func TestNodeRecordsAndReports(t *testing.T) {
	t.Parallel()
	s := newTestStore(t, Options{})
	ctx := t.Context()
	n := NodeRecord{Node: api.Node{Name: "n1", Added: time.Now().UTC()}, TokenHash: "sha256:abc"}
	if err := s.CreateNode(ctx, n); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateNode(ctx, n); !errors.Is(err, ErrExists) {
		t.Fatalf("second n1: got %v, want ErrExists", err)
	}
	got, err := s.UpdateNode(ctx, "n1", func(r *NodeRecord) error {
		r.TokenHash, r.Joined = "", time.Now().UTC()
		return nil
	})
	if err != nil || got.TokenHash != "" || got.Joined.IsZero() {
		t.Fatalf("join: %+v %v", got, err)
	}
	rep := api.Report{Address: "192.0.2.1", Capacity: api.Capacity{CPUs: 4, Memory: 8 << 30}, Images: []string{"busybox"}}
	if err := s.PutSeen(ctx, "n1", Seen{LastSeen: time.Now().UTC(), Report: rep}); err != nil {
		t.Fatal(err)
	}
	seen, err := s.GetSeen(ctx, "n1")
	if err != nil || seen.Report.Address != "192.0.2.1" || seen.Report.Capacity.CPUs != 4 {
		t.Fatalf("seen %+v %v", seen, err)
	}
	if err := s.PutSeen(ctx, "ghost", Seen{LastSeen: time.Now()}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("report of an unknown node: got %v, want ErrNotFound", err)
	}
	all, err := s.ListSeen(ctx)
	if err != nil || len(all) != 1 || all["n1"].Report.Address != "192.0.2.1" {
		t.Fatalf("list seen %+v %v", all, err)
	}
}

func TestSliceOverlayAllocationAndReuse(t *testing.T) {
	t.Parallel()
	s := newTestStore(t, Options{OverlayPool: netip.MustParsePrefix("10.200.0.0/16")})
	ctx := t.Context()
	a := mustCreateSlice(t, s, "pl_a", "n1", "n2")
	b := mustCreateSlice(t, s, "pl_b", "n2")
	c := mustCreateSlice(t, s, "pl_c")
	for _, w := range []struct {
		sl     *api.Slice
		vni    uint32
		subnet string
	}{{a, 4096, "10.200.0.0/24"}, {b, 4097, "10.200.1.0/24"}, {c, 4098, "10.200.2.0/24"}} {
		if w.sl.Network == nil || w.sl.Network.VNI != w.vni || w.sl.Network.Subnet != w.subnet {
			t.Errorf("%s: network %+v, want VNI %d subnet %s", w.sl.Name, w.sl.Network, w.vni, w.subnet)
		}
	}
	if got := a.Network.Addresses; got["n1"] != "10.200.0.2" || got["n2"] != "10.200.0.3" {
		t.Errorf("pl_a addresses %v, want n1 .2 and n2 .3", got)
	}
	if _, err := s.CreateSlice(ctx, api.Slice{Name: "pl_a"}); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate slice: got %v, want ErrExists", err)
	}

	// Removing n1 frees .2; the next node added takes it, n2 keeps .3.
	a2, err := s.UpdateSlice(ctx, "pl_a", func(sl *api.Slice) error {
		sl.Nodes = []string{"n2"}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := a2.Network.Addresses["n1"]; ok || a2.Network.Addresses["n2"] != "10.200.0.3" {
		t.Fatalf("after removing n1: %v", a2.Network.Addresses)
	}
	mustAddNodes(t, s, "n3", "n4")
	a3, err := s.UpdateSlice(ctx, "pl_a", func(sl *api.Slice) error {
		sl.Nodes = append(sl.Nodes, "n3", "n4")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := a3.Network.Addresses; got["n3"] != "10.200.0.2" || got["n4"] != "10.200.0.4" || got["n2"] != "10.200.0.3" {
		t.Fatalf("after adding n3, n4: %v, want n3 .2 (reused), n4 .4", got)
	}
	if a3.Revision <= a.Revision {
		t.Errorf("revision did not grow: %d then %d", a.Revision, a3.Revision)
	}

	// Deleting pl_b frees VNI 4097 for the next slice.
	if err := s.DeleteSlice(ctx, "pl_b"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSlice(ctx, "pl_b"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: got %v, want ErrNotFound", err)
	}
	d := mustCreateSlice(t, s, "pl_d")
	if d.Network.VNI != 4097 || d.Network.Subnet != "10.200.1.0/24" {
		t.Fatalf("pl_d network %+v, want the freed VNI 4097", d.Network)
	}
}

func TestOverlayPoolFull(t *testing.T) {
	t.Parallel()
	s := newTestStore(t, Options{OverlayPool: netip.MustParsePrefix("10.1.0.0/23")})
	mustCreateSlice(t, s, "pl_a")
	mustCreateSlice(t, s, "pl_b")
	_, err := s.CreateSlice(t.Context(), api.Slice{Name: "pl_c"})
	if err == nil || !strings.Contains(err.Error(), "overlay pool 10.1.0.0/23 is full (2 slices)") {
		t.Fatalf("third slice in a /23: got %v", err)
	}
	if _, err := s.GetSlice(t.Context(), "pl_c"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("refused slice stored: %v", err)
	}
}

func TestConcurrentWritersLoseNothing(t *testing.T) {
	t.Parallel()
	s := newTestStore(t, Options{})
	ctx := t.Context()
	mustCreateSlice(t, s, "pl_a", "n1")
	// A second Store on its own client is a second authority process.
	other, err := Open(ctx, s.cli.Endpoints(), Options{}, slog.New(slog.DiscardHandler), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	const writers = 16
	var wg sync.WaitGroup
	errs := make(chan error, 3*writers)
	for i := range writers {
		st := []*Store{s, other}[i%2]
		wg.Go(func() {
			_, err := st.UpdateSlice(ctx, "pl_a", func(sl *api.Slice) error {
				sl.RestartGeneration++
				return nil
			})
			errs <- err
		})
		wg.Go(func() {
			_, err := st.CreateSlice(ctx, api.Slice{Name: fmt.Sprintf("pl_s%d", i)})
			errs <- err
		})
		wg.Go(func() {
			_, err := st.CreateSlice(ctx, api.Slice{Name: "pl_same"})
			if errors.Is(err, ErrExists) {
				err = nil
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	sl, err := s.GetSlice(ctx, "pl_a")
	if err != nil {
		t.Fatal(err)
	}
	if sl.RestartGeneration != writers {
		t.Fatalf("restart generation %d after %d concurrent increments", sl.RestartGeneration, writers)
	}
	all, _, err := s.ListSlices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != writers+2 {
		t.Fatalf("%d slices, want %d", len(all), writers+2)
	}
	vnis := map[uint32]string{}
	for _, sl := range all {
		if prev, dup := vnis[sl.Network.VNI]; dup {
			t.Fatalf("VNI %d given to both %s and %s", sl.Network.VNI, prev, sl.Name)
		}
		vnis[sl.Network.VNI] = sl.Name
	}
}

func TestRemoveNodeLeavesItsSlices(t *testing.T) {
	t.Parallel()
	s := newTestStore(t, Options{})
	ctx := t.Context()
	for _, n := range []string{"n1", "n2"} {
		if err := s.CreateNode(ctx, NodeRecord{Node: api.Node{Name: n}}); err != nil {
			t.Fatal(err)
		}
	}
	mustCreateSlice(t, s, "pl_a", "n1", "n2")
	mustCreateSlice(t, s, "pl_b", "n2")
	if err := s.PutExecJobs(ctx, []string{"n1"}, api.ExecJob{ID: "j1", Slice: "pl_a"}, time.Minute); err != nil {
		t.Fatal(err)
	}
	changed, err := s.RemoveNode(ctx, "n1")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(changed, []string{"pl_a"}) {
		t.Errorf("changed %v, want [pl_a]", changed)
	}
	a, _ := s.GetSlice(ctx, "pl_a")
	if !slices.Equal(a.Nodes, []string{"n2"}) || len(a.Network.Addresses) != 1 {
		t.Fatalf("pl_a after removing n1: nodes %v addresses %v", a.Nodes, a.Network.Addresses)
	}
	if jobs, _ := s.ExecJobs(ctx, "n1"); len(jobs) != 0 {
		t.Fatalf("removed node keeps jobs %v", jobs)
	}
	if _, err := s.RemoveNode(ctx, "n1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second remove: got %v, want ErrNotFound", err)
	}
}

func TestRemoveNodeFinishesAHalfDoneRemove(t *testing.T) {
	t.Parallel()
	s := newTestStore(t, Options{})
	ctx := t.Context()
	mustCreateSlice(t, s, "pl_a", "n1", "n2")
	// A remove that failed after deleting the record, before editing
	// the slices (the store went away), left pl_a listing n1.
	if _, err := s.cli.Delete(ctx, s.prefix+"nodes/n1"); err != nil {
		t.Fatal(err)
	}
	changed, err := s.RemoveNode(ctx, "n1")
	if err != nil || !slices.Equal(changed, []string{"pl_a"}) {
		t.Fatalf("retried remove: changed %v, err %v; want [pl_a] and no error", changed, err)
	}
	a, _ := s.GetSlice(ctx, "pl_a")
	if !slices.Equal(a.Nodes, []string{"n2"}) {
		t.Fatalf("pl_a after the retried remove: %v", a.Nodes)
	}
	if _, err := s.RemoveNode(ctx, "n1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("remove of a name nothing lists: got %v, want ErrNotFound", err)
	}
}

func TestSliceWritesRefuseUnknownNodes(t *testing.T) {
	t.Parallel()
	s := newTestStore(t, Options{})
	ctx := t.Context()
	mustAddNodes(t, s, "n1")
	var unknown *UnknownNodeError
	_, err := s.CreateSlice(ctx, api.Slice{Name: "pl_a", Nodes: []string{"n1", "ghost"}})
	if !errors.As(err, &unknown) || unknown.Node != "ghost" || err.Error() != "create slice pl_a: unknown node ghost" {
		t.Fatalf("create on an unknown node: %v", err)
	}
	mustCreateSlice(t, s, "pl_a", "n1")
	_, err = s.UpdateSlice(ctx, "pl_a", func(sl *api.Slice) error {
		sl.Nodes = append(sl.Nodes, "ghost")
		return nil
	})
	if !errors.As(err, &unknown) || unknown.Node != "ghost" {
		t.Fatalf("adding an unknown node: %v", err)
	}
	// Keeping a node is no check: a slice being scrubbed still changes.
	if _, err := s.UpdateSlice(ctx, "pl_a", func(sl *api.Slice) error {
		sl.RestartGeneration++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// A slice written while its node is being removed either fails or is
// scrubbed by the remove: it never keeps the removed node.
func TestNoSliceKeepsANodeRemovedMeanwhile(t *testing.T) {
	t.Parallel()
	s := newTestStore(t, Options{})
	ctx := t.Context()
	other, err := Open(ctx, s.cli.Endpoints(), Options{}, slog.New(slog.DiscardHandler), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	mustCreateSlice(t, s, "pl_grow")
	for i := range 30 {
		node := fmt.Sprintf("r%d", i)
		mustAddNodes(t, s, node)
		var wg sync.WaitGroup
		var cerr, uerr, rerr error
		wg.Go(func() {
			_, cerr = s.CreateSlice(ctx, api.Slice{Name: fmt.Sprintf("pl_s%d", i), Nodes: []string{node}})
		})
		wg.Go(func() {
			_, uerr = s.UpdateSlice(ctx, "pl_grow", func(sl *api.Slice) error {
				sl.Nodes = append(sl.Nodes, node)
				return nil
			})
		})
		wg.Go(func() { _, rerr = other.RemoveNode(ctx, node) })
		wg.Wait()
		var unknown *UnknownNodeError
		for _, err := range []error{cerr, uerr, rerr} {
			if err != nil && !errors.As(err, &unknown) {
				t.Fatal(err)
			}
		}
	}
	all, _, err := s.ListSlices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, sl := range all {
		if len(sl.Nodes) > 0 || len(sl.Network.Addresses) > 0 {
			t.Errorf("slice %s lists removed nodes %v (addresses %v)", sl.Name, sl.Nodes, sl.Network.Addresses)
		}
	}
}

func TestExecJobsAndResults(t *testing.T) {
	t.Parallel()
	s := newTestStore(t, Options{})
	ctx := t.Context()
	job := api.ExecJob{ID: "abc123", Slice: "pl_a", Cmd: []string{"hostname"}, Deadline: time.Now().Add(time.Minute)}
	if err := s.PutExecJobs(ctx, []string{"n1", "n2"}, job, time.Minute); err != nil {
		t.Fatal(err)
	}
	jobs, err := s.ExecJobs(ctx, "n1")
	if err != nil || len(jobs) != 1 || jobs[0].ID != "abc123" || jobs[0].Cmd[0] != "hostname" {
		t.Fatalf("jobs of n1: %+v %v", jobs, err)
	}
	go func() {
		time.Sleep(50 * time.Millisecond)
		s.PutExecResult(ctx, "n2", "abc123", api.ExecResult{Node: "n2", Stdout: "n2\n"})
	}()
	if err := s.PutExecResult(ctx, "n1", "abc123", api.ExecResult{Node: "n1", Stdout: "n1\n"}); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	got, err := s.WaitExecResults(wctx, "abc123", []string{"n1", "n2"})
	if err != nil || got["n1"].Stdout != "n1\n" || got["n2"].Stdout != "n2\n" {
		t.Fatalf("results %+v %v", got, err)
	}
	if jobs, _ := s.ExecJobs(ctx, "n1"); len(jobs) != 0 {
		t.Fatalf("answered job still queued: %+v", jobs)
	}
	if err := s.PutExecResult(ctx, "n1", "abc123", api.ExecResult{}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second answer: got %v, want ErrNotFound", err)
	}
	// A node that never answers: the wait ends with the deadline.
	if err := s.PutExecJobs(ctx, []string{"n3"}, api.ExecJob{ID: "def"}, time.Minute); err != nil {
		t.Fatal(err)
	}
	sctx, cancel2 := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel2()
	got, err = s.WaitExecResults(sctx, "def", []string{"n3"})
	if err != nil || len(got) != 0 {
		t.Fatalf("silent node: %+v %v", got, err)
	}
}

func TestExecJobsForMoreNodesThanATransactionHolds(t *testing.T) {
	t.Parallel()
	s := newTestStore(t, Options{})
	ctx := t.Context()
	var nodes []string
	for i := range 130 {
		nodes = append(nodes, fmt.Sprintf("n%d", i))
	}
	job := api.ExecJob{ID: "big", Slice: "pl_a", Cmd: []string{"id"}, Deadline: time.Now().Add(time.Minute)}
	if err := s.PutExecJobs(ctx, nodes, job, time.Minute); err != nil {
		t.Fatalf("a job for 130 nodes: %v", err)
	}
	for _, n := range []string{"n0", "n99", "n100", "n129"} {
		if jobs, err := s.ExecJobs(ctx, n); err != nil || len(jobs) != 1 || jobs[0].ID != "big" {
			t.Fatalf("jobs of %s: %+v %v", n, jobs, err)
		}
	}
	if err := s.CancelExecJobs(ctx, "big", nodes); err != nil {
		t.Fatalf("cancel on 130 nodes: %v", err)
	}
	resp, err := s.cli.Get(ctx, s.dir("exec"), clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	if resp.Count != 0 {
		t.Fatalf("%d jobs left after the cancel", resp.Count)
	}
}

func TestWatchNodeWakesOnSliceChange(t *testing.T) {
	t.Parallel()
	s := newTestStore(t, Options{})
	ctx := t.Context()
	if err := s.CreateNode(ctx, NodeRecord{Node: api.Node{Name: "n1"}}); err != nil {
		t.Fatal(err)
	}
	v, err := s.ReadNodeView(ctx, "n1")
	if err != nil {
		t.Fatal(err)
	}
	wake := s.WatchNode(ctx, "n1", v.Revision)
	start := time.Now()
	mustCreateSlice(t, s, "pl_a", "n1")
	select {
	case <-wake:
	case <-time.After(2 * time.Second):
		t.Fatal("no wake-up within 2s of a slice write")
	}
	t.Logf("woken %s after the write", time.Since(start))
	v2, err := s.ReadNodeView(ctx, "n1")
	if err != nil || len(v2.Slices) != 1 || v2.Revision <= v.Revision {
		t.Fatalf("view after: %+v %v", v2, err)
	}
	if _, err := s.ReadNodeView(ctx, "ghost"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("view of unknown node: %v", err)
	}
}

func TestDeleteExpiredSliceSparesARenewedOne(t *testing.T) {
	t.Parallel()
	s := newTestStore(t, Options{})
	ctx := t.Context()
	now := time.Now()
	if _, err := s.CreateSlice(ctx, api.Slice{Name: "pl_old", Expires: now.Add(-time.Second)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateSlice(ctx, api.Slice{Name: "pl_new", Expires: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.DeleteExpiredSlice(ctx, "pl_new", now); ok || err != nil {
		t.Fatalf("unexpired slice: deleted=%v err=%v", ok, err)
	}
	if ok, err := s.DeleteExpiredSlice(ctx, "pl_old", now); !ok || err != nil {
		t.Fatalf("expired slice: deleted=%v err=%v", ok, err)
	}
	if ok, err := s.DeleteExpiredSlice(ctx, "pl_old", now); ok || err != nil {
		t.Fatalf("already gone: deleted=%v err=%v", ok, err)
	}
}

// woken says whether wake fires within d.
func woken(wake <-chan struct{}, d time.Duration) bool {
	select {
	case <-wake:
		return true
	case <-time.After(d):
		return false
	}
}

func TestWatchNodeSkipsPeerRecordWritesThatKeepTheAddress(t *testing.T) {
	t.Parallel()
	s := newTestStore(t, Options{})
	ctx := t.Context()
	for _, n := range []string{"n1", "n2"} {
		if err := s.CreateNode(ctx, NodeRecord{Node: api.Node{Name: n, Address: "192.0.2.1"}}); err != nil {
			t.Fatal(err)
		}
	}
	v, err := s.ReadNodeView(ctx, "n1")
	if err != nil {
		t.Fatal(err)
	}
	wake := s.WatchNode(ctx, "n1", v.Revision)
	change := func(node string, fn func(*NodeRecord)) {
		t.Helper()
		if _, err := s.UpdateNode(ctx, node, func(r *NodeRecord) error { fn(r); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	change("n2", func(r *NodeRecord) { r.Capacity.Disk += 4096 })
	change("n2", func(r *NodeRecord) { r.Joined = time.Now() })
	if woken(wake, 300*time.Millisecond) {
		t.Fatal("a peer's record rewritten with the same address woke the watch")
	}
	change("n2", func(r *NodeRecord) { r.Address = "192.0.2.22" })
	if !woken(wake, 2*time.Second) {
		t.Fatal("a peer's new address did not wake the watch")
	}
	change("n1", func(r *NodeRecord) { r.CertSerial = "abc" })
	if !woken(wake, 2*time.Second) {
		t.Fatal("a change to the node's own record did not wake the watch")
	}
	if _, err := s.RemoveNode(ctx, "n2"); err != nil {
		t.Fatal(err)
	}
	if !woken(wake, 2*time.Second) {
		t.Fatal("a peer's removal did not wake the watch")
	}
}

func TestWatchTakesUpAfterTheLastRevisionSeen(t *testing.T) {
	t.Parallel()
	s := newTestStore(t, Options{})
	ctx := t.Context()
	dir := s.dir("w")
	put := func(k string) int64 {
		t.Helper()
		resp, err := s.cli.Put(ctx, dir+k, "v")
		if err != nil {
			t.Fatal(err)
		}
		return resp.Header.Revision
	}
	start := put("a")
	revB := put("b")
	put("c")
	// The first watch breaks off after b: the next one starts at c.
	after := start
	var seen []string
	collect := func(stopAt string) func(*clientv3.Event) bool {
		return func(ev *clientv3.Event) bool {
			seen = append(seen, string(ev.Kv.Key[len(dir):]))
			return string(ev.Kv.Key[len(dir):]) == stopAt
		}
	}
	if end := s.watchUntil(ctx, dir, &after, nil, collect("b")); end != watchStopped || after != revB {
		t.Fatalf("first watch: end %d, last revision %d; want stopped at %d", end, after, revB)
	}
	put("d")
	if end := s.watchUntil(ctx, dir, &after, nil, collect("d")); end != watchStopped {
		t.Fatalf("second watch ended %d", end)
	}
	if !slices.Equal(seen, []string{"b", "c", "d"}) {
		t.Fatalf("events seen across the two watches %v, want [b c d]", seen)
	}

	// History compacted away: the watch says so, and a WatchNode from
	// there wakes its caller once it watches again from now.
	last := put("e")
	if _, err := s.cli.Compact(ctx, last); err != nil {
		t.Fatal(err)
	}
	old := start
	if end := s.watchUntil(ctx, dir, &old, nil, collect("")); end != watchCompacted {
		t.Fatalf("watch from a compacted revision ended %d, want watchCompacted", end)
	}
	if err := s.CreateNode(ctx, NodeRecord{Node: api.Node{Name: "n1"}}); err != nil {
		t.Fatal(err)
	}
	wake := s.WatchNode(ctx, "n1", start)
	if !woken(wake, 2*time.Second) {
		t.Fatal("a watch from a compacted revision did not wake its caller")
	}
	time.Sleep(300 * time.Millisecond) // the other dirs' wake-ups for the same gap
	woken(wake, 0)
	mustCreateSlice(t, s, "pl_a")
	if !woken(wake, 2*time.Second) {
		t.Fatal("no wake-up for a write after the watch was set up again")
	}
}

func TestEmbeddedEtcdUnderALongRootKeepsAUnixSocket(t *testing.T) {
	t.Parallel()
	root := filepath.Join(t.TempDir(), strings.Repeat("r", 120))
	emb, err := StartEmbedded(root, slog.New(slog.DiscardHandler), 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer emb.Close()
	ep := emb.Endpoints()[0]
	sock, ok := strings.CutPrefix(ep, "unix://")
	if !ok || len(sock) > maxUnixPath {
		t.Fatalf("endpoint %s, want a unix socket of at most %d bytes", ep, maxUnixPath)
	}
	dir := filepath.Dir(sock)
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("socket directory %s: %v %v, want mode 0700", dir, fi.Mode(), err)
	}
	s, err := Open(t.Context(), emb.Endpoints(), Options{}, slog.New(slog.DiscardHandler), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateNode(t.Context(), NodeRecord{Node: api.Node{Name: "n1"}}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	emb.Close()
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket directory %s left after Close: %v", dir, err)
	}
}
