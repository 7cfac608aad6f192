package netns

import (
	"fmt"
	"net/netip"
)

// Address plan. The default network "pcr" uses DefaultSubnet on bridge
// DefaultBridge; user networks get the next free /24 of pool, 10.213.0.0/16.
// 10.213/16 clashes with none of the usual defaults: Docker 172.17/16 (and
// its 172.18-31 pools), podman 10.88/16 and 10.89.x, libvirt 192.168.122/24,
// Kubernetes services 10.96/12 and flannel/calico pods 10.244/16.
const (
	DefaultNetwork = "pcr"
	DefaultBridge  = "pcr0"
)

var (
	// DefaultSubnet is the default network's subnet unless WithDefaultSubnet says otherwise.
	DefaultSubnet = netip.MustParsePrefix("10.213.0.0/24")
	userPool      = netip.MustParsePrefix("10.213.0.0/16")
)

// hostRoute is an address or route of the host that a pcr subnet must not
// overlap, with the link it is on (to name it in the error).
type hostRoute struct {
	Prefix netip.Prefix
	Link   string
}

// validSubnet checks a subnet can be a bridge network: a network address
// with room for a gateway and at least one container.
func validSubnet(p netip.Prefix) error {
	if !p.IsValid() {
		return fmt.Errorf("invalid subnet %s", p)
	}
	if p.Masked() != p {
		return fmt.Errorf("subnet %s is not a network address (want %s)", p, p.Masked())
	}
	if p.Addr().Is4() && p.Bits() > 30 || p.Addr().Is6() && p.Bits() > 126 {
		return fmt.Errorf("subnet %s is too small: it needs room for a gateway and a container", p)
	}
	if p.Addr().Is4In6() || p.Addr().IsLoopback() || p.Addr().IsMulticast() || p.Addr().IsLinkLocalUnicast() || p.Addr().IsUnspecified() {
		return fmt.Errorf("subnet %s cannot be a container network", p)
	}
	return nil
}

// overlap reports why p may not be used: an existing pcr network, or an
// address or route on a host interface. Nil when p is free.
func overlap(p netip.Prefix, nets map[string]*Network, host []hostRoute) error {
	for _, n := range nets {
		if n.Subnet.Overlaps(p) {
			return fmt.Errorf("subnet %s overlaps network %s (%s)", p, n.Name, n.Subnet)
		}
	}
	for _, h := range host {
		if h.Prefix.Overlaps(p) {
			return fmt.Errorf("subnet %s overlaps %s on host interface %s", p, h.Prefix, h.Link)
		}
	}
	return nil
}

// pickSubnet returns the first /24 of the pool free of pcr networks and of
// the host's addresses and routes.
func pickSubnet(nets map[string]*Network, host []hostRoute) (netip.Prefix, error) {
	a := userPool.Addr()
	for userPool.Contains(a) {
		p := netip.PrefixFrom(a, 24)
		if overlap(p, nets, host) == nil {
			return p, nil
		}
		b := a.As4()
		if b[2] == 255 {
			break
		}
		b[2]++
		a = netip.AddrFrom4(b)
	}
	return netip.Prefix{}, fmt.Errorf("no free /24 left in pcr's address pool %s; give one with --subnet", userPool)
}

// gatewayOf is the subnet's first address, the bridge's.
func gatewayOf(p netip.Prefix) netip.Addr { return p.Addr().Next() }

// lastHost is the subnet's last address containers may use: the one
// before the broadcast address for IPv4, the last one for IPv6.
func lastHost(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	host := len(b)*8 - p.Bits()
	for i := len(b) - 1; i >= 0 && host > 0; i-- {
		if host >= 8 {
			b[i] = 0xff
			host -= 8
		} else {
			b[i] |= byte(1<<host - 1)
			host = 0
		}
	}
	a, _ := netip.AddrFromSlice(b)
	if a.Is4() {
		a = a.Prev()
	}
	return a
}

// allocate takes an address of n for a container: want when given (it must
// be a free host address of the subnet), else the lowest free one.
func allocate(n *Network, leases []lease, want netip.Addr) (netip.Addr, error) {
	taken := map[netip.Addr]string{}
	for _, l := range leases {
		if l.Network == n.Name {
			taken[l.IP] = l.ContainerID
		}
	}
	first, last := n.Gateway.Next(), lastHost(n.Subnet)
	if want.IsValid() {
		switch {
		case !n.Subnet.Contains(want):
			return netip.Addr{}, fmt.Errorf("address %s is not in network %s's subnet %s", want, n.Name, n.Subnet)
		case want == n.Gateway:
			return netip.Addr{}, fmt.Errorf("address %s is network %s's gateway", want, n.Name)
		case want.Less(first) || last.Less(want):
			return netip.Addr{}, fmt.Errorf("address %s is not a host address of network %s (%s)", want, n.Name, n.Subnet)
		case taken[want] != "":
			return netip.Addr{}, fmt.Errorf("address %s on network %s is already in use by container %s", want, n.Name, shortID(taken[want]))
		}
		return want, nil
	}
	for a := first; a.IsValid() && !last.Less(a); a = a.Next() {
		if taken[a] == "" {
			return a, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("network %s (%s): no free address left", n.Name, n.Subnet)
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
