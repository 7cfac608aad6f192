package firewall

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// handle is a netlink handle working in ns, closed with the test.
func handle(t *testing.T, ns *nsThread) *netlink.Handle {
	t.Helper()
	h, err := netlink.NewHandleAt(netns.NsHandle(ns.fd))
	if err != nil {
		t.Fatalf("netlink handle: %v", err)
	}
	t.Cleanup(h.Close)
	return h
}

func mustPrefix(s string) *net.IPNet {
	p := netip.MustParsePrefix(s)
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// addLink creates l in h with address addr (CIDR, may be empty) and brings it up.
func addLink(t *testing.T, h *netlink.Handle, l netlink.Link, addr string) {
	t.Helper()
	if err := h.LinkAdd(l); err != nil {
		t.Fatalf("add link %s: %v", l.Attrs().Name, err)
	}
	if addr != "" {
		if err := h.AddrAdd(l, &netlink.Addr{IPNet: mustPrefix(addr)}); err != nil {
			t.Fatalf("address %s on %s: %v", addr, l.Attrs().Name, err)
		}
	}
	if err := h.LinkSetUp(l); err != nil {
		t.Fatalf("up %s: %v", l.Attrs().Name, err)
	}
}

func linkUp(t *testing.T, h *netlink.Handle, name string) netlink.Link {
	t.Helper()
	l, err := h.LinkByName(name)
	if err == nil {
		err = h.LinkSetUp(l)
	}
	if err != nil {
		t.Fatalf("up %s: %v", name, err)
	}
	return l
}

// plugContainer wires ctr into bridge br of host like pcr does: a veth whose
// host end is a bridge port and whose other end is eth0 with addr and a
// default route via gw.
func plugContainer(t *testing.T, host *netlink.Handle, br *netlink.Bridge, hostEnd string, ctr *nsThread, addr, gw string) {
	t.Helper()
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: hostEnd, MasterIndex: br.Attrs().Index},
		PeerName: "eth0", PeerNamespace: netlink.NsFd(ctr.fd)}
	addLink(t, host, veth, "")
	ch := handle(t, ctr)
	linkUp(t, ch, "lo")
	eth0 := linkUp(t, ch, "eth0")
	if err := ch.AddrAdd(eth0, &netlink.Addr{IPNet: mustPrefix(addr)}); err != nil {
		t.Fatalf("address %s: %v", addr, err)
	}
	if err := ch.RouteAdd(&netlink.Route{Gw: net.ParseIP(gw)}); err != nil {
		t.Fatalf("default route via %s: %v", gw, err)
	}
}

// countRules is the number of rules in all of the table's chains.
func countRules(t *testing.T, f *Firewall) int {
	t.Helper()
	n := 0
	for _, ch := range []string{chainPrerouting, chainOutput, chainPublish, chainPostrouting, chainForward} {
		rs, err := f.rules(ch)
		if err != nil {
			t.Fatal(err)
		}
		n += len(rs)
	}
	return n
}

func bridgeSet(t *testing.T, f *Firewall) []string {
	t.Helper()
	els, err := f.conn.GetSetElements(&nftables.Set{Table: f.table, Name: setBridges, KeyType: nftables.TypeIFName})
	if err != nil {
		t.Fatalf("list set %s: %v", setBridges, err)
	}
	var out []string
	for _, e := range els {
		out = append(out, strings.TrimRight(string(e.Key), "\x00"))
	}
	return out
}

