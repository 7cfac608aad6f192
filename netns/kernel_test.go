package netns

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/moby/sys/mountinfo"
	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"pcr/netns/firewall"
)

// testNS runs functions on one thread that lives in a network namespace of
// its own, so the Manager made there works on that namespace and never on
// the host's. The thread is never unlocked: it dies with the goroutine.
type testNS struct{ calls chan func() }

func newTestNS(t *testing.T) *testNS {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("kernel tests need root (CI=true: not skipping)")
		}
		t.Skip("kernel tests need root")
	}
	ns := &testNS{calls: make(chan func())}
	errc := make(chan error)
	go func() {
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- err
			return
		}
		errc <- nil
		for f := range ns.calls {
			f()
		}
	}()
	if err := <-errc; err != nil {
		t.Fatalf("unshare netns: %v", err)
	}
	t.Cleanup(func() { close(ns.calls) })
	return ns
}

func (ns *testNS) do(f func()) {
	done := make(chan struct{})
	ns.calls <- func() { defer close(done); f() }
	<-done
}

// newTestManager makes a Manager inside a fresh namespace with private
// dirs; cleanup detaches whatever is left and checks no mount stays.
func newTestManager(t *testing.T, opts ...Option) (*Manager, *testNS) {
	ns := newTestNS(t)
	root, state := t.TempDir(), t.TempDir()
	opts = append([]Option{WithTable(fmt.Sprintf("pcrtest%d", os.Getpid())), WithDefaultBridge("pcrt0"), WithRecords("")}, opts...)
	var m *Manager
	var err error
	ns.do(func() { m, err = New(root, state, opts...) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		m.Sweep(func(string) bool { return false })
		m.Close()
		if ok, _ := mountinfo.Mounted(m.nsDir); ok {
			unix.Unmount(m.nsDir, unix.MNT_DETACH)
			t.Errorf("netns dir %s still mounted", m.nsDir)
		}
	})
	return m, ns
}

