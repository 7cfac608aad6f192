package authority

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"pcr/slices/api"
	"pcr/slices/ca"
)

func TestStoppingEndsWatchesAndExecWaitsInOneLine(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	s := setupSite(h)
	ctx := t.Context()
	if _, err := s.alice.CreateSlice(ctx, api.CreateSlice{Name: "pl_a", Image: "busybox", Nodes: []string{"n1", "n2"}}); err != nil {
		t.Fatal(err)
	}
	cert, err := h.ca.ServerCertificate([]string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- h.srv.Serve(sctx, ln, cert) }()
	admin, err := api.NewClient("https://"+ln.Addr().String(), h.tlsFor(ca.Identity{Name: "root", Role: ca.RoleAdmin}))
	if err != nil {
		t.Fatal(err)
	}

	watching := make(chan struct{}, 1)
	watchEnded := make(chan error, 1)
	go func() {
		watchEnded <- admin.Watch(ctx, "n1", func(*api.Assignment) error {
			select {
			case watching <- struct{}{}:
			default:
			}
			return nil
		})
	}()
	<-watching
	execDone := make(chan error, 1)
	go func() {
		// No node manager answers: the wait would last its 60 s.
		_, err := admin.Exec(ctx, "pl_a", api.ExecRequest{All: true, Cmd: []string{"id"}, Timeout: 60})
		execDone <- err
	}()
	time.Sleep(300 * time.Millisecond) // the exec is waiting
	start := time.Now()
	stop()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(4 * time.Second):
		t.Fatal("Serve did not return within 4s of its stop with a watch and an exec wait open")
	}
	t.Logf("Serve returned %s after its stop", time.Since(start))
	wantRefusal(t, "exec wait at shutdown", <-execDone, http.StatusServiceUnavailable,
		"exec in slice pl_a: the authority stopped before nodes n1, n2 answered")
	select {
	case <-watchEnded:
	case <-time.After(2 * time.Second):
		t.Fatal("the watch stream did not end with the server")
	}
	if a, err := s.n1.Assignment(ctx, "n1"); err != nil || len(a.Exec) != 0 {
		t.Fatalf("jobs left for n1 after the stop: %+v %v", a.Exec, err)
	}
}
