package authority

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"pcr/slices/api"
	"pcr/slices/ca"
	"pcr/slices/store"
)

func TestJoinTradesTheTokenOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := t.Context()
	added, err := h.admin.AddNode(ctx, api.AddNode{Name: "n1", Address: "192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	if added.Node.Health != api.HealthNotJoined || !strings.HasPrefix(added.Token, "pcrjoin-n1-") {
		t.Fatalf("added %+v", added)
	}
	_, err = h.admin.AddNode(ctx, api.AddNode{Name: "n1"})
	wantRefusal(t, "add n1 twice", err, http.StatusConflict, "node n1 exists")
	_, err = h.admin.AddNode(ctx, api.AddNode{Name: "n2", Address: "somehost"})
	wantRefusal(t, "add with a host name", err, http.StatusBadRequest, "invalid address somehost: want an IP address")
	_, err = h.admin.AddNode(ctx, api.AddNode{Name: "N_2"})
	wantRefusal(t, "add a bad name", err, http.StatusBadRequest, `invalid node name "N_2"`)

	keyPEM, csrPEM, err := ca.NewKeyAndCSR("n1")
	if err != nil {
		t.Fatal(err)
	}
	anon := h.anonymous()
	wrong := added.Token[:len(added.Token)-4] + "aaaa"
	if wrong == added.Token {
		wrong = added.Token[:len(added.Token)-4] + "bbbb"
	}
	_, err = anon.Join(ctx, api.Join{Token: wrong, CSR: string(csrPEM)})
	wantRefusal(t, "join with a wrong token", err, http.StatusUnauthorized, "wrong token for node n1")
	_, err = anon.Join(ctx, api.Join{Token: "hello", CSR: string(csrPEM)})
	wantRefusal(t, "join with garbage", err, http.StatusUnauthorized, "malformed join token")
	_, otherCSR, _ := ca.NewKeyAndCSR("n2")
	_, err = anon.Join(ctx, api.Join{Token: added.Token, CSR: string(otherCSR)})
	wantRefusal(t, "join n1 with a CSR for n2", err, http.StatusBadRequest, `CSR is for "n2", not "n1"`)

	iss, err := anon.Join(ctx, api.Join{Token: added.Token, CSR: string(csrPEM)})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(iss.CA, "BEGIN CERTIFICATE") {
		t.Fatalf("issued CA %q", iss.CA)
	}
	n1 := h.clientFromPEM([]byte(iss.Certificate), keyPEM)
	if _, err := n1.Assignment(ctx, "n1"); err != nil {
		t.Fatalf("the joined node cannot read its slivers: %v", err)
	}
	_, err = anon.Join(ctx, api.Join{Token: added.Token, CSR: string(csrPEM)})
	wantRefusal(t, "second join", err, http.StatusUnauthorized, "node n1 has already joined")

	nodes, err := h.admin.ListNodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 1 || nodes[0].Joined.IsZero() || nodes[0].Health != api.HealthUnreachable {
		t.Fatalf("after join, before a report: %+v", nodes)
	}
	report(t, n1, "n1", "192.0.2.1", []string{"busybox"})
	nodes, _ = h.admin.ListNodes(ctx)
	if nodes[0].Health != api.HealthUp || nodes[0].Capacity.CPUs != 4 || !slices.Equal(nodes[0].Images, []string{"busybox"}) {
		t.Fatalf("after a report: %+v", nodes[0])
	}
	h.clock.Add(31 * time.Second)
	nodes, _ = h.admin.ListNodes(ctx)
	if nodes[0].Health != api.HealthUnreachable || nodes[0].LastSeen.IsZero() {
		t.Fatalf("31s after its report: %+v", nodes[0])
	}
}

func TestCallersWithoutAValidCertificateAreRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := t.Context()
	attempt := api.CreateSlice{Name: "pl_a", Image: "busybox", Nodes: []string{}}

	_, err := h.anonymous().CreateSlice(ctx, attempt)
	wantRefusal(t, "no certificate", err, http.StatusUnauthorized, "no client certificate")

	// A certificate from another CA, and an expired one from this CA, are
	// refused at the TLS handshake, which names the reason.
	other, err := ca.Init(filepath.Join(t.TempDir(), "ca"), "someone else")
	if err != nil {
		t.Fatal(err)
	}
	fc, fk, err := other.IssueKeyPair(ca.Identity{Name: "root", Role: ca.RoleAdmin}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := tls.X509KeyPair(fc, fk)
	if err != nil {
		t.Fatal(err)
	}
	expired := h.expiredCert(ca.Identity{Name: "bob", Role: ca.RolePI, Site: "pl"})
	for _, c := range []struct {
		what, alert string
		cert        tls.Certificate
	}{{"foreign CA", "unknown certificate authority", foreign}, {"expired", "expired certificate", expired}} {
		// Go's client sends only a certificate the server's CA list
		// accepts; a foreign one would not even be shown. Show it anyway.
		conf := &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: h.ca.Pool(),
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &c.cert, nil }}
		// TLS 1.3 lets the client send its request before the server's
		// verdict arrives, so it sees the alert or a broken pipe.
		_, err := h.clientWith(h.ts, conf).CreateSlice(ctx, attempt)
		var se *api.StatusError
		if err == nil || errors.As(err, &se) || !strings.Contains(err.Error(), "unreachable") {
			t.Errorf("%s certificate: got %v, want a refusal at the TLS handshake", c.what, err)
		} else if !strings.Contains(err.Error(), c.alert) {
			t.Logf("%s certificate: %v", c.what, err)
		}
		// Behind a TLS layer that lets any certificate through, the
		// handlers still refuse it.
		lax := h.serve(tls.RequireAnyClientCert)
		_, err = h.clientWith(lax, conf).CreateSlice(ctx, attempt)
		wantRefusal(t, c.what+" certificate behind a lax TLS layer", err, http.StatusUnauthorized, "certificate not issued by this authority")
	}
	if got := h.sliceNames(); len(got) != 0 {
		t.Fatalf("refused callers stored slices %v", got)
	}
}

