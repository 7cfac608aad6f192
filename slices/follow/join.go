package follow

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"pcr/internal/atomicfile"
	"pcr/slices/api"
	"pcr/slices/ca"
)

// join makes the node's key and trades its join token for a certificate
// when the node has none yet. The key is made here and never sent.
func join(ctx context.Context, cfg Config) error {
	if _, err := os.Stat(cfg.CertFile); err == nil {
		return nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("node certificate %s: %w", cfg.CertFile, err)
	}
	if cfg.JoinToken == "" {
		return fmt.Errorf("node %s has no certificate at %s: pass --join-token TOKEN (from pcr authority node add) to join the authority, or --cert and --key of a node that joined", cfg.Name, cfg.CertFile)
	}
	pool, err := caPool(cfg.CAFile)
	if err != nil {
		return fmt.Errorf("join the authority as node %s: %w", cfg.Name, err)
	}
	keyPEM, csrPEM, err := ca.NewKeyAndCSR(cfg.Name)
	if err != nil {
		return fmt.Errorf("join the authority as node %s: %w", cfg.Name, err)
	}
	// No client certificate: the token is the node's proof, the CA file
	// the authority's.
	client, err := api.NewClient(cfg.Authority, &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: pool})
	if err != nil {
		return err
	}
	issued, err := client.Join(ctx, api.Join{Token: cfg.JoinToken, CSR: string(csrPEM)})
	if err != nil {
		return fmt.Errorf("join the authority as node %s: %w", cfg.Name, err)
	}
	if err := checkIssued([]byte(issued.Certificate), keyPEM, pool, cfg.Name); err != nil {
		return fmt.Errorf("join the authority as node %s: %w", cfg.Name, err)
	}
	// The key first: a cert without its key would pass for a joined node.
	for _, f := range []struct {
		path string
		data []byte
		mode os.FileMode
	}{{cfg.KeyFile, keyPEM, 0o600}, {cfg.CertFile, []byte(issued.Certificate), 0o644}} {
		if err := os.MkdirAll(filepath.Dir(f.path), 0o700); err != nil {
			return fmt.Errorf("join the authority as node %s: the token is spent; %w", cfg.Name, err)
		}
		if err := atomicfile.WriteSync(f.path, f.data, f.mode); err != nil {
			return fmt.Errorf("join the authority as node %s: the token is spent; %w", cfg.Name, err)
		}
	}
	return nil
}

// caPool is the CA in caFile, alone.
func caPool(caFile string) (*x509.CertPool, error) {
	data, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("CA file %s holds no PEM certificate", caFile)
	}
	return pool, nil
}

// checkIssued makes sure the certificate the authority sent is this
// node's, for this key, from the CA the node trusts: a bad one written
// now would only fail later, at every start.
func checkIssued(certPEM, keyPEM []byte, pool *x509.CertPool, name string) error {
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return fmt.Errorf("the authority sent no PEM certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return fmt.Errorf("the authority sent a bad certificate: %w", err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return fmt.Errorf("the certificate the authority sent does not verify against the CA file: %w", err)
	}
	id, err := ca.IdentityOf(cert)
	if err != nil {
		return err
	}
	if id.Role != ca.RoleNode || id.Name != name {
		return fmt.Errorf("the authority issued a certificate for %s, not for node %s", id, name)
	}
	// X509KeyPair checks that the certificate's public key is the key's.
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		return fmt.Errorf("the certificate the authority sent is not for the node's key: %w", err)
	}
	return nil
}
