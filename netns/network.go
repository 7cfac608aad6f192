package netns

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"pcr/netns/firewall"
)

// isName says whether s is 1 to max characters of [a-zA-Z0-9][a-zA-Z0-9_.-]*.
// A loop, not a regexp: a package-level one was compiled at every pcr start
// (the {0,127} bound alone unrolled to 1,700 allocations), and this runs per
// call in nanoseconds.
func isName(s string, max int) bool {
	if len(s) == 0 || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case i > 0 && (c == '_' || c == '.' || c == '-'):
		default:
			return false
		}
	}
	return true
}

// validName keeps network names to what can be a record key, a hosts-file
// word and an nft comment; none/host/bridge are --net modes, not networks.
func validName(name string) error {
	if !isName(name, 64) {
		return fmt.Errorf("invalid network name %q: only [a-zA-Z0-9][a-zA-Z0-9_.-], at most 64 characters", name)
	}
	switch name {
	case "none", "host", "bridge", "default":
		return fmt.Errorf("invalid network name %q: reserved for --net", name)
	}
	return nil
}

// CreateNetwork makes a user network; a zero subnet picks the next free
// /24 of pcr's pool. The bridge itself is made on first use.
func (m *Manager) CreateNetwork(name string, subnet netip.Prefix) (*Network, error) {
	if err := validName(name); err != nil {
		return nil, fmt.Errorf("create network: %w", err)
	}
	if subnet.IsValid() {
		if err := validSubnet(subnet); err != nil {
			return nil, fmt.Errorf("create network %s: %w", name, err)
		}
	}
	host, err := m.hostRoutes("")
	if err != nil {
		return nil, fmt.Errorf("create network %s: %w", name, err)
	}
	var n *Network
	err = m.update(func(d *db) error {
		if _, ok := d.Networks[name]; ok || name == DefaultNetwork {
			return fmt.Errorf("network %s already exists", name)
		}
		if d.Networks[DefaultNetwork] == nil {
			// Not made yet, but its subnet is spoken for.
			host = append(host, hostRoute{Prefix: m.defaultSubnet, Link: m.defaultBridge + " (default network " + DefaultNetwork + ")"})
		}
		var err error
		if n, err = newNetwork(d, name, "", subnet, host); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("create network %s: %w", name, err)
	}
	return n, nil
}

// newNetwork adds a network record to d; bridge "" derives one from the id.
func newNetwork(d *db, name, bridge string, subnet netip.Prefix, host []hostRoute) (*Network, error) {
	if !subnet.IsValid() {
		var err error
		if subnet, err = pickSubnet(d.Networks, host); err != nil {
			return nil, err
		}
	} else if err := overlap(subnet, d.Networks, host); err != nil {
		return nil, err
	}
	id := make([]byte, 32)
	rand.Read(id)
	n := &Network{Name: name, ID: hex.EncodeToString(id), Bridge: bridge, Subnet: subnet,
		Gateway: gatewayOf(subnet), Created: time.Now().UTC()}
	if n.Bridge == "" {
		n.Bridge = "pcr-" + n.ID[:11]
	}
	for _, o := range d.Networks {
		if o.Bridge == n.Bridge {
			return nil, fmt.Errorf("bridge %s is already network %s's", n.Bridge, o.Name)
		}
	}
	d.Networks[name] = n
	return n, nil
}

// Networks lists every network, the default one included (made on first use).
func (m *Manager) Networks() ([]*Network, error) {
	if _, err := m.Network(DefaultNetwork); err != nil {
		return nil, err
	}
	var out []*Network
	err := m.view(func(d *db) error {
		for _, n := range d.Networks {
			out = append(out, n)
		}
		return nil
	})
	slices.SortFunc(out, func(a, b *Network) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	return out, err
}

// Network returns a network by name; "pcr" always exists.
func (m *Manager) Network(name string) (*Network, error) {
	var n *Network
	err := m.view(func(d *db) error {
		n = d.Networks[name]
		return nil
	})
	if err != nil || n != nil {
		return n, err
	}
	if name != DefaultNetwork {
		return nil, fmt.Errorf("network %s not found", name)
	}
	err = m.update(func(d *db) error {
		var err error
		n, err = m.networkIn(d, name)
		return err
	})
	return n, err
}

// networkIn looks a network up in d (locked), making the default one when
// it does not exist yet.
func (m *Manager) networkIn(d *db, name string) (*Network, error) {
	if n := d.Networks[name]; n != nil {
		return n, nil
	}
	if name != DefaultNetwork {
		return nil, fmt.Errorf("network %s not found", name)
	}
	// The default bridge may exist already (another --root on this host,
	// or a lost record): its own address and route are no clash.
	host, err := m.hostRoutes(m.defaultBridge)
	if err != nil {
		return nil, err
	}
	n, err := newNetwork(d, name, m.defaultBridge, m.defaultSubnet, host)
	if err != nil {
		return nil, fmt.Errorf("default network %s: %w", name, err)
	}
	return n, nil
}

// RemoveNetwork removes a user network, its bridge and its firewall rules;
// refused while a container holds a lease on it.
func (m *Manager) RemoveNetwork(name string) error {
	if name == DefaultNetwork {
		return fmt.Errorf("remove network %s: the default network cannot be removed", name)
	}
	err := m.update(func(d *db) error {
		n := d.Networks[name]
		if n == nil {
			return fmt.Errorf("network %s not found", name)
		}
		if err := m.removeNetworkIn(d, n); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("remove network %s: %w", name, err)
	}
	return nil
}

func (m *Manager) removeNetworkIn(d *db, n *Network) error {
	m.reclaimStale(d, "")
	if ls := d.leasesOn(n.Name); len(ls) > 0 {
		return fmt.Errorf("in use by container %s", shortID(ls[0].ContainerID))
	}
	fw, err := m.firewall()
	if err != nil {
		return err
	}
	if err := fw.RemoveNetwork(n.Name); err != nil {
		return err
	}
	if err := m.deleteLink(n.Bridge); err != nil {
		return err
	}
	if n.IsOverlay() {
		// A bridge port outlives its bridge.
		if err := m.deleteLink(vxlanName(n.VNI)); err != nil {
			return err
		}
	}
	delete(d.Networks, n.Name)
	return nil
}

// PruneNetworks removes every user network no container uses and returns their names.
func (m *Manager) PruneNetworks() ([]string, error) {
	var removed []string
	err := m.update(func(d *db) error {
		m.reclaimStale(d, "")
		for name, n := range d.Networks {
			if name == DefaultNetwork || len(d.leasesOn(name)) > 0 {
				continue
			}
			if err := m.removeNetworkIn(d, n); err != nil {
				return fmt.Errorf("remove network %s: %w", name, err)
			}
			removed = append(removed, name)
		}
		return nil
	})
	slices.Sort(removed)
	if err != nil {
		return removed, fmt.Errorf("prune networks: %w", err)
	}
	return removed, nil
}

// deleteLink removes a link of the host namespace; a missing one is fine.
func (m *Manager) deleteLink(name string) error {
	l, err := m.nl.LinkByName(name)
	if err != nil {
		if _, ok := err.(netlink.LinkNotFoundError); ok {
			return nil
		}
		return fmt.Errorf("find link %s: %w", name, err)
	}
	if err := m.nl.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("delete link %s: %w", name, err)
	}
	return nil
}

// hostRoutes lists the host's addresses and (non-default) routes, except
// those on link skip, for the overlap check.
func (m *Manager) hostRoutes(skip string) ([]hostRoute, error) {
	links, err := retryDump(m.nl.LinkList)
	if err != nil {
		return nil, fmt.Errorf("list host interfaces: %w", err)
	}
	names := map[int]string{}
	for _, l := range links {
		names[l.Attrs().Index] = l.Attrs().Name
	}
	var out []hostRoute
	add := func(ipn *net.IPNet, idx int) {
		if ipn == nil || names[idx] == skip && skip != "" {
			return
		}
		ones, _ := ipn.Mask.Size()
		a, ok := netip.AddrFromSlice(ipn.IP)
		if !ok || ones == 0 {
			return
		}
		a = a.Unmap()
		if a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsMulticast() {
			return
		}
		out = append(out, hostRoute{Prefix: netip.PrefixFrom(a, ones).Masked(), Link: names[idx]})
	}
	addrs, err := retryDump(func() ([]netlink.Addr, error) { return m.nl.AddrList(nil, netlink.FAMILY_ALL) })
	if err != nil {
		return nil, fmt.Errorf("list host addresses: %w", err)
	}
	for _, a := range addrs {
		add(a.IPNet, a.LinkIndex)
	}
	routes, err := retryDump(func() ([]netlink.Route, error) { return m.nl.RouteList(nil, netlink.FAMILY_ALL) })
	if err != nil {
		return nil, fmt.Errorf("list host routes: %w", err)
	}
	for _, r := range routes {
		add(r.Dst, r.LinkIndex)
	}
	return out, nil
}

// uplinkMTU is the MTU of the link of the host's IPv4 default route (1500
// without one): a veth larger than the uplink would drop big packets.
func (m *Manager) uplinkMTU() int {
	if m.mtu > 0 {
		return m.mtu
	}
	m.mtu = 1500
	routes, err := retryDump(func() ([]netlink.Route, error) {
		return m.nl.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	})
	if err != nil {
		return m.mtu
	}
	for _, r := range routes {
		if r.Dst != nil {
			if ones, _ := r.Dst.Mask.Size(); ones != 0 {
				continue
			}
		}
		idx := r.LinkIndex
		if idx == 0 && len(r.MultiPath) > 0 {
			idx = r.MultiPath[0].LinkIndex
		}
		if l, err := m.nl.LinkByIndex(idx); err == nil && l.Attrs().MTU > 0 {
			m.mtu = l.Attrs().MTU
			break
		}
	}
	return m.mtu
}

// ensureBridge brings n's bridge up with its gateway address, making it on
// first use (and then turning on forwarding for it). The firewall gets n's
// rules only when the bridge was made or found down: opening nftables and
// reading the rules back cost about a third of an Attach, and a bridge
// that is up was set up by an earlier Attach, which wrote them. (Rules
// flushed by hand come back with the next bridge, or with a published
// port: Attach then has the firewall open anyway and checks.)
func (m *Manager) ensureBridge(n *Network) (netlink.Link, error) {
	if n.IsOverlay() {
		return m.ensureOverlayBridge(n)
	}
	gw := &netlink.Addr{IPNet: &net.IPNet{IP: n.Gateway.AsSlice(), Mask: net.CIDRMask(n.Subnet.Bits(), n.Subnet.Addr().BitLen())}}
	if n.Gateway.Is6() {
		gw.Flags = unix.IFA_F_NODAD
	}
	ensureRules := m.fw != nil
	br, err := m.nl.LinkByName(n.Bridge)
	if err == nil {
		if br.Type() != "bridge" {
			return nil, fmt.Errorf("network %s: link %s exists and is not a bridge", n.Name, n.Bridge)
		}
		if br.Attrs().Flags&net.FlagUp == 0 {
			ensureRules = true
			if err := m.nl.AddrReplace(br, gw); err != nil {
				return nil, fmt.Errorf("network %s: bridge %s: add address %s: %w", n.Name, n.Bridge, gw.IPNet, err)
			}
			if err := m.nl.LinkSetUp(br); err != nil {
				return nil, fmt.Errorf("network %s: bridge %s: set up: %w", n.Name, n.Bridge, err)
			}
		}
	} else {
		if _, ok := err.(netlink.LinkNotFoundError); !ok {
			return nil, fmt.Errorf("network %s: find bridge %s: %w", n.Name, n.Bridge, err)
		}
		la := netlink.NewLinkAttrs()
		la.Name, la.MTU = n.Bridge, m.uplinkMTU()
		if err := m.nl.LinkAdd(&netlink.Bridge{LinkAttrs: la}); err != nil {
			return nil, fmt.Errorf("network %s: create bridge %s: %w", n.Name, n.Bridge, err)
		}
		if br, err = m.nl.LinkByName(n.Bridge); err != nil {
			return nil, fmt.Errorf("network %s: find bridge %s: %w", n.Name, n.Bridge, err)
		}
		if err := m.nl.AddrReplace(br, gw); err != nil {
			m.nl.LinkDel(br)
			return nil, fmt.Errorf("network %s: bridge %s: add address %s: %w", n.Name, n.Bridge, gw.IPNet, err)
		}
		if err := m.nl.LinkSetUp(br); err != nil {
			m.nl.LinkDel(br)
			return nil, fmt.Errorf("network %s: bridge %s: set up: %w", n.Name, n.Bridge, err)
		}
		if err := m.enableForwarding(n); err != nil {
			m.nl.LinkDel(br)
			return nil, fmt.Errorf("network %s: %w", n.Name, err)
		}
		ensureRules = true
	}
	if !ensureRules {
		return br, nil
	}
	fw, err := m.firewall()
	if err != nil {
		return nil, err
	}
	if err := fw.EnsureNetwork(firewall.Network{Name: n.Name, Bridge: n.Bridge, Subnet: n.Subnet}); err != nil {
		return nil, err
	}
	return br, nil
}
