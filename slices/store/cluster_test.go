package store_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"pcr/slices/api"
	"pcr/slices/authority"
	"pcr/slices/ca"
	"pcr/slices/store"
)

// freePorts reserves n loopback ports by listening on :0 and closing;
// another process could take one before etcd binds it, a small window a
// test can live with.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return ports
}

// startCluster starts three members at once (each waits for a quorum).
func startCluster(t *testing.T) []*store.Embedded {
	t.Helper()
	ports := freePorts(t, 6)
	dir := t.TempDir()
	var initial []string
	for i := range 3 {
		initial = append(initial, fmt.Sprintf("m%d=http://127.0.0.1:%d", i, ports[2*i+1]))
	}
	members := make([]*store.Embedded, 3)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Go(func() {
			members[i], errs[i] = store.StartMember(store.MemberConfig{
				Name:           fmt.Sprintf("m%d", i),
				DataDir:        filepath.Join(dir, fmt.Sprintf("m%d", i)),
				ClientURL:      fmt.Sprintf("http://127.0.0.1:%d", ports[2*i]),
				PeerURL:        fmt.Sprintf("http://127.0.0.1:%d", ports[2*i+1]),
				InitialCluster: strings.Join(initial, ","),
				Log:            slog.New(slog.DiscardHandler),
				ReadyTimeout:   20 * time.Second,
			})
		})
	}
	wg.Wait()
	for i, m := range members {
		if m != nil {
			t.Cleanup(m.Close)
		}
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
	}
	return members
}

func TestAuthorityOnAThreeMemberClusterSurvivesLosingTheLeader(t *testing.T) {
	t.Parallel()
	members := startCluster(t)
	var endpoints []string
	for _, m := range members {
		endpoints = append(endpoints, m.Endpoints()...)
	}
	ctx := t.Context()
	st, err := store.Open(ctx, endpoints, store.Options{}, slog.New(slog.DiscardHandler), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	caDir := filepath.Join(t.TempDir(), "ca")
	authCA, err := ca.Init(caDir, "cluster test")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := authority.New(authority.Config{Store: st, CA: authCA, StoreTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	serverCert, err := authCA.ServerCertificate([]string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(srv.Handler())
	ts.EnableHTTP2 = true
	ts.TLS = ca.ServerTLS(authCA, serverCert)
	ts.StartTLS()
	defer ts.Close()
	clientFor := func(certPEM, keyPEM []byte) *api.Client {
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		cl, err := api.NewClient(ts.URL, &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: authCA.Pool(), Certificates: []tls.Certificate{pair}})
		if err != nil {
			t.Fatal(err)
		}
		return cl
	}
	adminCert, adminKey, err := authCA.IssueKeyPair(ca.Identity{Name: "root", Role: ca.RoleAdmin}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	admin := clientFor(adminCert, adminKey)

	// A node joins and reports; it follows its assignment.
	added, err := admin.AddNode(ctx, api.AddNode{Name: "n1", Address: "192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	nodeKey, csr, _ := ca.NewKeyAndCSR("n1")
	anon, _ := api.NewClient(ts.URL, &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: authCA.Pool()})
	iss, err := anon.Join(ctx, api.Join{Token: added.Token, CSR: string(csr)})
	if err != nil {
		t.Fatal(err)
	}
	n1 := clientFor([]byte(iss.Certificate), nodeKey)
	if err := n1.Report(ctx, "n1", api.Report{Images: []string{"busybox"}, Capacity: api.Capacity{CPUs: 2, Memory: 4 << 30}}); err != nil {
		t.Fatal(err)
	}
	wctx, stopWatch := context.WithCancel(ctx)
	assignments := make(chan *api.Assignment, 32)
	watchDone := make(chan error, 1)
	go func() {
		watchDone <- n1.Watch(wctx, "n1", func(a *api.Assignment) error {
			assignments <- a
			return nil
		})
	}()
	defer func() {
		// The stream must have lasted the whole test; how it ends once
		// cancelled does not matter.
		select {
		case err := <-watchDone:
			t.Errorf("watch ended early: %v", err)
		default:
			stopWatch()
			<-watchDone
		}
	}()
	waitFor := func(what string, want func(*api.Assignment) bool) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case a := <-assignments:
				if want(a) {
					return
				}
			case <-deadline:
				t.Fatalf("watch: no assignment with %s within 10s", what)
			}
		}
	}
	has := func(name string) func(*api.Assignment) bool {
		return func(a *api.Assignment) bool {
			for _, s := range a.Slivers {
				if s.Slice == name {
					return true
				}
			}
			return false
		}
	}
	for i := range 3 {
		name := fmt.Sprintf("pl_s%d", i)
		if _, err := admin.CreateSlice(ctx, api.CreateSlice{Name: name, Image: "busybox", Nodes: []string{"n1"}}); err != nil {
			t.Fatal(err)
		}
		waitFor(name, has(name))
	}

	leader := -1
	for i, m := range members {
		if m.IsLeader() {
			leader = i
		}
	}
	if leader < 0 {
		t.Fatal("no member leads the cluster")
	}
	start := time.Now()
	members[leader].Close()
	t.Logf("closed the leader m%d", leader)

	// Creates and reads go on through the two members left, after an
	// election; the first call may wait for it.
	sl, err := admin.CreateSlice(ctx, api.CreateSlice{Name: "pl_after", Image: "busybox", Nodes: []string{"n1"}})
	if err != nil {
		t.Fatalf("create after losing the leader: %v", err)
	}
	t.Logf("first create after losing the leader took %s", time.Since(start))
	if sl.Network == nil || sl.Network.VNI != 4099 {
		t.Fatalf("pl_after network %+v, want the next VNI 4099", sl.Network)
	}
	all, err := admin.ListSlices(ctx)
	if err != nil || len(all) != 4 {
		t.Fatalf("list after losing the leader: %d slices, %v", len(all), err)
	}
	waitFor("pl_after", has("pl_after"))
	t.Logf("the watch delivered pl_after %s after the leader went", time.Since(start))
	if err := admin.DeleteSlice(ctx, "pl_s0"); err != nil {
		t.Fatal(err)
	}
	waitFor("pl_s0 gone", func(a *api.Assignment) bool { return !has("pl_s0")(a) && has("pl_after")(a) })
}
