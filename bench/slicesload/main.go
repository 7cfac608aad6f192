// Command slicesload is the load generator of bench/slices.sh: K workers
// create slices with no nodes through the authority's HTTPS API, round-robin
// over one or more authorities, for a fixed time, then delete them all, and
// print the creates per second and the latencies as one JSON object.
//
//	slicesload -authorities https://127.0.0.1:7441,https://127.0.0.1:7442 \
//	    -ca ca.crt -cert admin.crt -key admin.key -workers 8 -duration 10s
//
// It needs an admin's credentials: the slices belong to a site of its own
// (-site) with no owners. Exit status 1 when any call failed (the JSON
// still comes, with the first error in it), 2 for bad usage.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"pcr/slices/ca"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("slicesload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	urls := fs.String("authorities", "", "comma-separated authority URLs (https://HOST:PORT), called round-robin")
	caFile := fs.String("ca", "", "the authority's CA certificate")
	certFile := fs.String("cert", "", "an admin's certificate")
	keyFile := fs.String("key", "", "the admin's key")
	workers := fs.Int("workers", 8, "callers at once")
	duration := fs.Duration("duration", 10*time.Second, "how long to create slices")
	site := fs.String("site", "load", "site part of the slices' names")
	image := fs.String("image", "busybox", "the slices' image (no node runs them)")
	timeout := fs.Duration("timeout", 30*time.Second, "the longest one call may take")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	var authorities []string
	for _, u := range strings.Split(*urls, ",") {
		if u = strings.TrimSpace(u); u != "" {
			authorities = append(authorities, u)
		}
	}
	if fs.NArg() > 0 || len(authorities) == 0 || *caFile == "" || *certFile == "" || *keyFile == "" {
		fmt.Fprintln(stderr, "slicesload: requires -authorities, -ca, -cert and -key, and no arguments")
		return 2
	}
	tlsConf, err := ca.ClientTLS(*caFile, *certFile, *keyFile)
	if err != nil {
		fmt.Fprintf(stderr, "slicesload: %v\n", err)
		return 1
	}
	res, err := runLoad(ctx, loadConfig{Authorities: authorities, TLS: tlsConf, Workers: *workers,
		Duration: *duration, Site: *site, Image: *image, RequestTimeout: *timeout})
	if err != nil {
		fmt.Fprintf(stderr, "slicesload: %v\n", err)
		return 1
	}
	out, _ := json.Marshal(res)
	fmt.Fprintln(stdout, string(out))
	if res.Errors > 0 {
		fmt.Fprintf(stderr, "slicesload: %d of %d workers failed; first: %s\n", res.Errors, res.Workers, res.FirstError)
		return 1
	}
	return 0
}
