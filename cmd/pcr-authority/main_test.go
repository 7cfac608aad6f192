package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"runtime"
	"sync"
	"testing"
	"time"

	"pcr/slices/api"
	"pcr/slices/ca"
)

// syncBuffer is stderr shared between the command and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitLine waits for a line matching re on stderr and returns its first
// group.
func waitLine(t *testing.T, stderr *syncBuffer, re *regexp.Regexp, exited <-chan int) string {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		if m := re.FindStringSubmatch(stderr.String()); m != nil {
			return m[1]
		}
		select {
		case code := <-exited:
			t.Fatalf("exited %d before %s; stderr:\n%s", code, re, stderr)
		case <-deadline:
			t.Fatalf("no %s within 30s; stderr:\n%s", re, stderr)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func TestServeWithoutCANamesTheFix(t *testing.T) {
	root := t.TempDir()
	var stderr bytes.Buffer
	code := run(t.Context(), []string{"serve", "--root", root, "--listen", "127.0.0.1:0"}, &stderr)
	want := fmt.Sprintf("pcr-authority serve: no CA in %s/ca: run pcr authority init --root %s\n", root, root)
	if code != 1 || stderr.String() != want {
		t.Fatalf("exit %d, stderr %q; want 1 and %q", code, stderr.String(), want)
	}
}

func TestBadFlagsAreUsageErrors(t *testing.T) {
	for _, args := range [][]string{{"serve", "--bogus"}, {"serve", "extra"}, {"frobnicate"}, {}} {
		var stderr bytes.Buffer
		if code := run(t.Context(), args, &stderr); code != 2 {
			t.Errorf("%q: exit %d, want 2; stderr %q", args, code, stderr.String())
		}
	}
	var stderr bytes.Buffer
	code := run(t.Context(), []string{"serve", "--root", t.TempDir(), "--overlay-pool", "10.0.0.0/30"}, &stderr)
	if code != 1 || stderr.String() != "pcr-authority serve: invalid overlay pool 10.0.0.0/30: want an IPv4 prefix from /8 to /24\n" {
		t.Errorf("bad pool: exit %d, stderr %q", code, stderr.String())
	}
}

// serveOnce runs serve on root until the returned stop is called.
func serveOnce(t *testing.T, root string) (url string, stop func() int, stderr *syncBuffer) {
	ctx, cancel := context.WithCancel(t.Context())
	stderr = &syncBuffer{}
	exited := make(chan int, 1)
	go func() { exited <- run(ctx, []string{"serve", "--root", root, "--listen", "127.0.0.1:0"}, stderr) }()
	addr := waitLine(t, stderr, regexp.MustCompile(`pcr authority serving (https://\S+)\n`), exited)
	return addr, func() int {
		cancel()
		select {
		case code := <-exited:
			return code
		case <-time.After(15 * time.Second):
			t.Fatalf("serve did not stop within 15s of its signal; stderr:\n%s", stderr)
			return -1
		}
	}, stderr
}

func TestServeKeepsSlicesAcrossARestart(t *testing.T) {
	root := t.TempDir()
	authCA, err := ca.Init(filepath.Join(root, "ca"), "test")
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := authCA.IssueKeyPair(ca.Identity{Name: "root", Role: ca.RoleAdmin}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	conf := &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: authCA.Pool(), Certificates: []tls.Certificate{pair}}
	before := runtime.NumGoroutine()

	url, stop, stderr := serveOnce(t, root)
	admin, err := api.NewClient(url, conf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreateSlice(t.Context(), api.CreateSlice{Name: "pl_keep", Image: "busybox"}); err != nil {
		t.Fatal(err)
	}
	if code := stop(); code != 0 {
		t.Fatalf("serve exited %d after its signal; stderr:\n%s", code, stderr)
	}
	time.Sleep(100 * time.Millisecond)
	t.Logf("goroutines: %d before serve, %d after it stopped", before, runtime.NumGoroutine())

	url, stop, stderr = serveOnce(t, root)
	defer func() {
		if code := stop(); code != 0 {
			t.Errorf("second serve exited %d; stderr:\n%s", code, stderr)
		}
	}()
	admin, _ = api.NewClient(url, conf)
	sl, err := admin.GetSlice(t.Context(), "pl_keep")
	if err != nil || sl.Network == nil || sl.Network.VNI != 4096 {
		t.Fatalf("after a restart: %+v %v", sl, err)
	}
}

func TestEtcdMemberServesUntilStopped(t *testing.T) {
	var ports []int
	for range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
		ln.Close()
	}
	peer := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	ctx, cancel := context.WithCancel(t.Context())
	stderr := &syncBuffer{}
	exited := make(chan int, 1)
	go func() {
		exited <- run(ctx, []string{"etcd", "--name", "a", "--data-dir", filepath.Join(t.TempDir(), "a"),
			"--listen-client", fmt.Sprintf("http://127.0.0.1:%d", ports[0]), "--listen-peer", peer,
			"--initial-cluster", "a=" + peer}, stderr)
	}()
	ep := waitLine(t, stderr, regexp.MustCompile(`pcr etcd member a serving (\S+)\n`), exited)
	if ep != fmt.Sprintf("http://127.0.0.1:%d", ports[0]) {
		t.Errorf("member serves %s", ep)
	}
	cancel()
	if code := <-exited; code != 0 {
		t.Fatalf("etcd member exited %d; stderr:\n%s", code, stderr)
	}
}