func newTestFirewall(t *testing.T, ns *nsThread) *Firewall {
	t.Helper()
	f, err := NewInNetNS(uniqueTable(t), ns.fd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := f.Delete(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return f
}

func TestFirewallRules(t *testing.T) {
	host := newNetNS(t)
	addLink(t, handle(t, host), &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "pcrt0"}}, "10.88.0.1/24")
	f := newTestFirewall(t, host)
	const base = 4
	if n := countRules(t, f); n != base {
		t.Fatalf("fresh table has %d rules, want %d", n, base)
	}
	// Opening the existing table again adds nothing.
	if _, err := NewInNetNS(f.table.Name, host.fd); err != nil {
		t.Fatalf("reopen: %v", err)
	}
	if n := countRules(t, f); n != base {
		t.Fatalf("reopened table has %d rules, want %d", n, base)
	}

	n1 := Network{Name: "t1", Bridge: "pcrt0", Subnet: netip.MustParsePrefix("10.88.0.0/24")}
	for i := 0; i < 2; i++ {
		if err := f.EnsureNetwork(n1); err != nil {
			t.Fatalf("EnsureNetwork #%d: %v", i+1, err)
		}
		if n := countRules(t, f); n != base+6 {
			t.Fatalf("after EnsureNetwork #%d: %d rules, want %d", i+1, n, base+6)
		}
	}
	n2 := Network{Name: "t2", Bridge: "pcrt1", Subnet: netip.MustParsePrefix("10.89.0.0/24")}
	if err := f.EnsureNetwork(n2); err != nil {
		t.Fatal(err)
	}
	// Changing a network's subnet replaces its rules instead of adding more.
	n2.Subnet = netip.MustParsePrefix("10.90.0.0/24")
	if err := f.EnsureNetwork(n2); err != nil {
		t.Fatal(err)
	}
	if n := countRules(t, f); n != base+12 {
		t.Fatalf("two networks: %d rules, want %d", n, base+12)
	}
	if rs, _ := f.taggedRules("subnet", "10.89.0.0/24", chainForward, chainPostrouting); len(rs) != 0 {
		t.Fatalf("%d rules still carry the old subnet", len(rs))
	}
	if got := bridgeSet(t, f); len(got) != 2 {
		t.Fatalf("bridge set = %q, want pcrt0 and pcrt1", got)
	}
	if err := f.EnsureNetwork(Network{Name: "bad name", Bridge: "pcrt9", Subnet: n1.Subnet}); err == nil {
		t.Fatal("EnsureNetwork accepted a name with a space")
	}

	ip := netip.MustParseAddr("10.88.0.2")
	lo := netip.MustParseAddr("127.0.0.1")
	web := []PortMapping{
		{HostPort: 8080, ContainerPort: 80, Proto: "tcp"},
		{HostIP: lo, HostPort: 5353, ContainerPort: 53, Proto: "udp"},
	}
	if err := f.Publish("ctr1", "pcrt0", ip, web); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	got, err := f.Published()
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string][]PortMapping{"ctr1": web}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Published() = %v, want %v", got, want)
	}
	var localnet []byte
	if err := host.do(func() (err error) {
		localnet, err = os.ReadFile("/proc/sys/net/ipv4/conf/pcrt0/route_localnet")
		return err
	}); err != nil || strings.TrimSpace(string(localnet)) != "1" {
		t.Fatalf("route_localnet on pcrt0 = %q, %v; want 1", localnet, err)
	}
	published := countRules(t, f)
	if published != base+12+3 { // two DNAT rules and one localhost masquerade
		t.Fatalf("after Publish: %d rules, want %d", published, base+12+3)
	}

	ip2 := netip.MustParseAddr("10.88.0.3")
	for _, bad := range []struct {
		ports []PortMapping
		want  string
	}{
		{[]PortMapping{{HostPort: 8080, ContainerPort: 81, Proto: "tcp"}}, "already published by container ctr1"},
		{[]PortMapping{{HostIP: lo, HostPort: 8080, ContainerPort: 81, Proto: "tcp"}}, "already published by container ctr1"},
		{[]PortMapping{{HostPort: 9000, ContainerPort: 81, Proto: "tcp"}, {HostPort: 5353, ContainerPort: 53, Proto: "udp"}}, "already published by container ctr1"},
		{[]PortMapping{{HostPort: 0, ContainerPort: 81, Proto: "tcp"}}, "FreePort"},
		{[]PortMapping{{HostPort: 9000, ContainerPort: 81, Proto: "sctp"}}, "not tcp or udp"},
		{[]PortMapping{{HostPort: 9000, ContainerPort: 1, Proto: "tcp"}, {HostPort: 9000, ContainerPort: 2, Proto: "tcp"}}, "given twice"},
		{[]PortMapping{{HostIP: netip.MustParseAddr("::1"), HostPort: 9000, ContainerPort: 1, Proto: "tcp"}}, "different IP versions"},
	} {
		err := f.Publish("ctr2", "pcrt0", ip2, bad.ports)
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("Publish(%v) error = %v, want %q", bad.ports, err, bad.want)
		}
		if n := countRules(t, f); n != published {
			t.Fatalf("refused Publish(%v) left %d rules, want %d", bad.ports, n, published)
		}
	}
	// The same mapping again for the same container is a harmless retry.
	if err := f.Publish("ctr1", "pcrt0", ip, web[:1]); err != nil || countRules(t, f) != published {
		t.Fatalf("republish: %v, %d rules (want %d)", err, countRules(t, f), published)
	}
	udp := []PortMapping{{HostPort: 8080, ContainerPort: 80, Proto: "udp"}}
	if err := f.Publish("ctr2", "pcrt0", ip2, udp); err != nil {
		t.Fatalf("Publish 8080/udp next to 8080/tcp: %v", err)
	}

	if err := f.Unpublish("ctr1"); err != nil {
		t.Fatal(err)
	}
	if err := f.Unpublish("ctr1"); err != nil {
		t.Fatalf("second Unpublish: %v", err)
	}
	got, err = f.Published()
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string][]PortMapping{"ctr2": udp}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after Unpublish(ctr1): Published() = %v, want %v", got, want)
	}
	if rs, _ := f.taggedRules("ctr", "ctr1", chainPublish, chainPostrouting); len(rs) != 0 {
		t.Fatalf("%d rules of ctr1 left", len(rs))
	}

	for i := 0; i < 2; i++ {
		if err := f.RemoveNetwork("t1"); err != nil {
			t.Fatalf("RemoveNetwork #%d: %v", i+1, err)
		}
	}
	if n := countRules(t, f); n != base+6+2 { // t2 and ctr2's two rules
		t.Fatalf("after RemoveNetwork: %d rules, want %d", n, base+6+2)
	}
	if got := bridgeSet(t, f); !reflect.DeepEqual(got, []string{"pcrt1"}) {
		t.Fatalf("bridge set after RemoveNetwork = %q, want [pcrt1]", got)
	}

	if err := f.Delete(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.conn.ListTableOfFamily(f.table.Name, f.table.Family); err == nil {
		t.Fatal("table still exists after Delete")
	}
	if err := f.Delete(); err != nil {
		t.Fatalf("second Delete: %v", err)
	}
}

