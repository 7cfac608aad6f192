package ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"net"
	"time"
)

// maxValidity caps leaf certificates: there is no revocation list, so a
// lost key stays usable at most this long.
const maxValidity = 365 * 24 * time.Hour

// Issue signs a CSR (PEM) for id, valid for the given duration (capped at
// 1 year), after checking the CSR's signature (the requester holds the
// key) and that its CN equals id.Name (the requester asked to be who the
// authority is naming). Nothing else in the CSR is copied: the subject and
// usages come from id, so a CSR cannot ask for a role, a site, SANs or CA
// rights. Names: [a-z0-9][a-z0-9._-]{0,62}; sites [a-z][a-z0-9]{1,19};
// admin and node carry no site, pi and user must.
func (c *CA) Issue(id Identity, csrPEM []byte, validity time.Duration) (certPEM []byte, err error) {
	return c.issueAt(time.Now(), id, csrPEM, validity)
}

// issueAt is Issue with the clock as a parameter, so tests can make
// certificates that are already expired.
func (c *CA) issueAt(now time.Time, id Identity, csrPEM []byte, validity time.Duration) ([]byte, error) {
	if err := id.validate(); err != nil {
		return nil, fmt.Errorf("issue certificate for %s: %w", id, err)
	}
	block, _ := pem.Decode(csrPEM)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, fmt.Errorf("issue certificate for %s: no PEM CERTIFICATE REQUEST block", id)
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("issue certificate for %s: parse CSR: %w", id, err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("issue certificate for %s: CSR signature: %w", id, err)
	}
	if csr.Subject.CommonName != id.Name {
		return nil, fmt.Errorf("issue certificate for %s: CSR is for %q, not %q", id, csr.Subject.CommonName, id.Name)
	}
	if err := checkPublicKey(csr.PublicKey); err != nil {
		return nil, fmt.Errorf("issue certificate for %s: %w", id, err)
	}
	der, err := c.sign(now, clientTemplate(id), csr.PublicKey, validity)
	if err != nil {
		return nil, fmt.Errorf("issue certificate for %s: %w", id, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// IssueKeyPair makes a key and a cert for id (what add-user writes to
// files), for users who do not make their own CSR.
func (c *CA) IssueKeyPair(id Identity, validity time.Duration) (certPEM, keyPEM []byte, err error) {
	return c.issueKeyPairAt(time.Now(), id, validity)
}

func (c *CA) issueKeyPairAt(now time.Time, id Identity, validity time.Duration) (certPEM, keyPEM []byte, err error) {
	if err := id.validate(); err != nil {
		return nil, nil, fmt.Errorf("issue key pair for %s: %w", id, err)
	}
	keyPEM, csrPEM, err := NewKeyAndCSR(id.Name)
	if err != nil {
		return nil, nil, fmt.Errorf("issue key pair for %s: %w", id, err)
	}
	certPEM, err = c.issueAt(now, id, csrPEM, validity)
	if err != nil {
		return nil, nil, err
	}
	return certPEM, keyPEM, nil
}

// ServerCertificate is the authority's HTTPS cert for the given DNS names
// and IPs (ExtKeyUsageServerAuth only, so it cannot be presented as a
// client identity), signed by the CA, valid at most 1 year. Its key is
// made here and never leaves memory: a restarted authority makes a new one.
func (c *CA) ServerCertificate(hosts []string, validity time.Duration) (tls.Certificate, error) {
	if len(hosts) == 0 {
		return tls.Certificate{}, fmt.Errorf("issue server certificate: no host names or addresses")
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: hosts[0]},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		} else {
			return tls.Certificate{}, fmt.Errorf("issue server certificate: empty host name")
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("issue server certificate for %v: generate key: %w", hosts, err)
	}
	der, err := c.sign(time.Now(), tmpl, key.Public(), validity)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("issue server certificate for %v: %w", hosts, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("issue server certificate for %v: %w", hosts, err)
	}
	// The leaf alone: every client already holds ca.crt, the only root.
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// NewKeyAndCSR makes an ECDSA P-256 key and a CSR for commonName: what a
// node does before its join call, so its private key never leaves it.
func NewKeyAndCSR(commonName string) (keyPEM, csrPEM []byte, err error) {
	if !validName(commonName) {
		return nil, nil, fmt.Errorf("make key and CSR: invalid name %q: want 1-63 of a-z 0-9 . _ - starting with a letter or digit", commonName)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("make key and CSR for %s: generate key: %w", commonName, err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: commonName},
	}, key)
	if err != nil {
		return nil, nil, fmt.Errorf("make key and CSR for %s: %w", commonName, err)
	}
	keyPEM, err = encodeKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("make key and CSR for %s: %w", commonName, err)
	}
	return keyPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}

func clientTemplate(id Identity) *x509.Certificate {
	subj := pkix.Name{CommonName: id.Name, OrganizationalUnit: []string{string(id.Role)}}
	if id.Site != "" {
		subj.Organization = []string{id.Site}
	}
	return &x509.Certificate{
		Subject:     subj,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
}

// sign fills in what every leaf shares (serial, validity window, not a CA)
// and signs tmpl for pub. The window never reaches past the CA's own
// expiry: such a certificate would stop verifying before its date anyway.
func (c *CA) sign(now time.Time, tmpl *x509.Certificate, pub crypto.PublicKey, validity time.Duration) ([]byte, error) {
	if validity <= 0 {
		return nil, fmt.Errorf("validity %v: must be positive", validity)
	}
	validity = min(validity, maxValidity)
	if !now.Before(c.cert.NotAfter) {
		return nil, fmt.Errorf("CA certificate expired at %s", c.cert.NotAfter.UTC().Format(time.RFC3339))
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore = now.Add(-clockSkew)
	tmpl.NotAfter = now.Add(validity)
	if tmpl.NotAfter.After(c.cert.NotAfter) {
		tmpl.NotAfter = c.cert.NotAfter
	}
	tmpl.BasicConstraintsValid = true
	tmpl.IsCA = false
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, pub, c.key)
	if err != nil {
		return nil, fmt.Errorf("sign certificate: %w", err)
	}
	return der, nil
}

// checkPublicKey refuses keys too weak to stand for an identity for a year.
func checkPublicKey(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() && k.Curve != elliptic.P384() && k.Curve != elliptic.P521() {
			return fmt.Errorf("CSR key: unsupported ECDSA curve %s", k.Curve.Params().Name)
		}
	case ed25519.PublicKey:
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return fmt.Errorf("CSR key: RSA key of %d bits, want at least 2048", k.N.BitLen())
		}
	default:
		return fmt.Errorf("CSR key: unsupported key type %T", pub)
	}
	return nil
}
