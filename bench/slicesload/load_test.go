package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pcr/slices/api"
	"pcr/slices/authority"
	"pcr/slices/ca"
	"pcr/slices/store"
)

// testAuthorities serves n authorities on one embedded etcd, as the
// benchmark's cluster does, and writes an admin's credentials to files.
func testAuthorities(t *testing.T, n int) (urls []string, caFile, certFile, keyFile string, admin *api.Client) {
	t.Helper()
	dir := t.TempDir()
	authCA, err := ca.Init(filepath.Join(dir, "ca"), "load test")
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	emb, err := store.StartEmbedded(dir, quiet, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emb.Close)
	cert, err := authCA.ServerCertificate([]string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	for range n {
		st, err := store.Open(ctx, emb.Endpoints(), store.Options{}, quiet, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		srv, err := authority.New(authority.Config{Store: st, CA: authCA, Log: quiet})
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { defer close(done); _ = srv.Serve(ctx, ln, cert) }()
		t.Cleanup(func() { cancel(); <-done; st.Close() })
		urls = append(urls, "https://"+ln.Addr().String())
	}
	certPEM, keyPEM, err := authCA.IssueKeyPair(ca.Identity{Name: "root", Role: ca.RoleAdmin}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	caFile, certFile, keyFile = filepath.Join(dir, "ca.crt"), filepath.Join(dir, "root.crt"), filepath.Join(dir, "root.key")
	for f, data := range map[string][]byte{caFile: authCA.CertPEM(), certFile: certPEM, keyFile: keyPEM} {
		if err := os.WriteFile(f, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tlsConf, err := ca.ClientTLS(caFile, certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	admin, err = api.NewClient(urls[0], tlsConf)
	if err != nil {
		t.Fatal(err)
	}
	return urls, caFile, certFile, keyFile, admin
}

func TestLoadCreatesThenDeletesEverySlice(t *testing.T) {
	urls, caFile, certFile, keyFile, admin := testAuthorities(t, 2)
	// A slice of another site, there before the run, must survive it.
	if _, err := admin.CreateSlice(t.Context(), api.CreateSlice{Name: "other_keep", Image: "busybox", Nodes: []string{}}); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"-authorities", strings.Join(urls, ","), "-ca", caFile, "-cert", certFile, "-key", keyFile,
		"-workers", "3", "-duration", "700ms", "-site", "ldtest"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d; stderr: %s", code, stderr.String())
	}
	var res loadResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("stdout is not one JSON object: %q: %v", stdout.String(), err)
	}
	if res.Authorities != 2 || res.Workers != 3 || res.Creates < 3 || res.Deletes != res.Creates || res.Errors != 0 {
		t.Fatalf("result %+v: want 2 authorities, 3 workers, some creates, as many deletes, no errors", res)
	}
	if res.CreatesPerS <= 0 || res.CreateP50Ms <= 0 || res.CreateP99Ms < res.CreateP50Ms || res.DeleteP99Ms < res.DeleteP50Ms {
		t.Fatalf("result %+v: rates and percentiles out of order", res)
	}
	left, err := admin.ListSlices(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 1 || left[0].Name != "other_keep" {
		t.Fatalf("after the run the authority holds %d slices (first %+v); want only other_keep", len(left), left)
	}
}

func TestLoadFailsOnOneLineWhenAnAuthorityIsDown(t *testing.T) {
	urls, caFile, certFile, keyFile, _ := testAuthorities(t, 1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "https://" + ln.Addr().String()
	ln.Close()
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"-authorities", urls[0] + "," + down, "-ca", caFile, "-cert", certFile, "-key", keyFile,
		"-workers", "1", "-duration", "200ms"}, &stdout, &stderr)
	msg := stderr.String()
	if code != 1 || strings.Count(msg, "\n") != 1 || !strings.Contains(msg, down) || !strings.Contains(msg, "unreachable") {
		t.Fatalf("exit %d, stderr %q; want 1 and one line naming %s as unreachable", code, msg, down)
	}
}

func TestUsageErrors(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"-workers", "2"}, &stdout, &stderr); code != 2 ||
		stderr.String() != "slicesload: requires -authorities, -ca, -cert and -key, and no arguments\n" {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
}

func TestPercentileIsNearestRank(t *testing.T) {
	ms := func(vs ...int) []time.Duration {
		var out []time.Duration
		for _, v := range vs {
			out = append(out, time.Duration(v)*time.Millisecond)
		}
		return out
	}
	for _, c := range []struct {
		in   []time.Duration
		p    float64
		want float64
	}{
		{nil, 50, 0},
		{ms(7), 99, 7},
		{ms(4, 1, 3, 2), 50, 2},
		{ms(4, 1, 3, 2), 99, 4},
		{ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 90, 9},
	} {
		if got := percentileMs(c.in, c.p); got != c.want {
			t.Errorf("p%v of %v = %v, want %v", c.p, c.in, got, c.want)
		}
	}
}