func TestUsersAreAddedByAnAdminOnly(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := t.Context()
	alice := h.user("alice", "pi", "pl")
	_, csr, _ := ca.NewKeyAndCSR("bob")
	_, err := alice.AddUser(ctx, api.AddUser{Name: "bob", Role: "user", Site: "pl", CSR: string(csr)})
	wantRefusal(t, "a PI adds a user", err, http.StatusForbidden, "pi alice may not add users: only an admin may")
	_, err = h.admin.AddUser(ctx, api.AddUser{Name: "bob", Role: "wizard", Site: "pl", CSR: string(csr)})
	wantRefusal(t, "unknown role", err, http.StatusBadRequest, `unknown role "wizard"`)
	_, err = h.admin.AddUser(ctx, api.AddUser{Name: "bob", Role: "user", CSR: string(csr)})
	wantRefusal(t, "user without a site", err, http.StatusBadRequest, "a user needs a site")
	_, err = h.admin.AddUser(ctx, api.AddUser{Name: "bob", Role: "node", CSR: string(csr)})
	wantRefusal(t, "user with role node", err, http.StatusBadRequest, "role node is for nodes")
	_, err = h.admin.AddUser(ctx, api.AddUser{Name: "alice", Role: "user", Site: "pl", CSR: string(csr)})
	wantRefusal(t, "CSR for someone else", err, http.StatusBadRequest, `CSR is for "bob", not "alice"`)
	_, aliceCSR, _ := ca.NewKeyAndCSR("alice")
	_, err = h.admin.AddUser(ctx, api.AddUser{Name: "alice", Role: "user", Site: "mit", CSR: string(aliceCSR)})
	wantRefusal(t, "alice twice", err, http.StatusConflict, "user alice exists")
	h.user("bob", "user", "pl")

	var users []api.User
	if status, msg := h.getJSON(h.tlsFor(ca.Identity{Name: "root", Role: ca.RoleAdmin}), api.PathUsers, &users); status != http.StatusOK {
		t.Fatalf("list users: %d %s", status, msg)
	}
	if len(users) != 2 || users[0].Name != "alice" || users[0].Role != "pi" || users[1].Site != "pl" {
		t.Fatalf("users %+v", users)
	}
	status, msg := h.getJSON(h.tlsFor(ca.Identity{Name: "alice", Role: ca.RolePI, Site: "pl"}), api.PathUsers, &users)
	if status != http.StatusForbidden || !strings.Contains(msg, "only an admin may") {
		t.Fatalf("a PI lists users: %d %q", status, msg)
	}
	sites, err := h.st.ListSites(ctx)
	if err != nil || len(sites) != 1 || sites[0].Name != "pl" {
		t.Fatalf("sites %+v %v (the refused alice@mit must not add mit)", sites, err)
	}
}

func TestNodeRoutesServeOnlyTheNodeItself(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := t.Context()
	n1 := h.node("n1", "")
	n2 := h.node("n2", "")
	bob := h.user("bob", "user", "pl")
	_, err := n2.Assignment(ctx, "n1")
	wantRefusal(t, "n2 reads n1's slivers", err, http.StatusForbidden, "node n2 may read only its own slivers")
	_, err = bob.Assignment(ctx, "n1")
	wantRefusal(t, "a user reads n1's slivers", err, http.StatusForbidden, "user bob may not read the slivers of node n1")
	if _, err := h.admin.Assignment(ctx, "n1"); err != nil {
		t.Fatalf("an admin reads n1's slivers: %v", err)
	}
	err = n2.Report(ctx, "n1", api.Report{})
	wantRefusal(t, "n2 reports for n1", err, http.StatusForbidden, "node n2 may send only its own report")
	err = n2.PostExecResult(ctx, "n1", "abc", api.ExecResult{})
	wantRefusal(t, "n2 answers n1's job", err, http.StatusForbidden, "node n2 may answer only its own exec jobs")
	err = n1.PostExecResult(ctx, "n1", "abc", api.ExecResult{})
	wantRefusal(t, "answer to no job", err, http.StatusNotFound, "node n1 has no exec job abc")
	err = n1.Report(ctx, "n1", api.Report{Address: "not-an-ip"})
	wantRefusal(t, "report with a bad address", err, http.StatusBadRequest, "invalid address not-an-ip")
	if _, err := h.st.GetSeen(ctx, "n1"); err == nil {
		t.Fatal("a refused report was stored")
	}
	_, err = h.admin.Assignment(ctx, "n9")
	wantRefusal(t, "slivers of an unknown node", err, http.StatusNotFound, "unknown node n9")
}

