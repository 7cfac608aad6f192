package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"
)

// etcdTLS is the client TLS to an external etcd: the CA that signed its
// server certificate (caFile; empty: the system's roots) and this
// client's certificate and key, which an etcd run with
// --client-cert-auth asks for. Nil when no file is named. Every endpoint
// must then be https://: etcd would otherwise be reached in the clear.
func etcdTLS(endpoints []string, caFile, certFile, keyFile string) (*tls.Config, error) {
	if caFile == "" && certFile == "" && keyFile == "" {
		return nil, nil
	}
	if len(endpoints) == 0 {
		return nil, fmt.Errorf("--etcd-ca, --etcd-cert and --etcd-key are for an external etcd: give its --etcd-endpoints")
	}
	if (certFile == "") != (keyFile == "") {
		return nil, fmt.Errorf("--etcd-cert and --etcd-key go together")
	}
	for _, ep := range endpoints {
		if !strings.HasPrefix(ep, "https://") {
			return nil, fmt.Errorf("etcd endpoint %s: want https:// with --etcd-ca, --etcd-cert or --etcd-key", ep)
		}
	}
	conf := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pemData, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("read --etcd-ca: %w", err)
		}
		conf.RootCAs = x509.NewCertPool()
		if !conf.RootCAs.AppendCertsFromPEM(pemData) {
			return nil, fmt.Errorf("--etcd-ca %s holds no PEM certificate", caFile)
		}
	}
	if certFile != "" {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("load --etcd-cert %s and --etcd-key %s: %w", certFile, keyFile, err)
		}
		conf.Certificates = []tls.Certificate{pair}
	}
	return conf, nil
}
