package authority

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"pcr/rspec"
	"pcr/slices/api"
)

func absurdMemory() rspec.Rspec { return rspec.Rspec{Memory: 1 << 60} }

// site sets up site pl with PI alice, users bob and eve, PI mallory of
// site mit, nodes n1 and n2 (joined, reporting busybox) and n3 (added,
// never joined), n4 (joined, never reported).
type site struct {
	alice, bob, eve, mallory *api.Client
	n1, n2, n4               *api.Client
}

func setupSite(h *harness) site {
	t := h.t
	s := site{
		alice:   h.user("alice", "pi", "pl"),
		bob:     h.user("bob", "user", "pl"),
		eve:     h.user("eve", "user", "pl"),
		mallory: h.user("mallory", "pi", "mit"),
		n1:      h.node("n1", "192.0.2.1"),
		n2:      h.node("n2", "192.0.2.2"),
		n4:      h.node("n4", ""),
	}
	h.user("dave", "user", "mit")
	if _, err := h.admin.AddNode(t.Context(), api.AddNode{Name: "n3"}); err != nil {
		t.Fatal(err)
	}
	report(t, s.n1, "n1", "192.0.2.1", []string{"busybox"})
	report(t, s.n2, "n2", "192.0.2.2", []string{"busybox:latest", "debian"})
	return s
}

func TestCreateSliceRefusalsStoreNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	s := setupSite(h)
	ctx := t.Context()
	ok := api.CreateSlice{Name: "pl_a", Image: "busybox", Nodes: []string{"n1", "n2"}, Owners: []string{"bob"},
		Rspec: rspec.Rspec{Memory: 64 << 20, CPUCores: 1}}
	with := func(f func(*api.CreateSlice)) api.CreateSlice {
		c := ok
		c.Nodes, c.Owners = slices.Clone(ok.Nodes), slices.Clone(ok.Owners)
		f(&c)
		return c
	}
	now := h.clock.Now()
	for _, c := range []struct {
		what   string
		by     *api.Client
		in     api.CreateSlice
		status int
		msg    string
	}{
		{"a plain user", s.bob, ok, http.StatusForbidden, "only a PI of site pl or an admin may create slices"},
		{"a PI of another site", s.mallory, ok, http.StatusForbidden, "only a PI of site pl or an admin may create slices"},
		{"a node", s.n1, ok, http.StatusForbidden, "only a PI of site pl or an admin may create slices"},
		{"a bad name", s.alice, with(func(c *api.CreateSlice) { c.Name = "pl-a" }), http.StatusBadRequest, `invalid slice name "pl-a"`},
		{"no site in the name", s.alice, with(func(c *api.CreateSlice) { c.Name = "pla" }), http.StatusBadRequest, "want SITE_NAME"},
		{"no image", s.alice, with(func(c *api.CreateSlice) { c.Image = "" }), http.StatusBadRequest, "create slice pl_a: no image"},
		{"an absurd rspec", s.alice, with(func(c *api.CreateSlice) { c.Rspec = absurdMemory() }), http.StatusBadRequest, "is more than any node has"},
		{"more memory than the node", s.alice, with(func(c *api.CreateSlice) { c.Rspec.Memory = 16 << 30 }), http.StatusBadRequest, "node n1: invalid rspec: memory 16G is more than the node's 8.0G"},
		{"more cores than the node", s.alice, with(func(c *api.CreateSlice) { c.Rspec.CPUCores = 8 }), http.StatusBadRequest, "cpu_cores 8 is more than the node's 4 cores"},
		{"an unknown node", s.alice, with(func(c *api.CreateSlice) { c.Nodes = []string{"n9"} }), http.StatusBadRequest, "unknown node n9"},
		{"a node named twice", s.alice, with(func(c *api.CreateSlice) { c.Nodes = []string{"n1", "n1"} }), http.StatusBadRequest, "node n1 is named twice"},
		{"a node not joined", s.alice, with(func(c *api.CreateSlice) { c.Nodes = []string{"n3"} }), http.StatusBadRequest, "node n3 has not joined yet"},
		{"a node not reported", s.alice, with(func(c *api.CreateSlice) { c.Nodes = []string{"n4"} }), http.StatusBadRequest, "node n4 has not reported yet"},
		{"an unknown image", s.alice, with(func(c *api.CreateSlice) { c.Image = "debian" }), http.StatusBadRequest, "node n1 has no image debian (it has busybox)"},
		{"an unknown owner", s.alice, with(func(c *api.CreateSlice) { c.Owners = []string{"carol"} }), http.StatusBadRequest, "unknown user carol"},
		{"an owner of another site", s.alice, with(func(c *api.CreateSlice) { c.Owners = []string{"dave"} }), http.StatusBadRequest, "user dave is not of site pl"},
		{"expiry past the cap", s.alice, with(func(c *api.CreateSlice) { c.Expires = now.Add(9 * 7 * 24 * time.Hour) }), http.StatusBadRequest, "is past the cap of 8 weeks from now"},
		{"expiry in the past", s.alice, with(func(c *api.CreateSlice) { c.Expires = now.Add(-time.Minute) }), http.StatusBadRequest, "is in the past"},
	} {
		_, err := c.by.CreateSlice(ctx, c.in)
		wantRefusal(t, c.what, err, c.status, c.msg)
	}
	if got := h.sliceNames(); len(got) != 0 {
		t.Fatalf("refused creates stored %v", got)
	}

	sl, err := s.alice.CreateSlice(ctx, ok)
	if err != nil {
		t.Fatal(err)
	}
	if sl.Site != "pl" || sl.CreatedBy != "alice" || !sl.Expires.Equal(now.Add(api.DefaultLifetime).UTC().Truncate(time.Second)) {
		t.Errorf("stored %+v", sl)
	}
	if sl.Network == nil || sl.Network.VNI != 4096 || sl.Network.Subnet != "10.96.0.0/24" ||
		sl.Network.Addresses["n1"] != "10.96.0.2" || sl.Network.Addresses["n2"] != "10.96.0.3" {
		t.Errorf("network %+v", sl.Network)
	}
	_, err = h.admin.CreateSlice(ctx, ok)
	wantRefusal(t, "a duplicate", err, http.StatusConflict, "slice pl_a exists")
	// "img" and "img:latest" are one image, both ways; an admin may
	// create in any site.
	if _, err := h.admin.CreateSlice(ctx, with(func(c *api.CreateSlice) { c.Name = "mit_b"; c.Image = "busybox:latest"; c.Owners = []string{"dave"} })); err != nil {
		t.Fatal(err)
	}
	if _, err := s.mallory.CreateSlice(ctx, with(func(c *api.CreateSlice) {
		c.Name = "mit_c"
		c.Owners = nil
		c.Nodes = []string{"n2"}
		c.Image = "debian"
	})); err != nil {
		t.Fatal(err)
	}
}

