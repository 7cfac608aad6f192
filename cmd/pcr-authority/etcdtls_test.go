package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"go.etcd.io/etcd/server/v3/embed"

	"pcr/slices/api"
	"pcr/slices/ca"
)

// writePair writes a certificate and its key as PEM files in dir.
func writePair(t *testing.T, dir, name string, pair tls.Certificate) (certFile, keyFile string) {
	t.Helper()
	key, err := x509.MarshalPKCS8PrivateKey(pair.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: pair.Certificate[0]}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func TestServeOnAnExternalEtcdOverTLS(t *testing.T) {
	root := t.TempDir()
	authCA, err := ca.Init(filepath.Join(root, "ca"), "test")
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(root, "ca", "ca.crt")
	// The etcd's certificates come from the same CA here; any CA does.
	serverPair, err := authCA.ServerCertificate([]string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tlsDir := t.TempDir()
	serverCert, serverKey := writePair(t, tlsDir, "etcd-server", serverPair)
	clientPEM, clientKeyPEM, err := authCA.IssueKeyPair(ca.Identity{Name: "authority", Role: ca.RoleAdmin}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	clientPair, err := tls.X509KeyPair(clientPEM, clientKeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	clientCert, clientKey := writePair(t, tlsDir, "etcd-client", clientPair)

	ports := freePorts(t, 2)
	clientURL := url.URL{Scheme: "https", Host: fmt.Sprintf("127.0.0.1:%d", ports[0])}
	peerURL := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", ports[1])}
	cfg := embed.NewConfig()
	cfg.Name, cfg.Dir = "tls", filepath.Join(t.TempDir(), "etcd")
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{clientURL}, []url.URL{clientURL}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peerURL}, []url.URL{peerURL}
	cfg.InitialCluster = "tls=" + peerURL.String()
	cfg.ClientTLSInfo.CertFile, cfg.ClientTLSInfo.KeyFile = serverCert, serverKey
	cfg.ClientTLSInfo.TrustedCAFile, cfg.ClientTLSInfo.ClientCertAuth = caFile, true
	cfg.LogLevel = "fatal" // its stop logs routine errors
	etcd, err := embed.StartEtcd(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer etcd.Close()
	select {
	case <-etcd.Server.ReadyNotify():
	case <-time.After(20 * time.Second):
		t.Fatal("etcd not ready within 20s")
	}

	ctx, cancel := context.WithCancel(t.Context())
	stderr := &syncBuffer{}
	exited := make(chan int, 1)
	go func() {
		exited <- run(ctx, []string{"serve", "--root", root, "--listen", "127.0.0.1:0", "--etcd-endpoints", clientURL.String(),
			"--etcd-ca", caFile, "--etcd-cert", clientCert, "--etcd-key", clientKey}, stderr)
	}()
	addr := waitLine(t, stderr, regexp.MustCompile(`pcr authority serving (https://\S+)\n`), exited)
	adminPEM, adminKey, err := authCA.IssueKeyPair(ca.Identity{Name: "root", Role: ca.RoleAdmin}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(adminPEM, adminKey)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := api.NewClient(addr, &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: authCA.Pool(), Certificates: []tls.Certificate{pair}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreateSlice(t.Context(), api.CreateSlice{Name: "pl_tls", Image: "busybox"}); err != nil {
		t.Fatalf("create a slice on etcd over TLS: %v", err)
	}
	cancel()
	if code := <-exited; code != 0 {
		t.Fatalf("serve exited %d; stderr:\n%s", code, stderr)
	}
}

func TestEtcdTLSFlagsAreChecked(t *testing.T) {
	root := t.TempDir()
	if _, err := ca.Init(filepath.Join(root, "ca"), "test"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--etcd-ca", "x.crt"}, "--etcd-ca, --etcd-cert and --etcd-key are for an external etcd: give its --etcd-endpoints"},
		{[]string{"--etcd-endpoints", "https://127.0.0.1:1", "--etcd-cert", "c.crt"}, "--etcd-cert and --etcd-key go together"},
		{[]string{"--etcd-endpoints", "http://127.0.0.1:1", "--etcd-ca", "x.crt"}, "etcd endpoint http://127.0.0.1:1: want https:// with --etcd-ca, --etcd-cert or --etcd-key"},
		{[]string{"--etcd-endpoints", "https://127.0.0.1:1", "--etcd-ca", filepath.Join(root, "ca", "ca.key")}, "holds no PEM certificate"},
	} {
		var stderr bytes.Buffer
		code := run(t.Context(), append([]string{"serve", "--root", root, "--listen", "127.0.0.1:0"}, c.args...), &stderr)
		if code != 1 || !bytes.Contains(stderr.Bytes(), []byte(c.want)) || bytes.Count(stderr.Bytes(), []byte("\n")) != 1 {
			t.Errorf("%q: exit %d, stderr %q; want 1 and one line with %q", c.args, code, stderr.String(), c.want)
		}
	}
}

// freePorts finds n free loopback ports.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var out []int
	for range n {
		ln, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ln.Addr().(*net.TCPAddr).Port)
		defer ln.Close()
	}
	return out
}