// fetch connects from ns to addr and returns what the server says.
func fetch(ns *nsThread, addr string, timeout time.Duration) (string, error) {
	var got string
	err := ns.do(func() error {
		c, err := net.DialTimeout("tcp", addr, timeout)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(timeout))
		b, err := io.ReadAll(c)
		got = string(b)
		return err
	})
	return got, err
}

// serve listens on :80 inside ns and greets every client with hello.
func serve(t *testing.T, ns *nsThread, hello string) {
	t.Helper()
	var ln net.Listener
	if err := ns.do(func() (err error) { ln, err = net.Listen("tcp", "0.0.0.0:80"); return err }); err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, hello)
			c.Close()
		}
	}()
}

// TestPublishEndToEnd builds, in namespaces of its own, a host with bridges
// pcrt0 (containers a, b) and pcrt1 (container c) and an "uplink" address
// 198.51.100.1, publishes a's port 80 and checks who reaches it.
//
// With br_netfilter, bridged traffic also passes the IP hooks (a reply from a
// to b gets un-DNATed on the bridge); without it only the masquerade makes
// hairpin work. Both must, so the test runs in each mode the kernel offers.
func TestPublishEndToEnd(t *testing.T) {
	modes := []string{"no-br-netfilter"}
	if _, err := os.Stat("/proc/sys/net/bridge/bridge-nf-call-iptables"); err == nil {
		modes = append(modes, "br-netfilter")
	}
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) { publishEndToEnd(t, mode == "br-netfilter") })
	}
}