// inNetns runs f on a throw-away thread inside the namespace held at path.
func inNetns(t *testing.T, path string, f func() error) error {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		h, err := vnetns.GetFromPath(path)
		if err != nil {
			errc <- err
			return
		}
		defer h.Close()
		// Back to where it was before the thread may be reused: a locked
		// goroutine that exits on the main thread wedges it there, and the
		// thread would pin the namespace (and its veth) for good.
		orig, err := vnetns.Get()
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		if err := vnetns.Set(h); err != nil {
			errc <- err
			return
		}
		err = f()
		if vnetns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

// assertNothingLeft checks that no veth of id, no lease and no held netns remain.
func assertNothingLeft(t *testing.T, m *Manager, ns *testNS, id string) {
	t.Helper()
	// Detach leaves the veths to the kernel's netns cleanup, which runs
	// asynchronously: give it a moment before calling one leaked.
	var left []string
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var links []netlink.Link
		ns.do(func() { links, _ = m.nl.LinkList() })
		left = left[:0]
		for _, l := range links {
			if strings.HasPrefix(l.Attrs().Name, vethPrefix(id)) {
				left = append(left, l.Attrs().Name)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
	}
	for _, name := range left {
		t.Errorf("veth %s left", name)
	}
	if eps, _ := m.Endpoints(id); len(eps) != 0 {
		t.Errorf("leases left: %+v", eps)
	}
	if _, err := os.Stat(m.netnsPath(id)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("netns %s left (stat: %v)", m.netnsPath(id), err)
	}
	if ok, _ := mountinfo.Mounted(m.nsDir); ok {
		entries, _ := os.ReadDir(m.nsDir)
		if len(entries) == 0 {
			t.Errorf("netns dir still mounted with no namespace held")
		}
	}
}

const (
	idA = "aaaaaaaa00000000000000000000000000000000000000000000000000000001"
	idB = "bbbbbbbb00000000000000000000000000000000000000000000000000000002"
)

func TestAttachTwoContainersTalkOverTCP(t *testing.T) {
	m, ns := newTestManager(t)
	var pathA, pathB string
	var epsA, epsB []Endpoint
	var err error
	ns.do(func() { pathA, epsA, err = m.Attach(AttachOptions{ContainerID: idA, Name: "a"}) })
	if err != nil {
		t.Fatal(err)
	}
	ns.do(func() { pathB, epsB, err = m.Attach(AttachOptions{ContainerID: idB, Name: "b"}) })
	if err != nil {
		t.Fatal(err)
	}
	if !isNetnsMount(pathA) || !isNetnsMount(pathB) {
		t.Fatalf("namespaces not held: %s %s", pathA, pathB)
	}
	if epsA[0].IP == epsB[0].IP || !DefaultSubnet.Contains(epsA[0].IP) || epsA[0].Gateway != gatewayOf(DefaultSubnet) {
		t.Fatalf("endpoints: %+v %+v", epsA, epsB)
	}

	// eth0 with the address and the default route, lo up, inside A.
	err = inNetns(t, pathA, func() error {
		eth0, err := netlink.LinkByName("eth0")
		if err != nil {
			return err
		}
		if eth0.Attrs().HardwareAddr.String() != epsA[0].MAC {
			return fmt.Errorf("eth0 MAC %s, want %s", eth0.Attrs().HardwareAddr, epsA[0].MAC)
		}
		routes, err := netlink.RouteList(eth0, netlink.FAMILY_V4)
		if err != nil {
			return err
		}
		for _, r := range routes {
			if (r.Dst == nil || r.Dst.String() == "0.0.0.0/0") && r.Gw.String() == epsA[0].Gateway.String() {
				return nil
			}
		}
		return fmt.Errorf("no default route via %s in %v", epsA[0].Gateway, routes)
	})
	if err != nil {
		t.Fatal(err)
	}

	// A TCP listener in A, a connect from B.
	var ln net.Listener
	err = inNetns(t, pathA, func() (err error) {
		ln, err = net.Listen("tcp", netip.AddrPortFrom(epsA[0].IP, 0).String())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Write([]byte("hello from a"))
			c.Close()
		}
	}()
	err = inNetns(t, pathB, func() error {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 64)
		n, err := c.Read(buf)
		if string(buf[:n]) != "hello from a" {
			return fmt.Errorf("read %q, %v", buf[:n], err)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("B -> A over the bridge: %v", err)
	}

	// The listener's socket holds A's namespace, which would keep its veth.
	ln.Close()
	for _, id := range []string{idA, idB} {
		ns.do(func() { err = m.Detach(id) })
		if err != nil {
			t.Fatal(err)
		}
		ns.do(func() { err = m.Detach(id) }) // idempotent
		if err != nil {
			t.Fatalf("second Detach: %v", err)
		}
		assertNothingLeft(t, m, ns, id)
	}
	if ok, _ := mountinfo.Mounted(m.nsDir); ok {
		t.Error("netns dir still mounted after the last Detach")
	}
}

func TestAttachFailureLeavesNothing(t *testing.T) {
	m, ns := newTestManager(t)
	var eps []Endpoint
	var err error
	ns.do(func() { _, eps, err = m.Attach(AttachOptions{ContainerID: idA, Name: "a"}) })
	if err != nil {
		t.Fatal(err)
	}
	// B asks for A's address on its second network: the first one is
	// already attached when it fails.
	ns.do(func() { _, err = m.CreateNetwork("app", netip.Prefix{}) })
	if err != nil {
		t.Fatal(err)
	}
	ns.do(func() {
		_, _, err = m.Attach(AttachOptions{ContainerID: idB, Name: "b", Networks: []string{"app", "pcr", "nosuch"}})
	})
	if err == nil || !strings.Contains(err.Error(), "network nosuch not found") {
		t.Fatalf("attach to an unknown network: err = %v", err)
	}
	assertNothingLeft(t, m, ns, idB)
	ns.do(func() { _, _, err = m.Attach(AttachOptions{ContainerID: idB, IP: eps[0].IP}) })
	if err == nil || !strings.Contains(err.Error(), "already in use") {
		t.Fatalf("static IP taken: err = %v", err)
	}
	assertNothingLeft(t, m, ns, idB)
	// A published port that is taken fails after veth and lease were made.
	ports := []firewall.PortMapping{{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: 18080, ContainerPort: 80, Proto: "tcp"}}
	ns.do(func() { _, _, err = m.Attach(AttachOptions{ContainerID: "cccccccc01", Ports: ports}) })
	if err != nil {
		t.Fatal(err)
	}
	ns.do(func() { _, _, err = m.Attach(AttachOptions{ContainerID: idB, Ports: ports}) })
	if err == nil {
		t.Fatal("the same host port published twice")
	}
	assertNothingLeft(t, m, ns, idB)
	ns.do(func() { err = m.RemoveNetwork("app") })
	if err != nil {
		t.Fatalf("remove unused network: %v", err)
	}
}

func TestUserNetworksAndStaleLeases(t *testing.T) {
	m, ns := newTestManager(t)
	var err error
	var n *Network
	ns.do(func() { n, err = m.CreateNetwork("app", netip.Prefix{}) })
	if err != nil {
		t.Fatal(err)
	}
	ns.do(func() { _, err = m.CreateNetwork("other", n.Subnet) })
	if err == nil || !strings.Contains(err.Error(), "overlaps network app") {
		t.Fatalf("overlapping subnet: %v", err)
	}
	ns.do(func() { _, err = m.CreateNetwork("app", netip.Prefix{}) })
	if err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("taken name: %v", err)
	}
	var eps []Endpoint
	ns.do(func() {
		_, eps, err = m.Attach(AttachOptions{ContainerID: idA, Name: "a", Networks: []string{"app"}, Aliases: []string{"db"}})
	})
	if err != nil {
		t.Fatal(err)
	}
	ns.do(func() { _, _, err = m.Attach(AttachOptions{ContainerID: idB, Name: "b", Networks: []string{"app"}}) })
	if err != nil {
		t.Fatal(err)
	}
	h, _ := m.HostsFor(idB)
	if !strings.Contains(h, eps[0].IP.String()+"\ta db\n") {
		t.Errorf("b's hosts does not resolve a:\n%s", h)
	}
	ns.do(func() { err = m.RemoveNetwork("app") })
	if err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("remove a network in use: %v", err)
	}
	// Connect/Disconnect one more network.
	var ep *Endpoint
	ns.do(func() { ep, err = m.Connect(idA, "a", "pcr", nil) })
	if err != nil || ep.Veth != vethName(idA, 1) {
		t.Fatalf("connect: %+v %v", ep, err)
	}
	ns.do(func() { err = m.Disconnect(idA, "pcr") })
	if err != nil {
		t.Fatal(err)
	}
	// A crashed container: its netns mount vanished. Its lease is
	// reclaimed by the next Attach, which may get its address.
	if err := dropNetns(m.netnsPath(idA)); err != nil {
		t.Fatal(err)
	}
	ns.do(func() {
		_, eps, err = m.Attach(AttachOptions{ContainerID: "cccccccc02", Networks: []string{"app"}, IP: eps[0].IP})
	})
	if err != nil {
		t.Fatalf("stale lease not reclaimed: %v", err)
	}
	assertNothingLeft(t, m, ns, idA)
	ns.do(func() { err = m.Sweep(func(id string) bool { return id == idB }) })
	if err != nil {
		t.Fatal(err)
	}
	assertNothingLeft(t, m, ns, "cccccccc02")
	if e, _ := m.Endpoints(idB); len(e) != 1 {
		t.Fatalf("Sweep took a live container's lease: %+v", e)
	}
	var pruned []string
	ns.do(func() { err = m.Detach(idB); pruned, _ = m.PruneNetworks() })
	if err != nil || len(pruned) != 1 || pruned[0] != "app" {
		t.Fatalf("prune: %v %v", pruned, err)
	}
	var links []netlink.Link
	ns.do(func() { links, _ = m.nl.LinkList() })
	for _, l := range links {
		if l.Attrs().Name == n.Bridge {
			t.Errorf("bridge %s left after prune", n.Bridge)
		}
	}
	_ = filepath.Join
}

// BenchmarkAttach measures Attach (default network, no ports) and Detach
// separately, in a namespace of the benchmark's own.
func BenchmarkAttach(b *testing.B) {
	ns := &testNS{calls: make(chan func())}
	go func() {
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			panic(err)
		}
		for f := range ns.calls {
			f()
		}
	}()
	defer close(ns.calls)
	var m *Manager
	var err error
	root, state := b.TempDir(), b.TempDir()
	ns.do(func() { m, err = New(root, state, WithTable("pcrbench"), WithRecords("")) })
	if err != nil {
		b.Fatal(err)
	}
	ns.do(func() { _, _, err = m.Attach(AttachOptions{ContainerID: "warmup01"}); m.Detach("warmup01") })
	var attach, detach time.Duration
	for i := 0; i < b.N; i++ {
		id := fmt.Sprintf("%08x", i)
		ns.do(func() {
			t0 := time.Now()
			_, _, err = m.Attach(AttachOptions{ContainerID: id})
			attach += time.Since(t0)
			t0 = time.Now()
			m.Detach(id)
			detach += time.Since(t0)
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(attach.Microseconds())/float64(b.N), "attach-µs/op")
	b.ReportMetric(float64(detach.Microseconds())/float64(b.N), "detach-µs/op")
}
