package netns

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func testNetwork(t *testing.T, name, subnet string) *Network {
	t.Helper()
	p := netip.MustParsePrefix(subnet)
	return &Network{Name: name, Bridge: "pcrt-" + name, Subnet: p, Gateway: gatewayOf(p)}
}

func TestAllocateLowestFreeSkipsGatewayAndBroadcast(t *testing.T) {
	n := testNetwork(t, "a", "10.213.7.0/30") // .1 gateway, .2 the only host, .3 broadcast
	ip, err := allocate(n, nil, netip.Addr{})
	if err != nil || ip != netip.MustParseAddr("10.213.7.2") {
		t.Fatalf("allocate = %v, %v; want 10.213.7.2", ip, err)
	}
	_, err = allocate(n, []lease{{Network: "a", IP: ip, ContainerID: "c1"}}, netip.Addr{})
	if err == nil || !strings.Contains(err.Error(), "no free address") {
		t.Fatalf("exhausted network: err = %v", err)
	}
	// A lease on another network does not take the address.
	if ip2, err := allocate(n, []lease{{Network: "b", IP: ip}}, netip.Addr{}); err != nil || ip2 != ip {
		t.Fatalf("other network's lease: %v, %v", ip2, err)
	}
}

func TestAllocateStatic(t *testing.T) {
	n := testNetwork(t, "a", "10.213.8.0/24")
	leases := []lease{{Network: "a", IP: netip.MustParseAddr("10.213.8.5"), ContainerID: "abcdef0123456789"}}
	if ip, err := allocate(n, leases, netip.MustParseAddr("10.213.8.9")); err != nil || ip.String() != "10.213.8.9" {
		t.Fatalf("static: %v %v", ip, err)
	}
	for want, msg := range map[string]string{
		"10.213.8.5":   "already in use by container abcdef012345",
		"10.213.8.1":   "gateway",
		"10.213.8.0":   "not a host address",
		"10.213.8.255": "not a host address",
		"10.213.9.4":   "not in network a's subnet",
	} {
		_, err := allocate(n, leases, netip.MustParseAddr(want))
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("static %s: err = %v, want %q", want, err, msg)
		}
	}
}

func TestAllocateIPv6(t *testing.T) {
	n := testNetwork(t, "v6", "fd00:213::/64")
	ip, err := allocate(n, nil, netip.Addr{})
	if err != nil || ip != netip.MustParseAddr("fd00:213::2") {
		t.Fatalf("v6 allocate = %v, %v", ip, err)
	}
	if l := lastHost(n.Subnet); l != netip.MustParseAddr("fd00:213::ffff:ffff:ffff:ffff") {
		t.Fatalf("lastHost v6 = %v", l)
	}
}

func TestReleaseFreesAddress(t *testing.T) {
	s := &store{dir: t.TempDir()}
	n := testNetwork(t, "a", "10.213.9.0/30")
	take := func(id string) error {
		return s.update(func(d *db) error {
			d.Networks["a"] = n
			ip, err := allocate(n, d.Leases, netip.Addr{})
			if err != nil {
				return err
			}
			d.Leases = append(d.Leases, lease{Network: "a", IP: ip, ContainerID: id})
			return nil
		})
	}
	if err := take("c1"); err != nil {
		t.Fatal(err)
	}
	if err := take("c2"); err == nil {
		t.Fatal("second lease on a one-address network succeeded")
	}
	if err := s.update(func(d *db) error { d.release("c1", func(lease) bool { return true }); return nil }); err != nil {
		t.Fatal(err)
	}
	if err := take("c2"); err != nil {
		t.Fatalf("address not freed by release: %v", err)
	}
}

func TestParallelAllocationsAreDistinct(t *testing.T) {
	s := &store{dir: t.TempDir()}
	n := testNetwork(t, "a", "10.213.10.0/24")
	var wg sync.WaitGroup
	ips := make([]netip.Addr, 20)
	errs := make([]error, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.update(func(d *db) error {
				d.Networks["a"] = n
				ip, err := allocate(n, d.Leases, netip.Addr{})
				if err != nil {
					return err
				}
				ips[i] = ip
				d.Leases = append(d.Leases, lease{Network: "a", IP: ip, ContainerID: fmt.Sprintf("c%d", i)})
				return nil
			})
		}()
	}
	wg.Wait()
	seen := map[netip.Addr]bool{}
	for i, ip := range ips {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if seen[ip] {
			t.Fatalf("address %s given twice", ip)
		}
		seen[ip] = true
	}
	d, err := s.load()
	if err != nil || len(d.Leases) != 20 {
		t.Fatalf("store has %d leases (err %v), want 20", len(d.Leases), err)
	}
}

