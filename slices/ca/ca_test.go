package ca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func newTestCA(t *testing.T) (*CA, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "authority")
	c, err := Init(dir, "test authority")
	if err != nil {
		t.Fatal(err)
	}
	return c, dir
}

// startAuthority serves a handler that answers with the caller's identity,
// or 401 and RequireClient's error, over real TLS configured by ServerTLS.
func startAuthority(t *testing.T, c *CA) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := RequireClient(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		io.WriteString(w, id.String())
	}))
	cert, err := c.ServerCertificate([]string{"127.0.0.1", "localhost"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	srv.TLS = ServerTLS(c, cert)
	// Refused handshakes are expected here; keep them out of the test log.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, srv *httptest.Server, cfg *tls.Config) (int, string, error) {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	resp, err := client.Get(srv.URL + "/whoami")
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, "", err
	}
	return resp.StatusCode, strings.TrimSpace(string(body)), nil
}

// rawClientTLS trusts c for the server and presents the given pair without
// any of ClientTLS's own checks, to see what the server does.
func rawClientTLS(t *testing.T, c *CA, certPEM, keyPEM []byte) *tls.Config {
	t.Helper()
	cfg := &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: c.Pool()}
	if certPEM != nil {
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg
}

func writeFiles(t *testing.T, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestUserCertificateAuthenticates(t *testing.T) {
	c, _ := newTestCA(t)
	srv := startAuthority(t, c)
	id := Identity{Name: "alice", Site: "princeton", Role: RoleUser}
	certPEM, keyPEM, err := c.IssueKeyPair(id, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dir := writeFiles(t, map[string][]byte{"ca.crt": c.CertPEM(), "user.crt": certPEM, "user.key": keyPEM})
	cfg, err := ClientTLS(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "user.crt"), filepath.Join(dir, "user.key"))
	if err != nil {
		t.Fatal(err)
	}
	code, body, err := get(t, srv, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if code != http.StatusOK || body != "user alice@princeton" {
		t.Fatalf("got %d %q, want 200 %q", code, body, "user alice@princeton")
	}
}

func TestNodeJoinsWithOwnCSR(t *testing.T) {
	c, _ := newTestCA(t)
	srv := startAuthority(t, c)
	keyPEM, csrPEM, err := NewKeyAndCSR("node-1.example")
	if err != nil {
		t.Fatal(err)
	}
	certPEM, err := c.Issue(Identity{Name: "node-1.example", Role: RoleNode}, csrPEM, 2*365*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := parseCertPEM(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	if got := cert.NotAfter.Sub(cert.NotBefore); got > maxValidity+clockSkew {
		t.Errorf("validity %v, want capped at %v", got, maxValidity)
	}
	if cert.IsCA || len(cert.ExtKeyUsage) != 1 || cert.ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth {
		t.Errorf("leaf IsCA=%v ExtKeyUsage=%v, want a client-auth-only leaf", cert.IsCA, cert.ExtKeyUsage)
	}
	code, body, err := get(t, srv, rawClientTLS(t, c, certPEM, keyPEM))
	if err != nil || code != http.StatusOK || body != "node node-1.example" {
		t.Fatalf("got %d %q %v, want 200 %q", code, body, err, "node node-1.example")
	}
}

func TestNoClientCertificateRefusedByHandler(t *testing.T) {
	c, _ := newTestCA(t)
	srv := startAuthority(t, c)
	code, body, err := get(t, srv, rawClientTLS(t, c, nil, nil))
	if err != nil {
		t.Fatalf("handshake without a certificate must succeed (join route): %v", err)
	}
	if code != http.StatusUnauthorized || body != "no client certificate" {
		t.Fatalf("got %d %q, want 401 %q", code, body, "no client certificate")
	}
}

func TestForeignCACertificateFailsHandshake(t *testing.T) {
	c, _ := newTestCA(t)
	other, _ := newTestCA(t)
	srv := startAuthority(t, c)
	certPEM, keyPEM, err := other.IssueKeyPair(Identity{Name: "mallory", Site: "evil", Role: RoleUser}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if code, body, err := get(t, srv, rawClientTLS(t, c, certPEM, keyPEM)); err == nil {
		t.Fatalf("foreign certificate accepted: %d %q", code, body)
	} else {
		t.Logf("foreign certificate refused: %v", err)
	}
	dir := writeFiles(t, map[string][]byte{"ca.crt": c.CertPEM(), "u.crt": certPEM, "u.key": keyPEM})
	if _, err := ClientTLS(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "u.crt"), filepath.Join(dir, "u.key")); err == nil || !strings.Contains(err.Error(), "not issued by the CA") {
		t.Fatalf("ClientTLS with a foreign cert: %v, want not issued by the CA", err)
	}
}

func TestExpiredCertificateRefused(t *testing.T) {
	c, _ := newTestCA(t)
	srv := startAuthority(t, c)
	past := time.Now().Add(-3 * time.Hour)
	certPEM, keyPEM, err := c.issueKeyPairAt(past, Identity{Name: "bob", Site: "mit", Role: RolePI}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if code, body, err := get(t, srv, rawClientTLS(t, c, certPEM, keyPEM)); err == nil {
		t.Fatalf("expired certificate accepted: %d %q", code, body)
	} else {
		t.Logf("expired certificate refused: %v", err)
	}

	dir := writeFiles(t, map[string][]byte{"ca.crt": c.CertPEM(), "u.crt": certPEM, "u.key": keyPEM})
	if _, err := ClientTLS(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "u.crt"), filepath.Join(dir, "u.key")); err == nil || !strings.Contains(err.Error(), "expired at") {
		t.Fatalf("ClientTLS with an expired cert: %v, want expired at", err)
	}

	// RequireClient's own check, for a server config laxer than ServerTLS.
	leaf, err := parseCertPEM(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf}, VerifiedChains: [][]*x509.Certificate{{leaf, c.Certificate()}}}
	if _, err := RequireClient(r); err == nil || !strings.HasPrefix(err.Error(), "certificate expired at ") {
		t.Fatalf("RequireClient with an expired cert: %v, want certificate expired at …", err)
	}
	r.TLS.VerifiedChains = nil
	if _, err := RequireClient(r); err == nil || err.Error() != "certificate not issued by this authority" {
		t.Fatalf("RequireClient with an unverified cert: %v", err)
	}
}

func TestServerCertificateIsNotAClientIdentity(t *testing.T) {
	c, _ := newTestCA(t)
	srv := startAuthority(t, c)
	sc, err := c.ServerCertificate([]string{"authority.example"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: c.Pool(), Certificates: []tls.Certificate{sc}}
	if code, body, err := get(t, srv, cfg); err == nil {
		t.Fatalf("server certificate accepted as a client: %d %q", code, body)
	}
}

func TestIssueRefusesCSRForAnotherName(t *testing.T) {
	c, _ := newTestCA(t)
	_, csrPEM, err := NewKeyAndCSR("alice")
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Issue(Identity{Name: "bob", Site: "mit", Role: RoleUser}, csrPEM, time.Hour)
	if err == nil || !strings.Contains(err.Error(), `CSR is for "alice", not "bob"`) {
		t.Fatalf("got %v, want a CN mismatch error", err)
	}
}

func TestIssueRefusesTamperedCSR(t *testing.T) {
	c, _ := newTestCA(t)
	_, csrPEM, err := NewKeyAndCSR("alice")
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(csrPEM)
	// Flip a bit in the signature at the end of the DER.
	block.Bytes[len(block.Bytes)-2] ^= 0x01
	if _, err := c.Issue(Identity{Name: "alice", Site: "mit", Role: RoleUser}, pem.EncodeToMemory(block), time.Hour); err == nil {
		t.Fatal("CSR with a bad signature accepted")
	}
	if _, err := c.Issue(Identity{Name: "alice", Site: "mit", Role: RoleUser}, []byte("not a csr"), time.Hour); err == nil {
		t.Fatal("garbage CSR accepted")
	}
}

func TestIssueRefusesBadIdentities(t *testing.T) {
	c, _ := newTestCA(t)
	bad := []Identity{
		{Name: "Alice", Site: "mit", Role: RoleUser},
		{Name: "-alice", Site: "mit", Role: RoleUser},
		{Name: "", Site: "mit", Role: RoleUser},
		{Name: "al ice", Site: "mit", Role: RoleUser},
		{Name: strings.Repeat("a", 64), Site: "mit", Role: RoleUser},
		{Name: "alice", Site: "", Role: RoleUser},
		{Name: "alice", Site: "", Role: RolePI},
		{Name: "alice", Site: "m", Role: RoleUser},
		{Name: "alice", Site: "1mit", Role: RoleUser},
		{Name: "alice", Site: "m_it", Role: RoleUser},
		{Name: "alice", Site: strings.Repeat("a", 21), Role: RoleUser},
		{Name: "root", Site: "mit", Role: RoleAdmin},
		{Name: "node1", Site: "mit", Role: RoleNode},
		{Name: "alice", Site: "mit", Role: "superuser"},
		{Name: "alice", Site: "mit", Role: ""},
	}
	for _, id := range bad {
		if _, _, err := c.IssueKeyPair(id, time.Hour); err == nil {
			t.Errorf("IssueKeyPair(%+v) succeeded, want refused", id)
		}
	}
	good := []Identity{
		{Name: "root", Role: RoleAdmin},
		{Name: "a", Site: "mit", Role: RolePI},
		{Name: "0node.lab_1-x", Role: RoleNode},
		{Name: strings.Repeat("a", 63), Site: strings.Repeat("b", 20), Role: RoleUser},
	}
	for _, id := range good {
		certPEM, _, err := c.IssueKeyPair(id, time.Hour)
		if err != nil {
			t.Errorf("IssueKeyPair(%+v): %v", id, err)
			continue
		}
		cert, err := parseCertPEM(certPEM)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := IdentityOf(cert); err != nil || got != id {
			t.Errorf("IdentityOf = %+v, %v; want %+v", got, err, id)
		}
	}
	if _, _, err := c.IssueKeyPair(Identity{Name: "root", Role: RoleAdmin}, 0); err == nil {
		t.Error("zero validity accepted")
	}
}

func TestParseRole(t *testing.T) {
	for _, s := range []string{"admin", "pi", "user", "node"} {
		if r, err := ParseRole(s); err != nil || string(r) != s {
			t.Errorf("ParseRole(%q) = %q, %v", s, r, err)
		}
	}
	for _, s := range []string{"", "Admin", "root", "pi "} {
		if _, err := ParseRole(s); err == nil {
			t.Errorf("ParseRole(%q) succeeded", s)
		}
	}
}

func TestIdentityOfRefusesUnknownRole(t *testing.T) {
	c, _ := newTestCA(t)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := clientTemplate(Identity{Name: "alice", Site: "mit", Role: RoleUser})
	tmpl.Subject.OrganizationalUnit = []string{"superuser"}
	der, err := c.sign(time.Now(), tmpl, key.Public(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := IdentityOf(cert); err == nil {
		t.Fatal("IdentityOf accepted an unknown role")
	}
	if _, err := IdentityOf(c.Certificate()); err == nil {
		t.Fatal("IdentityOf accepted the CA certificate")
	}
}

func TestInitLayoutAndRefusesTwice(t *testing.T) {
	c, dir := newTestCA(t)
	cert := c.Certificate()
	if !cert.IsCA || !cert.MaxPathLenZero || cert.MaxPathLen != 0 {
		t.Errorf("CA cert IsCA=%v MaxPathLen=%d zero=%v", cert.IsCA, cert.MaxPathLen, cert.MaxPathLenZero)
	}
	if _, ok := cert.PublicKey.(*ecdsa.PublicKey); !ok {
		t.Errorf("CA key %T, want ECDSA", cert.PublicKey)
	}
	if life := cert.NotAfter.Sub(time.Now()); life < 9*365*24*time.Hour {
		t.Errorf("CA valid for %v, want about 10 years", life)
	}
	for name, want := range map[string]os.FileMode{"": 0o700, "ca.crt": 0o644, "ca.key": 0o600} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s mode %v, want %v", filepath.Join(dir, name), fi.Mode().Perm(), want)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("CA dir holds %v, want only ca.crt and ca.key", entries)
	}

	before, _ := os.ReadFile(filepath.Join(dir, "ca.key"))
	_, err := Init(dir, "again")
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "already") {
		t.Fatalf("second Init: %v, want a one-line already-exists error", err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, "ca.key"))
	if string(before) != string(after) {
		t.Fatal("second Init changed the existing key")
	}

	loaded, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !loaded.Certificate().Equal(c.Certificate()) || string(loaded.CertPEM()) != string(c.CertPEM()) {
		t.Fatal("Load returned a different CA")
	}
}

func TestLoadErrors(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "missing")); err == nil || !strings.Contains(err.Error(), "pcr authority init") {
		t.Errorf("Load of a missing CA: %v", err)
	}

	_, dir := newTestCA(t)
	other, _ := newTestCA(t)
	keyPEM, _, err := NewKeyAndCSR("x")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.key"), keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("Load with a swapped key: %v, want does not match", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.key"), []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "parse private key") {
		t.Errorf("Load with a garbled key: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), other.CertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "ca.key")); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "ca.key") {
		t.Errorf("Load without a key: %v", err)
	}
}

func TestJoinTokens(t *testing.T) {
	token, hash, err := NewJoinToken("node-1.lab")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(token, "pcrjoin-node-1.lab-") || len(token) != len("pcrjoin-node-1.lab-")+32 {
		t.Fatalf("token %q has the wrong shape", token)
	}
	if strings.Contains(hash, strings.TrimPrefix(token, "pcrjoin-node-1.lab-")) {
		t.Fatal("hash contains the secret")
	}
	if !CheckJoinToken(token, hash) {
		t.Fatal("token does not match its own hash")
	}
	other, _, err := NewJoinToken("node-1.lab")
	if err != nil {
		t.Fatal(err)
	}
	if other == token || CheckJoinToken(other, hash) {
		t.Fatal("another token for the same node matches")
	}
	altered := token[:len(token)-1] + "a"
	if strings.HasSuffix(token, "a") {
		altered = token[:len(token)-1] + "b"
	}
	if CheckJoinToken(altered, hash) {
		t.Fatal("altered token matches")
	}
	if CheckJoinToken("", hash) || CheckJoinToken(token, "") {
		t.Fatal("empty token or hash matches")
	}
	if node, err := TokenNode(token); err != nil || node != "node-1.lab" {
		t.Fatalf("TokenNode = %q, %v", node, err)
	}
	for _, bad := range []string{"", "pcrjoin-", "pcrjoin-node1", "node1-" + strings.Repeat("a", 32), "pcrjoin--" + strings.Repeat("a", 32), "pcrjoin-node1-" + strings.Repeat("A", 32), "pcrjoin-node1-" + strings.Repeat("a", 31)} {
		if _, err := TokenNode(bad); err == nil {
			t.Errorf("TokenNode(%q) succeeded", bad)
		}
	}
	if _, _, err := NewJoinToken("Bad Name"); err == nil {
		t.Error("NewJoinToken accepted a bad node name")
	}
}

func pemDecode(data []byte) (*pem.Block, []byte) { return pem.Decode(data) }
func pemEncode(b *pem.Block) []byte              { return pem.EncodeToMemory(b) }