func TestUnknownRouteAndBadBodyAnswerJSON(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := t.Context()
	_, err := h.admin.SliceAction(ctx, "pl_a", "explode")
	wantRefusal(t, "unknown action", err, http.StatusNotFound, "no route POST /v1/slices/pl_a/explode")
	_, err = h.admin.CreateSlice(ctx, api.CreateSlice{Name: "pl_a", Image: "x", Rspec: absurdMemory()})
	wantRefusal(t, "absurd rspec", err, http.StatusBadRequest, "create slice pl_a: invalid rspec: memory")
	_, err = h.admin.AddNode(ctx, api.AddNode{Name: "n1", Address: strings.Repeat("1", 2<<20)})
	wantRefusal(t, "a 2 MiB body", err, http.StatusRequestEntityTooLarge, "request body over 1048576 bytes")

	// An escaped slash reaches the handler as part of one name.
	conf := h.tlsFor(ca.Identity{Name: "root", Role: ca.RoleAdmin})
	var out any
	status, msg := h.getJSON(conf, "/v1/slices/pl_a%2Fb", &out)
	if status != http.StatusBadRequest || msg != `read slice pl_a/b: invalid name "pl_a/b": empty or holds a '/'` {
		t.Errorf("GET a slice named with %%2F: %d %q", status, msg)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: conf}}
	defer hc.CloseIdleConnections()
	req, _ := http.NewRequestWithContext(ctx, http.MethodDelete, h.ts.URL+"/v1/nodes/a%2Fb", nil)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("DELETE a node named with %%2F: %d", resp.StatusCode)
	}
}

func TestACallerThatLeftIsNotLoggedAsAFailure(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	var logs strings.Builder
	srv, err := New(Config{Store: h.st, CA: h.ca, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/v1/slices", nil)
	srv.writeError(httptest.NewRecorder(), req, fmt.Errorf("list slices: %w", context.Canceled))
	srv.writeError(httptest.NewRecorder(), req, fmt.Errorf("list slices: %w: %w", store.ErrUnavailable, context.Canceled))
	if logs.Len() != 0 {
		t.Errorf("a caller that went away was logged:\n%s", logs.String())
	}
	req = httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/v1/slices", nil)
	srv.writeError(httptest.NewRecorder(), req, fmt.Errorf("list slices: %w", store.ErrUnavailable))
	if !strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("a failing store was not logged: %q", logs.String())
	}
}

func TestReplacedNodeCertificateIsRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := t.Context()
	old := h.node("nx", "192.0.2.9")
	report(t, old, "nx", "192.0.2.9", []string{"busybox"})
	if err := h.admin.RemoveNode(ctx, "nx"); err != nil {
		t.Fatal(err)
	}
	added, err := h.admin.AddNode(ctx, api.AddNode{Name: "nx"})
	if err != nil {
		t.Fatal(err)
	}
	const replaced = "certificate of node nx was replaced: join again"
	_, err = old.Assignment(ctx, "nx")
	wantRefusal(t, "old certificate before the new join", err, http.StatusForbidden, replaced)

	keyPEM, csrPEM, err := ca.NewKeyAndCSR("nx")
	if err != nil {
		t.Fatal(err)
	}
	iss, err := h.anonymous().Join(ctx, api.Join{Token: added.Token, CSR: string(csrPEM)})
	if err != nil {
		t.Fatal(err)
	}
	renewed := h.clientFromPEM([]byte(iss.Certificate), keyPEM)

	_, err = old.Assignment(ctx, "nx")
	wantRefusal(t, "old certificate reads slivers", err, http.StatusForbidden, replaced)
	err = old.Watch(ctx, "nx", func(*api.Assignment) error { return nil })
	wantRefusal(t, "old certificate watches slivers", err, http.StatusForbidden, replaced)
	err = old.Report(ctx, "nx", api.Report{Address: "203.0.113.66", Images: []string{"evil"}})
	wantRefusal(t, "old certificate reports", err, http.StatusForbidden, replaced)
	err = old.PostExecResult(ctx, "nx", "abc", api.ExecResult{})
	wantRefusal(t, "old certificate answers a job", err, http.StatusForbidden, replaced)

	if _, err := renewed.Assignment(ctx, "nx"); err != nil {
		t.Fatalf("new certificate reads slivers: %v", err)
	}
	report(t, renewed, "nx", "192.0.2.10", []string{"busybox"})
	nodes, err := h.admin.ListNodes(ctx)
	if err != nil || len(nodes) != 1 || nodes[0].Address != "192.0.2.10" || !slices.Equal(nodes[0].Images, []string{"busybox"}) {
		t.Fatalf("after the new certificate's report: %+v %v", nodes, err)
	}
}
