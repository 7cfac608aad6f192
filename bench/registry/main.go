// Command registry serves a distribution v3 registry on 127.0.0.1 for bench/image.sh, the same
// registry the integration tests run in-process: pcr push/pull and skopeo copy are timed
// against it with nothing but loopback between them.
//
//	registry -dir STORAGE -addr-file FILE
//
// It listens on a free port, writes host:port to FILE once it accepts connections, and serves
// until SIGTERM or SIGINT.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
	"github.com/sirupsen/logrus"
)

func main() {
	dir := flag.String("dir", "", "storage directory")
	addrFile := flag.String("addr-file", "", "write host:port here once listening")
	flag.Parse()
	if *dir == "" || *addrFile == "" {
		fmt.Fprintln(os.Stderr, "usage: registry -dir STORAGE -addr-file FILE")
		os.Exit(2)
	}
	if err := serve(*dir, *addrFile); err != nil {
		fmt.Fprintln(os.Stderr, "registry:", err)
		os.Exit(1)
	}
}

func serve(dir, addrFile string) error {
	cfg := &configuration.Configuration{
		Storage: configuration.Storage{
			"filesystem": configuration.Parameters{"rootdirectory": dir},
			// No background purge walking the storage while a transfer is being timed.
			"maintenance": configuration.Parameters{"uploadpurging": map[any]any{"enabled": false}},
		},
	}
	cfg.Log.AccessLog.Disabled = true
	// Request logs would cost time inside the measured transfers.
	logrus.SetOutput(io.Discard)
	app := handlers.NewApp(context.Background(), cfg)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen on 127.0.0.1: %w", err)
	}
	if err := writeAddr(addrFile, ln.Addr().String()); err != nil {
		ln.Close()
		return err
	}
	srv := &http.Server{Handler: app}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sig
		srv.Close()
	}()
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		return fmt.Errorf("serve on %s: %w", ln.Addr(), err)
	}
	return nil
}

// writeAddr replaces FILE whole, so that a reader polling for it never sees half an address.
func writeAddr(file, addr string) error {
	tmp, err := os.CreateTemp(filepath.Dir(file), ".addr-*")
	if err != nil {
		return fmt.Errorf("write address to %s: %w", file, err)
	}
	_, err = tmp.WriteString(addr + "\n")
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), file)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write address to %s: %w", file, err)
	}
	return nil
}
