package authority

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"log/slog"
	"math/big"
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
	"pcr/slices/store"
)

// clock is a settable Now for expiry and staleness; it starts at the
// real time so that certificates and etcd leases agree with it.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// harness is an authority over a private embedded etcd, served by an
// httptest TLS server with the production TLS config.
type harness struct {
	t      testing.TB
	dir    string
	ca     *ca.CA
	emb    *store.Embedded
	st     *store.Store
	srv    *Server
	ts     *httptest.Server
	clock  *clock
	admin  *api.Client
	nextID int
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	dir := t.TempDir()
	c, err := ca.Init(filepath.Join(dir, "ca"), "test authority")
	if err != nil {
		t.Fatal(err)
	}
	emb, err := store.StartEmbedded(dir, slog.New(slog.DiscardHandler), 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emb.Close)
	st, err := store.Open(t.Context(), emb.Endpoints(), store.Options{}, slog.New(slog.DiscardHandler), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h := &harness{t: t, dir: dir, ca: c, emb: emb, st: st, clock: &clock{t: time.Now()}}
	h.srv, err = New(Config{Store: st, CA: c, Now: h.clock.Now, StoreTimeout: 2 * time.Second,
		Log: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatal(err)
	}
	h.ts = h.serve(tls.VerifyClientCertIfGiven)
	h.admin = h.client(ca.Identity{Name: "root", Role: ca.RoleAdmin})
	return h
}

// serve starts a TLS test server in front of the handler. auth is the
// production tls.VerifyClientCertIfGiven, or a laxer mode to show that
// the handlers refuse on their own.
func (h *harness) serve(auth tls.ClientAuthType) *httptest.Server {
	cert, err := h.ca.ServerCertificate([]string{"127.0.0.1"}, time.Hour)
	if err != nil {
		h.t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(h.srv.Handler())
	ts.EnableHTTP2 = true
	ts.TLS = ca.ServerTLS(h.ca, cert)
	ts.TLS.ClientAuth = auth
	ts.Config.ErrorLog = log.New(io.Discard, "", 0) // handshake refusals are expected here
	ts.StartTLS()
	h.t.Cleanup(ts.Close)
	return ts
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// client is a caller holding a certificate for id, loaded the way the
// CLI loads one (ca.ClientTLS from files).
func (h *harness) client(id ca.Identity) *api.Client {
	h.t.Helper()
	return h.clientWith(h.ts, h.tlsFor(id))
}

func (h *harness) tlsFor(id ca.Identity) *tls.Config {
	h.t.Helper()
	certPEM, keyPEM, err := h.ca.IssueKeyPair(id, time.Hour)
	if err != nil {
		h.t.Fatal(err)
	}
	return h.tlsFromPEM(certPEM, keyPEM)
}

func (h *harness) clientFromPEM(certPEM, keyPEM []byte) *api.Client {
	h.t.Helper()
	return h.clientWith(h.ts, h.tlsFromPEM(certPEM, keyPEM))
}

func (h *harness) tlsFromPEM(certPEM, keyPEM []byte) *tls.Config {
	h.t.Helper()
	h.nextID++
	d := filepath.Join(h.dir, "creds", strings.Repeat("x", h.nextID))
	if err := os.MkdirAll(d, 0o700); err != nil {
		h.t.Fatal(err)
	}
	for name, data := range map[string][]byte{"ca.crt": h.ca.CertPEM(), "c.crt": certPEM, "c.key": keyPEM} {
		if err := os.WriteFile(filepath.Join(d, name), data, 0o600); err != nil {
			h.t.Fatal(err)
		}
	}
	conf, err := ca.ClientTLS(filepath.Join(d, "ca.crt"), filepath.Join(d, "c.crt"), filepath.Join(d, "c.key"))
	if err != nil {
		h.t.Fatal(err)
	}
	return conf
}

// getJSON is a raw GET for routes api.Client has no method for; it
// returns the status and decodes a 200 answer into out.
func (h *harness) getJSON(conf *tls.Config, path string, out any) (int, string) {
	h.t.Helper()
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: conf}}
	defer hc.CloseIdleConnections()
	resp, err := hc.Get(h.ts.URL + path)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e api.Error
		json.NewDecoder(resp.Body).Decode(&e)
		return resp.StatusCode, e.Error
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		h.t.Fatal(err)
	}
	return resp.StatusCode, ""
}

func (h *harness) clientWith(ts *httptest.Server, conf *tls.Config) *api.Client {
	h.t.Helper()
	cl, err := api.NewClient(ts.URL, conf)
	if err != nil {
		h.t.Fatal(err)
	}
	return cl
}

// anonymous trusts the authority but shows no certificate.
func (h *harness) anonymous() *api.Client {
	return h.clientWith(h.ts, &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: h.ca.Pool()})
}

