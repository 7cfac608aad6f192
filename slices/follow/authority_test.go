package follow

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"pcr/slices/api"
	"pcr/slices/ca"
)

// wireAuthority speaks the authority's side of the wire protocol over
// real mutual TLS, with certificates from slices/ca: enough of it to test
// the follower as a client (join, slivers and their watch stream,
// reports, exec results), with knobs to break it.
type wireAuthority struct {
	t      *testing.T
	ca     *ca.CA
	caFile string
	srv    *httptest.Server
	token  string

	mu     sync.Mutex
	assign api.Assignment
	down   bool          // refuse with 503, as an authority restarting
	wake   chan struct{} // closed when the assignment changes
	broken chan struct{} // closed to cut every open watch stream
	closed chan struct{}
	// resultFailures: refuse that many exec results with 503, as an
	// authority whose store lost its quorum.
	resultFailures int

	reports chan api.Report
	results chan postedResult
}

type postedResult struct {
	id     string
	result api.ExecResult
}

func newWireAuthority(t *testing.T) *wireAuthority {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "authority")
	c, err := ca.Init(dir, "test authority")
	if err != nil {
		t.Fatal(err)
	}
	a := &wireAuthority{t: t, ca: c, caFile: filepath.Join(dir, "ca.crt"), token: "join-token-node1",
		wake: make(chan struct{}), broken: make(chan struct{}), closed: make(chan struct{}),
		reports: make(chan api.Report, 64), results: make(chan postedResult, 64)}
	a.assign = api.Assignment{Node: "node1", Revision: 1, Slivers: []api.Sliver{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/join", a.join)
	mux.HandleFunc("GET /v1/nodes/{name}/slivers", a.slivers)
	mux.HandleFunc("POST /v1/nodes/{name}/report", a.report)
	mux.HandleFunc("POST /v1/nodes/{name}/exec/{id}", a.execResult)
	a.srv = httptest.NewUnstartedServer(mux)
	cert, err := c.ServerCertificate([]string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	a.srv.TLS = ca.ServerTLS(c, cert)
	a.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	a.srv.StartTLS()
	t.Cleanup(func() {
		close(a.closed)
		a.srv.Close()
	})
	return a
}

func refuse(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(api.Error{Error: msg})
}

// node checks the caller's certificate is the node named in the path.
func (a *wireAuthority) node(w http.ResponseWriter, r *http.Request) bool {
	a.mu.Lock()
	down := a.down
	a.mu.Unlock()
	if down {
		refuse(w, http.StatusServiceUnavailable, "the authority is starting")
		return false
	}
	id, err := ca.RequireClient(r)
	if err != nil {
		refuse(w, http.StatusUnauthorized, err.Error())
		return false
	}
	if name := r.PathValue("name"); id.Role != ca.RoleNode || id.Name != name {
		refuse(w, http.StatusForbidden, fmt.Sprintf("%s may not act for node %s", id, name))
		return false
	}
	return true
}

func (a *wireAuthority) join(w http.ResponseWriter, r *http.Request) {
	var in api.Join
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		refuse(w, http.StatusBadRequest, err.Error())
		return
	}
	if in.Token != a.token {
		refuse(w, http.StatusForbidden, "join token invalid or already used")
		return
	}
	cert, err := a.ca.Issue(ca.Identity{Name: "node1", Role: ca.RoleNode}, []byte(in.CSR), time.Hour)
	if err != nil {
		refuse(w, http.StatusBadRequest, err.Error())
		return
	}
	json.NewEncoder(w).Encode(api.Issued{Certificate: string(cert), CA: string(a.ca.CertPEM())})
}

func (a *wireAuthority) slivers(w http.ResponseWriter, r *http.Request) {
	if !a.node(w, r) {
		return
	}
	if r.URL.Query().Get("watch") != "true" {
		a.mu.Lock()
		cur := a.assign
		a.mu.Unlock()
		json.NewEncoder(w).Encode(cur)
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	enc := json.NewEncoder(w)
	for {
		a.mu.Lock()
		cur, wake, broken := a.assign, a.wake, a.broken
		a.mu.Unlock()
		if enc.Encode(api.WatchMessage{Assignment: &cur}) != nil {
			return
		}
		w.(http.Flusher).Flush()
		select {
		case <-wake:
		case <-broken:
			return
		case <-a.closed:
			return
		case <-r.Context().Done():
			return
		}
	}
}

func (a *wireAuthority) report(w http.ResponseWriter, r *http.Request) {
	if !a.node(w, r) {
		return
	}
	var rep api.Report
	if err := json.NewDecoder(r.Body).Decode(&rep); err != nil {
		refuse(w, http.StatusBadRequest, err.Error())
		return
	}
	a.reports <- rep
	w.WriteHeader(http.StatusNoContent)
}

func (a *wireAuthority) execResult(w http.ResponseWriter, r *http.Request) {
	if !a.node(w, r) {
		return
	}
	a.mu.Lock()
	fail := a.resultFailures > 0
	if fail {
		a.resultFailures--
	}
	a.mu.Unlock()
	if fail {
		refuse(w, http.StatusServiceUnavailable, "store unavailable")
		return
	}
	var res api.ExecResult
	if err := json.NewDecoder(r.Body).Decode(&res); err != nil {
		refuse(w, http.StatusBadRequest, err.Error())
		return
	}
	a.results <- postedResult{id: r.PathValue("id"), result: res}
	w.WriteHeader(http.StatusNoContent)
}

// publish makes as the assignment and wakes every watch stream.
func (a *wireAuthority) publish(as api.Assignment) {
	a.mu.Lock()
	as.Node = "node1"
	a.assign = as
	close(a.wake)
	a.wake = make(chan struct{})
	a.mu.Unlock()
}

// cut ends every open watch stream and, with down, refuses calls until
// it is up again.
func (a *wireAuthority) cut(down bool) {
	a.mu.Lock()
	a.down = down
	close(a.broken)
	a.broken = make(chan struct{})
	a.mu.Unlock()
}

func (a *wireAuthority) setDown(down bool) {
	a.mu.Lock()
	a.down = down
	a.mu.Unlock()
}

// nodeFiles writes a certificate and key issued to name; paths in dir.
func (a *wireAuthority) nodeFiles(name string) (certFile, keyFile string) {
	a.t.Helper()
	certPEM, keyPEM, err := a.ca.IssueKeyPair(ca.Identity{Name: name, Role: ca.RoleNode}, time.Hour)
	if err != nil {
		a.t.Fatal(err)
	}
	dir := a.t.TempDir()
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, certPEM, 0o644); err != nil {
		a.t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		a.t.Fatal(err)
	}
	return certFile, keyFile
}

// config is a follower's config for this authority as node name with
// the given files.
func (a *wireAuthority) config(name, certFile, keyFile string, logs *logBuffer) Config {
	return Config{Authority: a.srv.URL, Name: name, CAFile: a.caFile, CertFile: certFile, KeyFile: keyFile,
		Address: "192.0.2.7", Log: slog.New(slog.NewTextHandler(logs, nil))}
}

// logBuffer collects a follower's log for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.buf.String(), s)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// eventually polls cond until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return ctx
}