func TestActOnSliceRule(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	s := setupSite(h)
	ctx := t.Context()
	if _, err := s.alice.CreateSlice(ctx, api.CreateSlice{Name: "pl_a", Image: "busybox", Nodes: []string{"n1"}, Owners: []string{"bob"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.alice.CreateSlice(ctx, api.CreateSlice{Name: "pl_b", Image: "busybox", Nodes: []string{"n1"}}); err != nil {
		t.Fatal(err)
	}
	_, err := s.eve.GetSlice(ctx, "pl_a")
	wantRefusal(t, "eve reads pl_a", err, http.StatusForbidden, "user eve may not act on slice pl_a: not an owner and not a PI of site pl")
	err = s.eve.DeleteSlice(ctx, "pl_a")
	wantRefusal(t, "eve deletes pl_a", err, http.StatusForbidden, "user eve may not act on slice pl_a")
	_, err = s.mallory.RenewSlice(ctx, "pl_a", api.Renew{})
	wantRefusal(t, "a PI of mit renews pl_a", err, http.StatusForbidden, "pi mallory may not act on slice pl_a: not an owner and not a PI of site pl")
	_, err = s.n1.SliceStatus(ctx, "pl_a")
	wantRefusal(t, "a node reads a slice's status", err, http.StatusForbidden, "node n1 may not act on slice pl_a")
	_, err = s.bob.GetSlice(ctx, "pl_zz")
	wantRefusal(t, "an unknown slice", err, http.StatusNotFound, "no slice pl_zz")
	if got := h.sliceNames(); !slices.Equal(got, []string{"pl_a", "pl_b"}) {
		t.Fatalf("after refusals: %v", got)
	}

	for who, c := range map[string]struct {
		cl   *api.Client
		want []string
	}{
		"admin": {h.admin, []string{"pl_a", "pl_b"}}, "alice": {s.alice, []string{"pl_a", "pl_b"}},
		"bob": {s.bob, []string{"pl_a"}}, "eve": {s.eve, nil}, "mallory": {s.mallory, nil},
	} {
		all, err := c.cl.ListSlices(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, sl := range all {
			names = append(names, sl.Name)
		}
		if !slices.Equal(names, c.want) {
			t.Errorf("%s sees %v, want %v", who, names, c.want)
		}
	}
	if _, err := s.bob.GetSlice(ctx, "pl_a"); err != nil {
		t.Fatalf("the owner reads pl_a: %v", err)
	}
	if err := s.alice.DeleteSlice(ctx, "pl_b"); err != nil {
		t.Fatalf("the site's PI deletes pl_b: %v", err)
	}
	if got := h.sliceNames(); !slices.Equal(got, []string{"pl_a"}) {
		t.Fatalf("after delete: %v", got)
	}
}

func TestRenewStopStartRestart(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	s := setupSite(h)
	ctx := t.Context()
	if _, err := s.alice.CreateSlice(ctx, api.CreateSlice{Name: "pl_a", Image: "busybox", Nodes: []string{"n1"}, Owners: []string{"bob"},
		Expires: h.clock.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	h.clock.Add(10 * time.Minute)
	now := h.clock.Now()
	_, err := s.bob.RenewSlice(ctx, "pl_a", api.Renew{Expires: now.Add(57 * 24 * time.Hour)})
	wantRefusal(t, "renew past the cap", err, http.StatusBadRequest, "renew slice pl_a: expiry")
	wantRefusal(t, "renew past the cap", err, http.StatusBadRequest, "is past the cap of 8 weeks from now")
	sl, err := s.bob.GetSlice(ctx, "pl_a")
	if err != nil || !sl.Expires.Equal(now.Add(50*time.Minute).UTC()) {
		t.Fatalf("a refused renewal moved the expiry: %v %v", sl.Expires, err)
	}
	sl, err = s.bob.RenewSlice(ctx, "pl_a", api.Renew{})
	if err != nil || !sl.Expires.Equal(now.Add(api.DefaultLifetime).UTC().Truncate(time.Second)) {
		t.Fatalf("renew by default: %v %v", sl.Expires, err)
	}
	max := now.Add(api.MaxLifetime)
	if sl, err = s.bob.RenewSlice(ctx, "pl_a", api.Renew{Expires: max}); err != nil || !sl.Expires.Equal(max.UTC()) {
		t.Fatalf("renew to exactly the cap: %v %v", sl.Expires, err)
	}

	sl, err = s.bob.SliceAction(ctx, "pl_a", "stop")
	if err != nil || !sl.Stopped {
		t.Fatalf("stop: %+v %v", sl, err)
	}
	sl, err = s.bob.SliceAction(ctx, "pl_a", "start")
	if err != nil || sl.Stopped {
		t.Fatalf("start: %+v %v", sl, err)
	}
	s.bob.SliceAction(ctx, "pl_a", "stop")
	sl, err = s.bob.SliceAction(ctx, "pl_a", "restart")
	if err != nil || sl.Stopped || sl.RestartGeneration != 1 {
		t.Fatalf("restart: stopped=%v generation=%d %v", sl.Stopped, sl.RestartGeneration, err)
	}
}

func TestChangeNodesKeepsAddressesAndChecksNewNodes(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	s := setupSite(h)
	ctx := t.Context()
	if _, err := s.alice.CreateSlice(ctx, api.CreateSlice{Name: "pl_a", Image: "busybox", Nodes: []string{"n1"}}); err != nil {
		t.Fatal(err)
	}
	sl, err := s.alice.ChangeNodes(ctx, "pl_a", api.ChangeNodes{Add: []string{"n2"}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sl.Nodes, []string{"n1", "n2"}) || sl.Network.Addresses["n2"] != "10.96.0.3" {
		t.Fatalf("after adding n2: %v %v", sl.Nodes, sl.Network.Addresses)
	}
	sl, err = s.alice.ChangeNodes(ctx, "pl_a", api.ChangeNodes{Remove: []string{"n1"}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sl.Nodes, []string{"n2"}) || len(sl.Network.Addresses) != 1 || sl.Network.Addresses["n2"] != "10.96.0.3" {
		t.Fatalf("after removing n1: %v %v", sl.Nodes, sl.Network.Addresses)
	}
	_, err = s.alice.ChangeNodes(ctx, "pl_a", api.ChangeNodes{Add: []string{"n4"}})
	wantRefusal(t, "add a node that never reported", err, http.StatusBadRequest, "change nodes of slice pl_a: node n4 has not reported yet")
	_, err = s.alice.ChangeNodes(ctx, "pl_a", api.ChangeNodes{Remove: []string{"n1"}})
	wantRefusal(t, "remove a node not in the slice", err, http.StatusBadRequest, "node n1 is not in the slice")
	_, err = s.alice.ChangeNodes(ctx, "pl_a", api.ChangeNodes{Add: []string{"n2"}})
	wantRefusal(t, "add a node twice", err, http.StatusBadRequest, "node n2 is already in the slice")
	sl, _ = s.alice.GetSlice(ctx, "pl_a")
	if !slices.Equal(sl.Nodes, []string{"n2"}) {
		t.Fatalf("refused changes changed the nodes: %v", sl.Nodes)
	}
	// n1 comes back on the lowest free address.
	sl, err = s.alice.ChangeNodes(ctx, "pl_a", api.ChangeNodes{Add: []string{"n1"}})
	if err != nil || sl.Network.Addresses["n1"] != "10.96.0.2" {
		t.Fatalf("n1 back: %v %v", sl.Network.Addresses, err)
	}
}

func TestRemoveNodeTakesItOutOfSlices(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	s := setupSite(h)
	ctx := t.Context()
	if _, err := s.alice.CreateSlice(ctx, api.CreateSlice{Name: "pl_a", Image: "busybox", Nodes: []string{"n1", "n2"}}); err != nil {
		t.Fatal(err)
	}
	err := s.alice.RemoveNode(ctx, "n2")
	wantRefusal(t, "a PI removes a node", err, http.StatusForbidden, "only an admin may")
	if err := h.admin.RemoveNode(ctx, "n2"); err != nil {
		t.Fatal(err)
	}
	sl, _ := s.alice.GetSlice(ctx, "pl_a")
	if !slices.Equal(sl.Nodes, []string{"n1"}) || len(sl.Network.Addresses) != 1 {
		t.Fatalf("after removing n2: %v %v", sl.Nodes, sl.Network.Addresses)
	}
	err = s.n2.Report(ctx, "n2", api.Report{})
	wantRefusal(t, "a removed node reports", err, http.StatusNotFound, "unknown node n2")
	err = h.admin.RemoveNode(ctx, "n2")
	wantRefusal(t, "remove twice", err, http.StatusNotFound, "unknown node n2")
}

func TestSliceStatusRows(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	s := setupSite(h)
	ctx := t.Context()
	if _, err := s.alice.CreateSlice(ctx, api.CreateSlice{Name: "pl_a", Image: "busybox", Nodes: []string{"n1", "n2"}}); err != nil {
		t.Fatal(err)
	}
	report(t, s.n1, "n1", "192.0.2.1", []string{"busybox"}, api.SliverStatus{Slice: "pl_a", State: "running", Address: "10.96.0.2",
		Usage: &api.Usage{MemoryBytes: 1 << 20}})
	st, err := s.alice.SliceStatus(ctx, "pl_a")
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Nodes) != 2 || st.Slice.Name != "pl_a" {
		t.Fatalf("status %+v", st)
	}
	if r := st.Nodes[0]; r.Node != "n1" || r.State != "running" || r.Address != "10.96.0.2" || r.Usage == nil || r.Usage.MemoryBytes != 1<<20 {
		t.Errorf("n1 row %+v", r)
	}
	if r := st.Nodes[1]; r.Node != "n2" || r.State != "pending" {
		t.Errorf("n2 row %+v, want pending (its report does not list pl_a)", r)
	}
	h.clock.Add(45 * time.Second)
	report(t, s.n2, "n2", "192.0.2.2", []string{"busybox"}, api.SliverStatus{Slice: "pl_a", State: "failed", Reason: "image gone"})
	st, _ = s.alice.SliceStatus(ctx, "pl_a")
	if r := st.Nodes[0]; r.State != "unreachable" || r.LastSeen.IsZero() {
		t.Errorf("stale n1 row %+v, want unreachable with its last sighting", r)
	}
	if r := st.Nodes[1]; r.State != "failed" || r.Reason != "image gone" {
		t.Errorf("n2 row %+v", r)
	}
}

func TestExpiredSlicesAreSwept(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	s := setupSite(h)
	ctx := t.Context()
	now := h.clock.Now()
	for _, c := range []struct {
		name string
		d    time.Duration
	}{{"pl_soon", time.Hour}, {"pl_later", 3 * time.Hour}} {
		if _, err := s.alice.CreateSlice(ctx, api.CreateSlice{Name: c.name, Image: "busybox", Nodes: []string{"n1"}, Expires: now.Add(c.d)}); err != nil {
			t.Fatal(err)
		}
	}
	next, err := h.srv.sweep(ctx)
	if err != nil || !next.Equal(now.Add(time.Hour).UTC()) {
		t.Fatalf("first sweep: next %v %v", next, err)
	}
	a, _ := s.n1.Assignment(ctx, "n1")
	if len(a.Slivers) != 2 {
		t.Fatalf("n1 runs %d slivers, want 2", len(a.Slivers))
	}
	h.clock.Add(2 * time.Hour)
	// Even before a sweep, an expired slice is gone from the assignment.
	a, _ = s.n1.Assignment(ctx, "n1")
	if len(a.Slivers) != 1 || a.Slivers[0].Slice != "pl_later" {
		t.Fatalf("after pl_soon expired: %+v", a.Slivers)
	}
	sweepCtx, cancel := contextWithCancel(t)
	done := make(chan struct{})
	go func() { h.srv.RunSweeper(sweepCtx); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for !slices.Equal(h.sliceNames(), []string{"pl_later"}) {
		if time.Now().After(deadline) {
			t.Fatalf("slices %v 5s after pl_soon expired", h.sliceNames())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
	// Its VNI (the first, 4096) is free again.
	sl, err := s.alice.CreateSlice(ctx, api.CreateSlice{Name: "pl_new", Image: "busybox"})
	if err != nil || sl.Network.VNI != 4096 {
		t.Fatalf("new slice after the sweep: %+v %v", sl.Network, err)
	}
}