// expiredCert signs, with the CA's key from its file, a user certificate
// that expired an hour ago: nothing in ca makes one, on purpose.
func (h *harness) expiredCert(id ca.Identity) tls.Certificate {
	h.t.Helper()
	keyPEM, err := os.ReadFile(filepath.Join(h.dir, "ca", "ca.key"))
	if err != nil {
		h.t.Fatal(err)
	}
	block, _ := pem.Decode(keyPEM)
	caKey, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		h.t.Fatal(err)
	}
	leafKeyPEM, csrPEM, err := ca.NewKeyAndCSR(id.Name)
	if err != nil {
		h.t.Fatal(err)
	}
	cb, _ := pem.Decode(csrPEM)
	csr, err := x509.ParseCertificateRequest(cb.Bytes)
	if err != nil {
		h.t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(42),
		Subject:      pkix.Name{CommonName: id.Name, OrganizationalUnit: []string{string(id.Role)}, Organization: []string{id.Site}},
		NotBefore:    time.Now().Add(-2 * time.Hour),
		NotAfter:     time.Now().Add(-time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, h.ca.Certificate(), csr.PublicKey, caKey)
	if err != nil {
		h.t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), leafKeyPEM)
	if err != nil {
		h.t.Fatal(err)
	}
	return pair
}

// user adds a user through the API and returns a client holding its
// certificate, made from the user's own key.
func (h *harness) user(name, role, site string) *api.Client {
	h.t.Helper()
	keyPEM, csrPEM, err := ca.NewKeyAndCSR(name)
	if err != nil {
		h.t.Fatal(err)
	}
	iss, err := h.admin.AddUser(h.t.Context(), api.AddUser{Name: name, Role: role, Site: site, CSR: string(csrPEM)})
	if err != nil {
		h.t.Fatal(err)
	}
	return h.clientFromPEM([]byte(iss.Certificate), keyPEM)
}

// node adds a node, joins it with its token and returns its client.
func (h *harness) node(name, address string) *api.Client {
	h.t.Helper()
	added, err := h.admin.AddNode(h.t.Context(), api.AddNode{Name: name, Address: address})
	if err != nil {
		h.t.Fatal(err)
	}
	keyPEM, csrPEM, err := ca.NewKeyAndCSR(name)
	if err != nil {
		h.t.Fatal(err)
	}
	iss, err := h.anonymous().Join(h.t.Context(), api.Join{Token: added.Token, CSR: string(csrPEM)})
	if err != nil {
		h.t.Fatal(err)
	}
	return h.clientFromPEM([]byte(iss.Certificate), keyPEM)
}

// report sends a heartbeat offering images and 4 CPUs, 8 GiB.
func report(t testing.TB, node *api.Client, name, address string, images []string, slivers ...api.SliverStatus) {
	t.Helper()
	err := node.Report(t.Context(), name, api.Report{Address: address, Images: images,
		Capacity: api.Capacity{CPUs: 4, Memory: 8 << 30, NofileMax: 1 << 20}, Slivers: slivers})
	if err != nil {
		t.Fatal(err)
	}
}

// wantRefusal checks a call failed with status and one line containing
// msg.
func wantRefusal(t *testing.T, what string, err error, status int, msg string) {
	t.Helper()
	var se *api.StatusError
	if !errors.As(err, &se) {
		t.Fatalf("%s: got %v, want a %d refusal containing %q", what, err, status, msg)
	}
	if se.Status != status || !strings.Contains(se.Message, msg) || strings.Contains(se.Message, "\n") {
		t.Fatalf("%s: got %d %q, want %d containing %q", what, se.Status, se.Message, status, msg)
	}
}

// sliceNames lists the slices an admin sees.
func (h *harness) sliceNames() []string {
	h.t.Helper()
	all, err := h.admin.ListSlices(h.t.Context())
	if err != nil {
		h.t.Fatal(err)
	}
	var out []string
	for _, s := range all {
		out = append(out, s.Name)
	}
	return out
}

func contextWithCancel(t testing.TB) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	return ctx, cancel
}