func publishEndToEnd(t *testing.T, brNetfilter bool) {
	host, a, b, c := newNetNS(t), newNetNS(t), newNetNS(t), newNetNS(t)
	if _, err := os.Stat("/proc/sys/net/bridge/bridge-nf-call-iptables"); err == nil {
		// Per network namespace since Linux 5.3: only the test's host changes.
		value := map[bool]string{true: "1", false: "0"}[brNetfilter]
		if err := host.sysctl("net/bridge/bridge-nf-call-iptables", value); err != nil {
			t.Fatal(err)
		}
	}
	hh := handle(t, host)
	// The "uplink" address sits on lo: any local address not on a bridge will do.
	if err := hh.AddrAdd(linkUp(t, hh, "lo"), &netlink.Addr{IPNet: mustPrefix("198.51.100.1/32")}); err != nil {
		t.Fatal(err)
	}
	br0 := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "pcrt0"}}
	br1 := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "pcrt1"}}
	addLink(t, hh, br0, "10.88.0.1/24")
	addLink(t, hh, br1, "10.89.0.1/24")
	plugContainer(t, hh, br0, "pcrva", a, "10.88.0.2/24", "10.88.0.1")
	plugContainer(t, hh, br0, "pcrvb", b, "10.88.0.3/24", "10.88.0.1")
	plugContainer(t, hh, br1, "pcrvc", c, "10.89.0.2/24", "10.89.0.1")
	// Forwarding only for packets coming in from pcr's bridges (IPv4 checks
	// the input interface's flag), inside the test's host namespace.
	for _, br := range []string{"pcrt0", "pcrt1"} {
		if err := host.sysctl("net/ipv4/conf/"+br+"/forwarding", "1"); err != nil {
			t.Fatal(err)
		}
	}

	f := newTestFirewall(t, host)
	for _, n := range []Network{
		{Name: "t1", Bridge: "pcrt0", Subnet: netip.MustParsePrefix("10.88.0.0/24")},
		{Name: "t2", Bridge: "pcrt1", Subnet: netip.MustParsePrefix("10.89.0.0/24")},
	} {
		if err := f.EnsureNetwork(n); err != nil {
			t.Fatal(err)
		}
	}
	serve(t, a, "hello from a")
	serve(t, c, "hello from c")

	var hostPort uint16
	if err := host.do(func() (err error) { hostPort, err = FreePort(netip.Addr{}, "tcp"); return err }); err != nil {
		t.Fatal(err)
	}
	local := net.JoinHostPort("127.0.0.1", itoa(hostPort))
	if _, err := fetch(host, local, time.Second); err == nil {
		t.Fatalf("%s answers before anything is published", local)
	}
	if err := f.Publish("ctra", "pcrt0", netip.MustParseAddr("10.88.0.2"), []PortMapping{{HostPort: hostPort, ContainerPort: 80, Proto: "tcp"}}); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		name string
		from *nsThread
		addr string
	}{
		{"host to 127.0.0.1 (output DNAT, route_localnet, masquerade)", host, local},
		{"host to its uplink address", host, net.JoinHostPort("198.51.100.1", itoa(hostPort))},
		{"container b to the host's address (hairpin)", b, net.JoinHostPort("198.51.100.1", itoa(hostPort))},
		{"container b to its gateway (hairpin)", b, net.JoinHostPort("10.88.0.1", itoa(hostPort))},
		{"container b to a directly (same network)", b, "10.88.0.2:80"},
		{"container c of another network to the published port", c, net.JoinHostPort("198.51.100.1", itoa(hostPort))},
	} {
		got, err := fetch(c.from, c.addr, 3*time.Second)
		if err != nil || got != "hello from a" {
			t.Errorf("%s (%s): got %q, %v", c.name, c.addr, got, err)
		}
	}
	// Isolation, both ways: c reaches a's published port through the host,
	// never a itself, and a never reaches c.
	if got, err := fetch(c, "10.88.0.2:80", 500*time.Millisecond); err == nil {
		t.Errorf("container c of network t2 reached 10.88.0.2:80 of network t1 (%q)", got)
	}
	if got, err := fetch(a, "10.89.0.2:80", 500*time.Millisecond); err == nil {
		t.Errorf("container a of network t1 reached 10.89.0.2:80 of network t2 (%q)", got)
	}

	if err := f.Unpublish("ctra"); err != nil {
		t.Fatal(err)
	}
	if _, err := fetch(host, local, time.Second); err == nil {
		t.Errorf("%s still answers after Unpublish", local)
	} else if !errors.Is(err, os.ErrDeadlineExceeded) && !strings.Contains(err.Error(), "refused") {
		t.Logf("after Unpublish: %v", err)
	}
}

func itoa(p uint16) string { return strconv.Itoa(int(p)) }

// BenchmarkPublishUnpublish is the firewall's share of a container start and
// removal with one published port: one Publish and one Unpublish.
func BenchmarkPublishUnpublish(b *testing.B) {
	host := newNetNS(b)
	f, err := NewInNetNS("pcrbench", host.fd)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Delete()
	if err := host.do(func() error {
		return netlink.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "pcrt0"}})
	}); err != nil {
		b.Fatal(err)
	}
	if err := f.EnsureNetwork(Network{Name: "b", Bridge: "pcrt0", Subnet: netip.MustParsePrefix("10.88.0.0/24")}); err != nil {
		b.Fatal(err)
	}
	ports := []PortMapping{{HostPort: 8080, ContainerPort: 80, Proto: "tcp"}}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := f.Publish("ctr", "pcrt0", netip.MustParseAddr("10.88.0.2"), ports); err != nil {
			b.Fatal(err)
		}
		if err := f.Unpublish("ctr"); err != nil {
			b.Fatal(err)
		}
	}
}
