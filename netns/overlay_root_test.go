package netns

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/userdata"
	"github.com/moby/sys/mountinfo"
	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"pcr/netns/firewall"
)

// node is one simulated machine: a network namespace of the test's own
// (its "host") with a Manager running in it on private dirs.
type node struct {
	ns *testNS
	m  *Manager
}

func newNode(t *testing.T) *node {
	t.Helper()
	ns := newTestNS(t)
	root, state := t.TempDir(), t.TempDir()
	var m *Manager
	var err error
	ns.do(func() {
		m, err = New(root, state, WithTable(fmt.Sprintf("pcrtest%d", os.Getpid())), WithDefaultBridge("pcrt0"), WithRecords(""))
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		m.Sweep(func(string) bool { return false })
		if fw, err := m.firewall(); err == nil {
			fw.Delete()
		}
		m.Close()
		if ok, _ := mountinfo.Mounted(m.nsDir); ok {
			unix.Unmount(m.nsDir, unix.MNT_DETACH)
			t.Errorf("netns dir %s still mounted", m.nsDir)
		}
	})
	return &node{ns: ns, m: m}
}

// run runs f on the node's thread, in its network namespace.
func (n *node) run(f func() error) error {
	var err error
	n.ns.do(func() { err = f() })
	return err
}

// joinUnderlay links the nodes with a veth pair, a at 10.201.0.1/24 and b
// at 10.201.0.2/24: their "physical" network.
func joinUnderlay(t *testing.T, a, b *node) {
	t.Helper()
	var hb vnetns.NsHandle
	if err := b.run(func() (err error) { hb, err = vnetns.Get(); return err }); err != nil {
		t.Fatal(err)
	}
	defer hb.Close()
	up := func(name, addr string) error {
		l, err := netlink.LinkByName(name)
		if err != nil {
			return err
		}
		a, _ := netlink.ParseAddr(addr)
		if err := netlink.AddrAdd(l, a); err != nil {
			return err
		}
		if err := netlink.LinkSetUp(l); err != nil {
			return err
		}
		return netlink.LinkSetUp(&netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: 1, Name: "lo"}})
	}
	err := a.run(func() error {
		la := netlink.NewLinkAttrs()
		la.Name = "under0"
		if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: la, PeerName: "under1", PeerNamespace: netlink.NsFd(int(hb))}); err != nil {
			return err
		}
		return up("under0", "10.201.0.1/24")
	})
	if err != nil {
		t.Fatalf("underlay on node a: %v", err)
	}
	if err := b.run(func() error { return up("under1", "10.201.0.2/24") }); err != nil {
		t.Fatalf("underlay on node b: %v", err)
	}
}

// serveTCP listens in the container netns at path on ip and answers every
// connection with "hello from NAME".
func serveTCP(t *testing.T, path string, ip netip.Addr, name string) net.Listener {
	t.Helper()
	var ln net.Listener
	err := inNetns(t, path, func() (err error) {
		ln, err = net.Listen("tcp", netip.AddrPortFrom(ip, 0).String())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("hello from " + name))
			c.Close()
		}
	}()
	return ln
}

// dialFrom connects from the container netns at path to addr and returns
// what the server said.
func dialFrom(t *testing.T, path, addr string) (string, error) {
	t.Helper()
	var got string
	err := inNetns(t, path, func() error {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(3 * time.Second))
		buf := make([]byte, 64)
		n, err := c.Read(buf)
		got = string(buf[:n])
		return err
	})
	return got, err
}

const (
	idC = "cccccccc00000000000000000000000000000000000000000000000000000003"
	idD = "dddddddd00000000000000000000000000000000000000000000000000000004"
)

