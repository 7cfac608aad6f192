package netns

import (
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
)

// rootTbf is the root tbf qdisc on eth0 in the namespace at path, or nil.
func rootTbf(t *testing.T, path string) *netlink.Tbf {
	t.Helper()
	var tbf *netlink.Tbf
	err := inNetns(t, path, func() error {
		eth0, err := netlink.LinkByName("eth0")
		if err != nil {
			return err
		}
		qs, err := netlink.QdiscList(eth0)
		if err != nil {
			return err
		}
		for _, q := range qs {
			if q, ok := q.(*netlink.Tbf); ok && q.Parent == netlink.HANDLE_ROOT {
				tbf = q
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return tbf
}

// TestEgressRateShapesWhatTheContainerSends sends 512 KiB from A to B at
// 1 Mbit/s: it must take about 4 s. Only a lower bound is asserted, so a
// slow machine never fails it.
func TestEgressRateShapesWhatTheContainerSends(t *testing.T) {
	m, ns := newTestManager(t)
	var pathA, pathB string
	var epsB []Endpoint
	var err error
	ns.do(func() { pathA, _, err = m.Attach(AttachOptions{ContainerID: idA, Name: "a"}) })
	if err != nil {
		t.Fatal(err)
	}
	ns.do(func() { pathB, epsB, err = m.Attach(AttachOptions{ContainerID: idB, Name: "b"}) })
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, id := range []string{idA, idB} {
			ns.do(func() { m.Detach(id) })
			assertNothingLeft(t, m, ns, id)
		}
	}()

	for _, bad := range []int64{-1, 1, MinEgressRate - 1} {
		ns.do(func() { err = m.SetEgressRate(idA, bad) })
		if err == nil || !strings.Contains(err.Error(), "at least") {
			t.Errorf("SetEgressRate(%d): err = %v, want a refusal", bad, err)
		}
	}
	ns.do(func() { err = m.SetEgressRate("cccccccc09", 125000) })
	if err == nil || !strings.Contains(err.Error(), "no network namespace") {
		t.Errorf("SetEgressRate of a container without netns: err = %v", err)
	}

	const rate, size = 125000, 512 << 10 // 1 Mbit/s
	ns.do(func() { err = m.SetEgressRate(idA, rate) })
	if err != nil {
		t.Fatal(err)
	}
	ns.do(func() { err = m.SetEgressRate(idA, rate) }) // replaces, does not fail
	if err != nil {
		t.Fatalf("second SetEgressRate: %v", err)
	}
	tbf := rootTbf(t, pathA)
	if tbf == nil || tbf.Rate != rate {
		t.Fatalf("eth0 of A: root qdisc %+v, want tbf at %d bytes/s", tbf, rate)
	}
	if b := rootTbf(t, pathB); b != nil {
		t.Fatalf("B is shaped too: %+v", b)
	}
	_, tx0, err := m.Counters(idA)
	if err != nil {
		t.Fatal(err)
	}

	var ln net.Listener
	err = inNetns(t, pathB, func() (err error) {
		ln, err = net.Listen("tcp", netip.AddrPortFrom(epsB[0].IP, 0).String())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan int64, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- -1
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(60 * time.Second))
		n, _ := io.Copy(io.Discard, c)
		got <- n
	}()
	start := time.Now()
	err = inNetns(t, pathA, func() error {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(60 * time.Second))
		_, err = c.Write(make([]byte, size))
		return err
	})
	if err != nil {
		t.Fatalf("A -> B: %v", err)
	}
	if n := <-got; n != size {
		t.Fatalf("B received %d bytes, want %d", n, size)
	}
	took := time.Since(start)
	if want := time.Duration(size) * time.Second / rate * 8 / 10; took < want {
		t.Errorf("%d bytes at %d bytes/s took %v, want at least %v", size, rate, took, want)
	}
	t.Logf("%d bytes at %d bytes/s took %v", size, rate, took)
	_, tx1, err := m.Counters(idA)
	if err != nil {
		t.Fatal(err)
	}
	if tx1-tx0 < size {
		t.Errorf("A's tx counter grew by %d, want at least %d", tx1-tx0, size)
	}
	rxB, _, err := m.Counters(idB)
	if err != nil || rxB < size {
		t.Errorf("B's rx counter %d (%v), want at least %d", rxB, err, size)
	}

	ns.do(func() { err = m.SetEgressRate(idA, 0) })
	if err != nil {
		t.Fatal(err)
	}
	if tbf := rootTbf(t, pathA); tbf != nil {
		t.Fatalf("tbf left after SetEgressRate 0: %+v", tbf)
	}
	ns.do(func() { err = m.SetEgressRate(idA, 0) }) // nothing to remove
	if err != nil {
		t.Fatalf("second SetEgressRate 0: %v", err)
	}
	ln.Close()
}
