package node

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pcr/vserver"
)

// Every route refuses a peer that is not root before touching anything
// (the server here has no daemon behind it at all).
func TestServerRefusesNonRoot(t *testing.T) {
	h := (&server{log: discard()}).handler()
	for _, tt := range []struct{ method, path, action string }{
		{"GET", "/v1/vservers", "list vservers"},
		{"POST", "/v1/vservers", "create vservers"},
		{"GET", "/v1/vservers/pl_a", "inspect vservers"},
		{"POST", "/v1/vservers/pl_a/start", "start vservers"},
		{"POST", "/v1/vservers/pl_a/stop", "stop vservers"},
		{"POST", "/v1/vservers/pl_a/restart", "restart vservers"},
		{"DELETE", "/v1/vservers/pl_a", "remove vservers"},
		{"GET", "/v1/vservers/pl_a/stats", "read vserver stats"},
		{"GET", "/v1/node", "read the node's status"},
	} {
		for _, p := range []peer{{uid: 65534, known: true}, {uid: 1000, known: true}, {}} {
			req := httptest.NewRequest(tt.method, tt.path, strings.NewReader(`{}`))
			req = req.WithContext(context.WithValue(req.Context(), peerKey{}, p))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusForbidden {
				t.Errorf("%s %s as %+v: status %d, want 403", tt.method, tt.path, p, rec.Code)
				continue
			}
			var body apiErrorBody
			json.Unmarshal(rec.Body.Bytes(), &body)
			if want := "permission denied: only the node's admin (root) may " + tt.action; body.Error != want {
				t.Errorf("%s %s: error %q, want %q", tt.method, tt.path, body.Error, want)
			}
		}
	}
}

func TestServerUnknownRoute(t *testing.T) {
	h := (&server{log: discard()}).handler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/v2/nothing", nil))
	if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), "no such API: GET /v2/nothing") {
		t.Fatalf("unknown route: %d %s", rec.Code, rec.Body)
	}
}

func TestStatusOf(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want int
	}{
		{errors.New("boom"), 500},
		{&Refusal{"no"}, 403},
		{&httpError{400, "bad"}, 400},
		{wrapf("get vserver: %w", vserver.ErrNotFound), 404},
		{wrapf("create vserver pl_a: %w", vserver.ErrExists), 409},
	} {
		if got := statusOf(tt.err); got != tt.want {
			t.Errorf("statusOf(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}

func wrapf(format string, err error) error { return errors.Join(err, errors.New(format)) }

// The client turns the server's error lines back into errors with the
// same text, 404 and 409 into the vserver package's sentinels, and reads
// the peer's credentials the server checks.
func TestClientOverSocket(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "node.sock")
	if _, err := Dial(sock); !errors.Is(err, ErrNoDaemon) {
		t.Fatalf("Dial of a missing socket: %v, want ErrNoDaemon", err)
	}
	ln, err := listenSocket(sock)
	if err != nil {
		t.Fatal(err)
	}
	var seen peer
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/vservers/{slice}", func(w http.ResponseWriter, r *http.Request) {
		seen, _ = r.Context().Value(peerKey{}).(peer)
		switch r.PathValue("slice") {
		case "pl_none":
			writeError(w, wrapf("%w", vserver.ErrNotFound))
		case "pl_dup":
			writeError(w, &httpError{409, "create vserver pl_dup: vserver already exists"})
		default:
			writeJSON(w, 200, &vserver.VServer{Spec: vserver.Spec{Slice: r.PathValue("slice")}, State: "running"})
		}
	})
	mux.HandleFunc("POST /v1/vservers", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &httpError{403, "vserver spam_x refused: site spam is refused by the node's policy"})
	})
	srv := &http.Server{Handler: mux, ConnContext: peerOf}
	go srv.Serve(ln)
	defer srv.Close()

	fi, err := os.Stat(sock)
	if err != nil || fi.Mode().Perm() != 0o666 {
		t.Fatalf("socket mode %v (%v), want 0666: who may do what is decided per request", fi.Mode(), err)
	}
	c, err := Dial(sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	v, err := c.Get(ctx, "pl_a")
	if err != nil || v.Slice != "pl_a" || v.State != "running" {
		t.Fatalf("Get: %+v %v", v, err)
	}
	if !seen.known || seen.uid != uint32(os.Getuid()) || seen.pid != int32(os.Getpid()) {
		t.Errorf("peer credentials %+v, want uid %d pid %d", seen, os.Getuid(), os.Getpid())
	}
	if _, err := c.Get(ctx, "pl_none"); !errors.Is(err, vserver.ErrNotFound) {
		t.Errorf("Get of a missing vserver: %v, want ErrNotFound", err)
	}
	if _, err := c.Get(ctx, "pl_dup"); !errors.Is(err, vserver.ErrExists) || err.Error() != "create vserver pl_dup: vserver already exists" {
		t.Errorf("409: %v, want ErrExists with the server's line", err)
	}
	_, err = c.Create(ctx, vserver.Spec{Slice: "spam_x", Image: "busybox"})
	if err == nil || err.Error() != "vserver spam_x refused: site spam is refused by the node's policy" {
		t.Errorf("Create refused: %v", err)
	}

	// A socket a live server answers on is not replaced; a dead one is.
	if _, err := listenSocket(sock); err == nil || !strings.Contains(err.Error(), "another node manager is listening") {
		t.Errorf("second listen on a live socket: %v", err)
	}
	srv.Close()
	if _, err := Dial(sock); !errors.Is(err, ErrNoDaemon) {
		t.Errorf("Dial of a stale socket: %v, want ErrNoDaemon", err)
	}
	ln2, err := listenSocket(sock)
	if err != nil {
		t.Fatalf("listen over a stale socket: %v", err)
	}
	ln2.Close()
}

func TestLockRoot(t *testing.T) {
	root := t.TempDir()
	unlock, err := lockRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	// flock is per open file: a second open in this process conflicts as
	// a second daemon would.
	if _, err := lockRoot(root); err == nil || !strings.Contains(err.Error(), "another node manager (pid ") {
		t.Fatalf("second lock: %v", err)
	}
	unlock()
	unlock2, err := lockRoot(root)
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	unlock2()
}

func TestMetricsListenAddr(t *testing.T) {
	for in, want := range map[string]string{":9101": "127.0.0.1:9101", "0.0.0.0:9101": "0.0.0.0:9101", "[::1]:80": "[::1]:80"} {
		if got, err := MetricsListenAddr(in); err != nil || got != want {
			t.Errorf("MetricsListenAddr(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := MetricsListenAddr("9101"); err == nil {
		t.Error("a bare port without colon should be refused")
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