func TestOverlapAndPickSubnet(t *testing.T) {
	nets := map[string]*Network{"pcr": testNetwork(t, "pcr", "10.213.0.0/24"), "x": testNetwork(t, "x", "10.213.1.0/24")}
	host := []hostRoute{{Prefix: netip.MustParsePrefix("10.213.2.0/23"), Link: "eth9"}}
	if err := overlap(netip.MustParsePrefix("10.213.0.128/25"), nets, host); err == nil || !strings.Contains(err.Error(), "network pcr") {
		t.Errorf("overlap with a network: %v", err)
	}
	if err := overlap(netip.MustParsePrefix("10.213.3.0/24"), nets, host); err == nil || !strings.Contains(err.Error(), "host interface eth9") {
		t.Errorf("overlap with a host route: %v", err)
	}
	if err := overlap(netip.MustParsePrefix("10.0.0.0/8"), nets, nil); err == nil {
		t.Errorf("a supernet of a network is no overlap")
	}
	p, err := pickSubnet(nets, host)
	if err != nil || p != netip.MustParsePrefix("10.213.4.0/24") {
		t.Fatalf("pickSubnet = %v, %v; want 10.213.4.0/24", p, err)
	}
	if _, err := pickSubnet(nil, []hostRoute{{Prefix: userPool, Link: "eth0"}}); err == nil {
		t.Fatal("pickSubnet on a full pool succeeded")
	}
	for _, bad := range []string{"10.213.0.1/24", "10.0.0.0/31", "127.0.0.0/8", "224.0.0.0/24"} {
		if validSubnet(netip.MustParsePrefix(bad)) == nil {
			t.Errorf("validSubnet(%s) accepted", bad)
		}
	}
	for _, bad := range []string{"", "-x", "a/b", "host", "none", "bridge", strings.Repeat("a", 65)} {
		if validName(bad) == nil {
			t.Errorf("validName(%q) accepted", bad)
		}
	}
}

func TestVethNamesFitIFNAMSIZ(t *testing.T) {
	id := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	if v := vethName(id, 12); v != "pcrv0123456712" || len(v) > 15 {
		t.Fatalf("vethName = %q", v)
	}
	if v := vethName("web_1", 0); len(v) != 13 || !strings.HasPrefix(v, "pcrv") {
		t.Fatalf("vethName of a non-hex id = %q", v)
	}
}

func TestHostsAndPeersFromLeases(t *testing.T) {
	m := &Manager{store: store{dir: t.TempDir()}}
	ip := netip.MustParseAddr
	err := m.update(func(d *db) error {
		d.Networks["pcr"] = testNetwork(t, "pcr", "10.213.0.0/24")
		d.Networks["app"] = testNetwork(t, "app", "10.213.1.0/24")
		d.Leases = []lease{
			{Network: "pcr", IP: ip("10.213.0.2"), ContainerID: "a", Name: "a"},
			{Network: "pcr", IP: ip("10.213.0.3"), ContainerID: "b", Name: "b"},
			{Network: "app", IP: ip("10.213.1.2"), ContainerID: "c", Name: "c", Aliases: []string{"db"}},
			{Network: "app", IP: ip("10.213.1.3"), ContainerID: "d", Name: "d"},
			{Network: "pcr", IP: ip("10.213.0.4"), ContainerID: "d", Name: "d", Index: 1},
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	h, _ := m.HostsFor("a")
	if strings.Contains(h, "\tb") || !strings.Contains(h, "10.213.0.2\ta\n") || !strings.Contains(h, "127.0.0.1\tlocalhost") {
		t.Errorf("default-network container's hosts:\n%s", h)
	}
	h, _ = m.HostsFor("d")
	if !strings.Contains(h, "10.213.1.2\tc db\n") || !strings.Contains(h, "10.213.1.3\td\n") || strings.Contains(h, "10.213.0.2") {
		t.Errorf("user-network container's hosts:\n%s", h)
	}
	if p, _ := m.Peers("c"); len(p) != 1 || p[0] != "d" {
		t.Errorf("Peers(c) = %v", p)
	}
	if p, _ := m.Peers("a"); len(p) != 0 {
		t.Errorf("Peers(a) on the default network = %v", p)
	}
}

func TestResolvConfDropsLoopback(t *testing.T) {
	dir := t.TempDir()
	path, fb := filepath.Join(dir, "resolv.conf"), filepath.Join(dir, "upstream.conf")
	os.WriteFile(path, []byte("nameserver 127.0.0.53\noptions edns0\nsearch lan\n"), 0o644)
	out, err := resolvConf(path, fb, nil, nil)
	if err != nil || strings.Contains(string(out), "127.0.0.53") || !strings.Contains(string(out), "none written") || !strings.Contains(string(out), "search lan") {
		t.Fatalf("loopback only, no fallback:\n%s (%v)", out, err)
	}
	os.WriteFile(fb, []byte("nameserver 192.0.2.53\nsearch other\n"), 0o644)
	out, _ = resolvConf(path, fb, nil, nil)
	if !strings.Contains(string(out), "nameserver 192.0.2.53") || strings.Contains(string(out), "none written") {
		t.Fatalf("systemd-resolved fallback:\n%s", out)
	}
	out, _ = resolvConf(path, fb, []string{"192.0.2.1"}, []string{"example.test"})
	if string(out) != "options edns0\nsearch example.test\nnameserver 192.0.2.1\n" {
		t.Fatalf("with --dns/--dns-search:\n%q", out)
	}
	if _, err := resolvConf(path, fb, []string{"not-an-ip"}, nil); err == nil {
		t.Fatal("bad --dns accepted")
	}
}
