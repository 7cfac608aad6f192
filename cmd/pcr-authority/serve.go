package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"

	"path/filepath"
	"strings"
	"time"

	"pcr/slices/authority"
	"pcr/slices/ca"
	"pcr/slices/store"
)

const (
	defaultRoot   = "/var/lib/pcr/authority"
	defaultListen = "127.0.0.1:7443"
	etcdTimeout   = 30 * time.Second
)

// serve runs the authority until ctx ends.
func serve(ctx context.Context, args []string, stderr io.Writer) error {
	flags := flag.NewFlagSet("serve", flag.ContinueOnError)
	flags.SetOutput(stderr)
	root := flags.String("root", defaultRoot, "the authority's directory: ca/ (from pcr authority init) and the embedded etcd's data")
	listen := flags.String("listen", defaultListen, "address to serve HTTPS on")
	endpoints := flags.String("etcd-endpoints", "", "comma-separated etcd client URLs; empty: run an embedded etcd under --root")
	etcdCA := flags.String("etcd-ca", "", "CA certificate (PEM) that signed the external etcd's server certificate")
	etcdCert := flags.String("etcd-cert", "", "client certificate (PEM) for the external etcd")
	etcdKey := flags.String("etcd-key", "", "client key (PEM) for the external etcd")
	hosts := flags.String("hosts", "", "comma-separated host names and IPs for the server certificate (default: the --listen host)")
	staleness := flags.Duration("staleness", authority.DefaultStaleness, "a node not heard from for this long is unreachable")
	pool := flags.String("overlay-pool", store.DefaultOverlayPool, "IPv4 prefix the slices' overlay subnets (/24 each) come from")
	prefix := flags.String("etcd-prefix", store.DefaultPrefix, "key prefix of the authority's records in etcd")
	logFormat := flags.String("log-format", "text", "log format on stderr: text or json")
	if err := parseFlags(flags, args); err != nil {
		return err
	}
	log, err := newLogger(*logFormat, stderr)
	if err != nil {
		return err
	}
	overlay, err := netip.ParsePrefix(*pool)
	if err != nil {
		return fmt.Errorf("invalid --overlay-pool %q: want an IPv4 prefix such as %s", *pool, store.DefaultOverlayPool)
	}
	if err := store.CheckOverlayPool(overlay); err != nil {
		return err
	}
	if *staleness <= 0 {
		return fmt.Errorf("invalid --staleness %s: must be positive", *staleness)
	}
	host, _, err := net.SplitHostPort(*listen)
	if err != nil {
		return fmt.Errorf("invalid --listen %q: want HOST:PORT", *listen)
	}
	certHosts := splitList(*hosts)
	if len(certHosts) == 0 {
		if host == "" || host == "0.0.0.0" || host == "::" {
			return fmt.Errorf("--listen %s names no host: give the names clients use with --hosts", *listen)
		}
		certHosts = []string{host}
	}

	eps := splitList(*endpoints)
	etcdConf, err := etcdTLS(eps, *etcdCA, *etcdCert, *etcdKey)
	if err != nil {
		return err
	}

	authorityCA, err := ca.Load(filepath.Join(*root, "ca"))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("no CA in %s: run pcr authority init --root %s", filepath.Join(*root, "ca"), *root)
		}
		return err
	}
	cert, err := authorityCA.ServerCertificate(certHosts, 365*24*time.Hour)
	if err != nil {
		return err
	}

	var etcdErr <-chan error
	if len(eps) == 0 {
		emb, err := store.StartEmbedded(*root, log, etcdTimeout)
		if err != nil {
			return err
		}
		defer emb.Close()
		eps, etcdErr = emb.Endpoints(), emb.Err()
	}
	st, err := store.Open(ctx, eps, store.Options{Prefix: *prefix, OverlayPool: overlay, TLS: etcdConf}, log, etcdTimeout)
	if err != nil {
		return err
	}
	defer st.Close()

	srv, err := authority.New(authority.Config{Store: st, CA: authorityCA, Staleness: *staleness, Log: log})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *listen, err)
	}
	serveCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if etcdErr != nil {
		// The embedded member failing is fatal: stop serving.
		go func() {
			select {
			case err := <-etcdErr:
				if err != nil {
					log.Error("embedded etcd failed", "err", err)
				}
				cancel()
			case <-serveCtx.Done():
			}
		}()
	}
	fmt.Fprintf(stderr, "pcr authority serving https://%s\n", ln.Addr())
	if err := srv.Serve(serveCtx, ln, cert); err != nil {
		return err
	}
	if ctx.Err() == nil {
		return fmt.Errorf("the embedded etcd stopped")
	}
	log.Info("authority stopped")
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
