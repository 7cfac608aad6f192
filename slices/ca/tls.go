package ca

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"time"
)

// ServerTLS is the authority's listener config: TLS 1.3 minimum, client
// certificates verified against the CA when given. It is
// tls.VerifyClientCertIfGiven rather than RequireAndVerifyClientCert
// because a node's join call has no certificate yet (it presents a
// one-time token instead); every other route must call RequireClient.
func ServerTLS(ca *CA, cert tls.Certificate) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    ca.Pool(),
	}
}

// ClientTLS loads a user's or node's cert/key files and the CA file, for
// the CLI and node managers. The server is verified against that CA only,
// not the system roots: the authority's certificate comes from its own CA.
func ClientTLS(caFile, certFile, keyFile string) (*tls.Config, error) {
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("load client TLS: CA file: %w", err)
	}
	caCert, err := parseCertPEM(caPEM)
	if err != nil {
		return nil, fmt.Errorf("load client TLS: CA file %s: %w", caFile, err)
	}
	if !caCert.IsCA {
		return nil, fmt.Errorf("load client TLS: CA file %s holds a certificate that is not a CA", caFile)
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load client TLS: certificate %s / key %s: %w", certFile, keyFile, err)
	}
	// Catch at load time what the server would otherwise refuse with a
	// bare handshake alert: wrong CA, expired, or not an identity cert.
	leaf := pair.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return nil, fmt.Errorf("load client TLS: certificate %s: %w", certFile, err)
		}
	}
	if err := leaf.CheckSignatureFrom(caCert); err != nil {
		return nil, fmt.Errorf("load client TLS: certificate %s was not issued by the CA in %s", certFile, caFile)
	}
	if time.Now().After(leaf.NotAfter) {
		return nil, fmt.Errorf("load client TLS: certificate %s expired at %s", certFile, leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	if _, err := IdentityOf(leaf); err != nil {
		return nil, fmt.Errorf("load client TLS: certificate %s: %w", certFile, err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		RootCAs:      pool,
		Certificates: []tls.Certificate{pair},
	}, nil
}

// RequireClient returns the caller's Identity from an http.Request's
// verified chain, or an error that says in one line why not. The TLS
// layer under ServerTLS already refuses expired and foreign certificates
// at the handshake; this checks again so that a route stays safe if it is
// ever served under a laxer config (RequestClientCert, a test server).
func RequireClient(r *http.Request) (Identity, error) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return Identity{}, fmt.Errorf("no client certificate")
	}
	if len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return Identity{}, fmt.Errorf("certificate not issued by this authority")
	}
	chain := r.TLS.VerifiedChains[0]
	leaf := chain[0]
	// MaxPathLen 0 on the CA: a verified chain is exactly leaf + CA.
	if len(chain) != 2 || !chain[1].IsCA {
		return Identity{}, fmt.Errorf("certificate not issued by this authority")
	}
	now := time.Now()
	if now.After(leaf.NotAfter) {
		return Identity{}, fmt.Errorf("certificate expired at %s", leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	if now.Before(leaf.NotBefore) {
		return Identity{}, fmt.Errorf("certificate not valid until %s", leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	if !hasClientAuth(leaf) {
		return Identity{}, fmt.Errorf("certificate %q is not a client certificate", leaf.Subject.CommonName)
	}
	return IdentityOf(leaf)
}

func hasClientAuth(cert *x509.Certificate) bool {
	for _, u := range cert.ExtKeyUsage {
		if u == x509.ExtKeyUsageClientAuth {
			return true
		}
	}
	return false
}
