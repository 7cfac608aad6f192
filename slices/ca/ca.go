package ca

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

const (
	certFileName = "ca.crt"
	keyFileName  = "ca.key"

	caValidity = 10 * 365 * 24 * time.Hour
	// clockSkew backdates NotBefore so that a node whose clock runs a
	// little behind the authority's can use a certificate issued just now.
	clockSkew = 5 * time.Minute
)

// CA is a loaded certificate authority: its certificate and private key.
// It is safe for concurrent use: nothing in it changes after Init or Load.
type CA struct {
	cert    *x509.Certificate
	certPEM []byte
	key     *ecdsa.PrivateKey
}

// Init makes a new CA in dir: dir/ca.crt (0644) and dir/ca.key (0600),
// ECDSA P-256, valid 10 years. It refuses when dir already holds either
// file, because silently replacing a CA would orphan every certificate
// issued so far. dir is created 0700. Files are written to temp names and
// linked into place (link, unlike rename, never replaces), so a racing
// Init cannot overwrite a CA, no file is ever seen half-written, and a
// failure removes what this call made.
func Init(dir, commonName string) (*CA, error) {
	if commonName == "" {
		return nil, fmt.Errorf("init CA in %s: empty common name", dir)
	}
	certPath, keyPath := filepath.Join(dir, certFileName), filepath.Join(dir, keyFileName)
	for _, p := range []string{certPath, keyPath} {
		if _, err := os.Lstat(p); err == nil {
			return nil, fmt.Errorf("init CA in %s: %s already exists (a CA is already there; refusing to replace it)", dir, p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("init CA in %s: %w", dir, err)
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("init CA in %s: generate key: %w", dir, err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, fmt.Errorf("init CA in %s: %w", dir, err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName, Organization: []string{"pcr slice authority"}},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		// Path length 0: this CA signs leaves only, so a leaf key that
		// leaks cannot mint further certificates that chain to it.
		MaxPathLen:     0,
		MaxPathLenZero: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("init CA in %s: create certificate: %w", dir, err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, fmt.Errorf("init CA in %s: %w", dir, err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})

	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("init CA in %s: parse new certificate: %w", dir, err)
	}

	// Everything that can fail without touching the disk is done; only
	// now is dir created, and undone again if the writes fail.
	created, err := makePrivateDir(dir)
	if err != nil {
		return nil, fmt.Errorf("init CA in %s: %w", dir, err)
	}
	undoDir := func() {
		if created {
			os.Remove(dir)
		}
	}
	// Key first: a crash between the two links leaves a key without a
	// certificate, which Load reports and Init refuses, rather than a
	// certificate whose key is lost.
	if err := writeNew(keyPath, keyPEM, 0o600); err != nil {
		undoDir()
		return nil, fmt.Errorf("init CA in %s: %w", dir, err)
	}
	if err := writeNew(certPath, certPEM, 0o644); err != nil {
		os.Remove(keyPath)
		undoDir()
		return nil, fmt.Errorf("init CA in %s: %w", dir, err)
	}
	syncDir(dir)
	return &CA{cert: cert, certPEM: certPEM, key: key}, nil
}

// Load reads the CA that Init wrote in dir and checks that the key belongs
// to the certificate, so that a mixed-up or tampered file fails here and
// not later as certificates that nobody can verify.
func Load(dir string) (*CA, error) {
	certPath, keyPath := filepath.Join(dir, certFileName), filepath.Join(dir, keyFileName)
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, fmt.Errorf("load CA from %s: %w", dir, missingHint(err))
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("load CA from %s: %w", dir, missingHint(err))
	}
	cert, err := parseCertPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("load CA from %s: %s: %w", dir, certPath, err)
	}
	if !cert.IsCA || !cert.BasicConstraintsValid {
		return nil, fmt.Errorf("load CA from %s: %s is not a CA certificate", dir, certPath)
	}
	key, err := parseKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("load CA from %s: %s: %w", dir, keyPath, err)
	}
	ecKey, ok := key.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("load CA from %s: %s: want an ECDSA key, got %T", dir, keyPath, key)
	}
	if !ecKey.PublicKey.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("load CA from %s: %s does not match %s", dir, keyPath, certPath)
	}
	return &CA{cert: cert, certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), key: ecKey}, nil
}

// Certificate is the CA's own certificate. Callers must not modify it.
func (c *CA) Certificate() *x509.Certificate { return c.cert }

// Pool is a fresh pool holding only this CA, for verifying peers; fresh so
// that a caller adding to it cannot widen anyone else's trust.
func (c *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c.cert)
	return p
}

// CertPEM is the CA certificate in PEM, what users and nodes are handed as
// their ca.crt. It returns a copy.
func (c *CA) CertPEM() []byte { return bytes.Clone(c.certPEM) }

func missingHint(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w (no CA there; run pcr authority init)", err)
	}
	return err
}

// makePrivateDir creates dir (and missing parents) with dir itself 0700,
// whatever the umask, and says whether it made dir. An existing dir is left
// as it is: it may be shared on purpose (chmod'ing a dir someone passed by
// mistake, such as $HOME, would do harm), and the key file is 0600 anyway.
func makePrivateDir(dir string) (created bool, err error) {
	fi, err := os.Stat(dir)
	if err == nil {
		if !fi.IsDir() {
			return false, fmt.Errorf("%s is not a directory", dir)
		}
		return false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return false, err
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		return false, err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		os.Remove(dir)
		return false, err
	}
	return true, nil
}

// writeNew writes data to path only if path does not exist yet, through a
// temp file (created 0600, so the key is never readable by others even
// for a moment) that is synced and then hard-linked into place.
func writeNew(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(mode)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Link(tmp, path)
	}
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("write %s: already exists (a CA is already there; refusing to replace it)", path)
		}
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// syncDir makes the new directory entries durable; failure only weakens
// crash safety, so it is not reported.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// newSerial is a random 128-bit serial: unique without a counter file that
// would have to be kept consistent across restarts.
func newSerial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("generate serial number: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil
}

func encodeKey(key crypto.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func parseCertPEM(data []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("no PEM CERTIFICATE block")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse certificate: %w", err)
	}
	return cert, nil
}

func parseKeyPEM(data []byte) (crypto.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("no PEM block")
	}
	switch block.Type {
	case "PRIVATE KEY":
		key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse private key: %w", err)
		}
		return key, nil
	case "EC PRIVATE KEY":
		key, err := x509.ParseECPrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse private key: %w", err)
		}
		return key, nil
	}
	return nil, fmt.Errorf("unexpected PEM block %q, want PRIVATE KEY", block.Type)
}