// TestOverlayAcrossTwoNodes builds two nodes joined by an underlay, the
// same overlay (VNI 4242) on both, and a container on each: they talk over
// the overlay; a second overlay's container, other traffic of the nodes
// and traffic routed in from the underlay do not get in.
func TestOverlayAcrossTwoNodes(t *testing.T) {
	a, b := newNode(t), newNode(t)
	joinUnderlay(t, a, b)
	ua, ub := netip.MustParseAddr("10.201.0.1"), netip.MustParseAddr("10.201.0.2")
	subnet, other := netip.MustParsePrefix("10.96.42.0/24"), netip.MustParsePrefix("10.96.43.0/24")
	ipA, ipB := netip.MustParseAddr("10.96.42.2"), netip.MustParseAddr("10.96.42.3")

	var nA *Network
	var err error
	err = a.run(func() (err error) {
		nA, err = a.m.EnsureOverlay(OverlayOptions{Name: "slice", Subnet: subnet, VNI: 4242, Local: ua, Peers: []netip.Addr{ub}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if nA.Gateway.IsValid() || nA.VNI != 4242 || nA.Local != ua || !slices.Equal(nA.Peers, []netip.Addr{ub}) {
		t.Fatalf("overlay record: %+v", nA)
	}
	err = b.run(func() error {
		_, err := b.m.EnsureOverlay(OverlayOptions{Name: "slice", Subnet: subnet, VNI: 4242, Local: ub, Peers: []netip.Addr{ua}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	// What an overlay refuses.
	for _, c := range []struct {
		o    OverlayOptions
		want string
	}{
		{OverlayOptions{Name: "slice", Subnet: subnet, VNI: 4242, Local: ua, Peers: []netip.Addr{ub}}, "network slice already exists"},
		{OverlayOptions{Name: "clash", Subnet: other, VNI: 4242, Local: ua}, "VNI 4242 is already network slice's"},
		{OverlayOptions{Name: "under", Subnet: netip.MustParsePrefix("10.201.0.0/24"), VNI: 7, Local: ua}, "overlaps 10.201.0.0/24 on host interface under0"},
		{OverlayOptions{Name: "same", Subnet: netip.MustParsePrefix("10.96.42.0/25"), VNI: 8, Local: ua}, "overlaps network slice"},
		{OverlayOptions{Name: "away", Subnet: other, VNI: 9, Local: netip.MustParseAddr("10.201.0.77")}, "local address 10.201.0.77 is on no interface of this node"},
	} {
		err := a.run(func() error { _, err := a.m.CreateOverlay(c.o); return err })
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("CreateOverlay(%+v): err = %v, want %q", c.o, err, c.want)
		}
	}
	err = a.run(func() error {
		_, err := a.m.EnsureOverlay(OverlayOptions{Name: "slice", Subnet: subnet, VNI: 4343, Local: ua})
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "exists with VNI 4242 and subnet 10.96.42.0/24, not VNI 4343") {
		t.Errorf("EnsureOverlay with another VNI: err = %v", err)
	}
	err = a.run(func() error {
		_, _, err := a.m.Attach(AttachOptions{ContainerID: idA, Networks: []string{"slice"}})
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "give the container a fixed address") {
		t.Errorf("attach to an overlay without an address: err = %v", err)
	}
	err = a.run(func() error {
		_, _, err := a.m.Attach(AttachOptions{ContainerID: idA, Networks: []string{"slice"}, IPs: map[string]netip.Addr{"slice": ipA},
			Ports: []firewall.PortMapping{{HostPort: 18081, ContainerPort: 80, Proto: "tcp"}}})
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "publishes no ports") {
		t.Errorf("publish a port on an overlay: err = %v", err)
	}
	assertNothingLeft(t, a.m, a.ns, idA)

	// One container on each node.
	var pathA, pathB string
	var epsA []Endpoint
	err = a.run(func() (err error) {
		pathA, epsA, err = a.m.Attach(AttachOptions{ContainerID: idA, Name: "a", Networks: []string{"slice"}, IPs: map[string]netip.Addr{"slice": ipA}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	err = b.run(func() (err error) {
		pathB, _, err = b.m.Attach(AttachOptions{ContainerID: idB, Name: "b", Networks: []string{"slice"}, IPs: map[string]netip.Addr{"slice": ipB}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if epsA[0].IP != ipA || epsA[0].Gateway.IsValid() || epsA[0].Prefix != netip.PrefixFrom(ipA, 24) {
		t.Errorf("endpoint on the overlay: %+v", epsA[0])
	}
	// eth0: the underlay's MTU less VXLAN's 50 bytes, no default route.
	err = inNetns(t, pathA, func() error {
		eth0, err := netlink.LinkByName("eth0")
		if err != nil {
			return err
		}
		if eth0.Attrs().MTU != 1450 {
			return fmt.Errorf("eth0 MTU %d, want 1450", eth0.Attrs().MTU)
		}
		routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
		if err != nil {
			return err
		}
		for _, r := range routes {
			if r.Dst == nil || r.Dst.String() == "0.0.0.0/0" {
				return fmt.Errorf("a default route on an overlay: %v", r)
			}
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}

	lnB := serveTCP(t, pathB, ipB, "b")
	defer lnB.Close()
	lnA := serveTCP(t, pathA, ipA, "a")
	defer lnA.Close()
	portB, portA := lnB.Addr().(*net.TCPAddr).Port, lnA.Addr().(*net.TCPAddr).Port
	toB, toA := netip.AddrPortFrom(ipB, uint16(portB)).String(), netip.AddrPortFrom(ipA, uint16(portA)).String()
	if got, err := dialFrom(t, pathA, toB); err != nil || got != "hello from b" {
		t.Fatalf("node a's container -> node b's over the overlay: %q, %v", got, err)
	}
	if got, err := dialFrom(t, pathB, toA); err != nil || got != "hello from a" {
		t.Fatalf("node b's container -> node a's over the overlay: %q, %v", got, err)
	}

	// Peers change under running containers; EnsureOverlay again is no error.
	flood := func() []netip.Addr {
		var ps []netip.Addr
		err := a.run(func() error {
			vx, err := a.m.nl.LinkByName(vxlanName(4242))
			if err != nil {
				return err
			}
			ps, err = a.m.floodPeers(vx)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		slices.SortFunc(ps, netip.Addr.Compare)
		return ps
	}
	if got := flood(); !slices.Equal(got, []netip.Addr{ub}) {
		t.Errorf("node a floods to %v, want [%s]", got, ub)
	}
	extra := netip.MustParseAddr("10.201.0.9")
	if err := a.run(func() error { return a.m.SetOverlayPeers("slice", []netip.Addr{ub, extra}) }); err != nil {
		t.Fatal(err)
	}
	if got := flood(); !slices.Equal(got, []netip.Addr{ub, extra}) {
		t.Errorf("after adding a peer node a floods to %v", got)
	}
	if err := a.run(func() error {
		_, err := a.m.EnsureOverlay(OverlayOptions{Name: "slice", Subnet: subnet, VNI: 4242, Local: ua, Peers: []netip.Addr{ub}})
		return err
	}); err != nil {
		t.Fatalf("EnsureOverlay of an existing overlay: %v", err)
	}
	if got := flood(); !slices.Equal(got, []netip.Addr{ub}) {
		t.Errorf("after EnsureOverlay node a floods to %v, want [%s]", got, ub)
	}
	if n, _ := a.m.Network("slice"); n == nil || !slices.Equal(n.Peers, []netip.Addr{ub}) || n.ID != nA.ID {
		t.Errorf("record after EnsureOverlay: %+v", n)
	}
	if err := a.run(func() error { return a.m.SetOverlayPeers("slice", []netip.Addr{ua}) }); err == nil || !strings.Contains(err.Error(), "own local address") {
		t.Errorf("SetOverlayPeers with the local address: err = %v", err)
	}
	if got, err := dialFrom(t, pathA, toB); err != nil || got != "hello from b" {
		t.Fatalf("after the peer changes: %q, %v", got, err)
	}

	// A second overlay (VNI 4343) with a container on each node: they talk,
	// and node a's cannot reach the first overlay's containers even with an
	// address of its subnet on its own interface.
	for _, n := range []*node{a, b} {
		local, peer := ua, ub
		if n == b {
			local, peer = ub, ua
		}
		if err := n.run(func() error {
			_, err := n.m.EnsureOverlay(OverlayOptions{Name: "other", Subnet: other, VNI: 4343, Local: local, Peers: []netip.Addr{peer}})
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	var pathC, pathD string
	ipC, ipD := netip.MustParseAddr("10.96.43.2"), netip.MustParseAddr("10.96.43.3")
	if err := a.run(func() (err error) {
		pathC, _, err = a.m.Attach(AttachOptions{ContainerID: idC, Networks: []string{"other"}, IPs: map[string]netip.Addr{"other": ipC}})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := b.run(func() (err error) {
		pathD, _, err = b.m.Attach(AttachOptions{ContainerID: idD, Networks: []string{"other"}, IPs: map[string]netip.Addr{"other": ipD}})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	lnD := serveTCP(t, pathD, ipD, "d")
	defer lnD.Close()
	if got, err := dialFrom(t, pathC, lnD.Addr().String()); err != nil || got != "hello from d" {
		t.Fatalf("the second overlay's containers: %q, %v", got, err)
	}
	err = inNetns(t, pathC, func() error {
		eth0, err := netlink.LinkByName("eth0")
		if err != nil {
			return err
		}
		spoof, _ := netlink.ParseAddr("10.96.42.9/24")
		return netlink.AddrAdd(eth0, spoof)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, to := range []string{toA, toB} {
		if got, err := dialFrom(t, pathC, to); err == nil {
			t.Errorf("the second overlay's container reached %s: %q", to, got)
		}
	}

	// The nodes themselves have no way in: no address, no route.
	for _, n := range []*node{a, b} {
		err := n.run(func() error {
			c, err := net.DialTimeout("tcp", toA, 2*time.Second)
			if err == nil {
				c.Close()
			}
			return err
		})
		if err == nil {
			t.Errorf("a node reached %s", toA)
		}
	}

	// Forwarding into the overlay is dropped even where a route leads in:
	// node a routes the subnet to the bridge and forwards, node b routes
	// it via node a. A datagram node a sends itself arrives (the route
	// works); the one node b sends, forwarded by node a, does not.
	var udp net.PacketConn
	if err := inNetns(t, pathA, func() (err error) {
		udp, err = net.ListenPacket("udp", netip.AddrPortFrom(ipA, 0).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	err = a.run(func() error {
		br, err := netlink.LinkByName(nA.Bridge)
		if err != nil {
			return err
		}
		if err := netlink.RouteAdd(&netlink.Route{Dst: ipNet(subnet.Addr(), subnet), LinkIndex: br.Attrs().Index, Scope: netlink.SCOPE_LINK}); err != nil {
			return err
		}
		return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	err = b.run(func() error {
		return netlink.RouteAdd(&netlink.Route{Dst: ipNet(subnet.Addr(), subnet), Gw: ua.AsSlice()})
	})
	if err != nil {
		t.Fatal(err)
	}
	send := func(n *node, msg string) {
		t.Helper()
		err := n.run(func() error {
			c, err := net.Dial("udp", udp.LocalAddr().String())
			if err != nil {
				return err
			}
			defer c.Close()
			_, err = c.Write([]byte(msg))
			return err
		})
		if err != nil {
			t.Fatalf("send %s: %v", msg, err)
		}
	}
	send(b, "forwarded")
	send(a, "from node a")
	var got []string
	buf := make([]byte, 64)
	for deadline := time.Now().Add(1500 * time.Millisecond); ; {
		udp.SetReadDeadline(deadline)
		n, _, err := udp.ReadFrom(buf)
		if err != nil {
			break
		}
		got = append(got, string(buf[:n]))
	}
	if !slices.Contains(got, "from node a") {
		t.Errorf("node a's own datagram over its route did not arrive (got %q): the check below proves nothing", got)
	}
	if slices.Contains(got, "forwarded") {
		t.Errorf("a datagram forwarded from the underlay into the overlay arrived: %q", got)
	}

	// Teardown leaves nothing: veths, VXLAN devices, bridges, rules.
	udp.Close()
	for _, ln := range []net.Listener{lnA, lnB, lnD} {
		ln.Close()
	}
	for _, c := range []struct {
		n   *node
		ids []string
	}{{a, []string{idA, idC}}, {b, []string{idB, idD}}} {
		for _, id := range c.ids {
			if err := c.n.run(func() error { return c.n.m.Detach(id) }); err != nil {
				t.Fatal(err)
			}
			assertNothingLeft(t, c.n.m, c.n.ns, id)
		}
		var bridges []string
		for _, name := range []string{"slice", "other"} {
			n, err := c.n.m.Network(name)
			if err != nil {
				t.Fatal(err)
			}
			bridges = append(bridges, n.Bridge)
		}
		var removed []string
		if err := c.n.run(func() (err error) { removed, err = c.n.m.PruneNetworks(); return err }); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(removed, []string{"other", "slice"}) {
			t.Errorf("pruned %v, want both overlays", removed)
		}
		var links []netlink.Link
		c.n.ns.do(func() { links, _ = c.n.m.nl.LinkList() })
		for _, l := range links {
			name := l.Attrs().Name
			if strings.HasPrefix(name, "pcrvx") || slices.Contains(bridges, name) {
				t.Errorf("link %s left after prune", name)
			}
		}
		for _, r := range nftRules(t, c.n.m) {
			if strings.Contains(r, "net=slice ") || strings.Contains(r, "net=other ") {
				t.Errorf("nft rule left after prune: %s", r)
			}
		}
	}
}

// nftRules lists the comments of the rules in the forward and postrouting
// chains of m's table.
func nftRules(t *testing.T, m *Manager) []string {
	t.Helper()
	conn, err := nftables.New(nftables.WithNetNSFd(int(m.hostNS)))
	if err != nil {
		t.Fatal(err)
	}
	table := &nftables.Table{Name: m.table, Family: nftables.TableFamilyINet}
	var out []string
	for _, chain := range []string{"forward", "postrouting"} {
		rs, err := conn.GetRules(table, &nftables.Chain{Name: chain, Table: table})
		if err != nil {
			t.Fatalf("list nft chain %s: %v", chain, err)
		}
		for _, r := range rs {
			c, _ := userdata.GetString(r.UserData, userdata.TypeComment)
			out = append(out, chain+": "+c)
		}
	}
	return out
}
