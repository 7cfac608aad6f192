package netns

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"pcr/netns/firewall"
)

// Overlay networks: one subnet that spans nodes, for the vservers of one
// slice. Each node has the network's bridge with a VXLAN port; the VXLAN
// device floods broadcast and unknown frames to every peer node (one
// all-zeros FDB entry per peer, head-end replication) and learns where
// each MAC lives from what arrives. The bridge has no address of the
// subnet: every node would otherwise answer ARP for the same gateway. So
// an overlay has no gateway, no default route, no NAT and no published
// ports, and the firewall keeps everything else out of it: only frames
// between its own ports pass.

const (
	// MaxVNI is the largest VXLAN network identifier (24 bits).
	MaxVNI = 1<<24 - 1
	// VXLANPort is the IANA VXLAN UDP port every node listens on.
	VXLANPort = 4789
)

// OverlayOptions describe an overlay network as one node sees it.
type OverlayOptions struct {
	Name   string
	Subnet netip.Prefix // the same on every node
	VNI    uint32       // the same on every node, 1..MaxVNI
	Local  netip.Addr   // this node's underlay address
	Peers  []netip.Addr // the other nodes' underlay addresses
}

// IsOverlay says whether n is an overlay network.
func (n *Network) IsOverlay() bool { return n.VNI != 0 }

// vxlanName is the VXLAN device of VNI: at most "pcrvx16777215", 13 bytes.
func vxlanName(vni uint32) string { return "pcrvx" + strconv.FormatUint(uint64(vni), 10) }

// vxlanOverhead is what encapsulation adds to an inner frame: outer IP,
// UDP (8), VXLAN (8) and the inner Ethernet header (14).
func vxlanOverhead(local netip.Addr) int {
	if local.Is6() {
		return 40 + 8 + 8 + 14
	}
	return 20 + 8 + 8 + 14
}

// validPeers checks the peers against local and returns them sorted and
// without duplicates.
func validPeers(local netip.Addr, peers []netip.Addr) ([]netip.Addr, error) {
	out := make([]netip.Addr, 0, len(peers))
	for _, p := range peers {
		p = p.Unmap()
		switch {
		case !p.IsValid() || p.IsUnspecified() || p.IsMulticast():
			return nil, fmt.Errorf("invalid peer address %v", p)
		case p == local:
			return nil, fmt.Errorf("peer %s is this node's own local address", p)
		case p.Is4() != local.Is4():
			return nil, fmt.Errorf("peer %s and local address %s are not of the same IP version", p, local)
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out, nil
}

// validate checks what needs nothing but o and returns o normalized.
func (o OverlayOptions) validate() (OverlayOptions, error) {
	if err := validName(o.Name); err != nil {
		return o, err
	}
	if o.Name == DefaultNetwork {
		return o, fmt.Errorf("network %s is the default network, not an overlay", o.Name)
	}
	if o.VNI < 1 || o.VNI > MaxVNI {
		return o, fmt.Errorf("VNI %d out of range 1..%d", o.VNI, MaxVNI)
	}
	if !o.Subnet.IsValid() {
		return o, fmt.Errorf("an overlay needs a subnet (the same on every node)")
	}
	if err := validSubnet(o.Subnet); err != nil {
		return o, err
	}
	o.Local = o.Local.Unmap()
	if !o.Local.IsValid() || o.Local.IsUnspecified() || o.Local.IsMulticast() || o.Local.IsLoopback() {
		return o, fmt.Errorf("invalid local underlay address %v", o.Local)
	}
	var err error
	o.Peers, err = validPeers(o.Local, o.Peers)
	return o, err
}

// CreateOverlay records a new overlay network; its bridge and VXLAN device
// are made on first use, as a bridge network's bridge is.
func (m *Manager) CreateOverlay(o OverlayOptions) (*Network, error) {
	return m.putOverlay(o, false)
}

// EnsureOverlay is CreateOverlay that accepts an existing overlay of the
// same name, VNI and subnet: its local address and peers are updated (the
// VXLAN device and FDB too, when they exist), attached containers kept.
func (m *Manager) EnsureOverlay(o OverlayOptions) (*Network, error) {
	return m.putOverlay(o, true)
}

func (m *Manager) putOverlay(o OverlayOptions, existingOK bool) (*Network, error) {
	o, err := o.validate()
	if err != nil {
		return nil, fmt.Errorf("create overlay network %s: %w", o.Name, err)
	}
	fail := func(err error) (*Network, error) {
		return nil, fmt.Errorf("create overlay network %s: %w", o.Name, err)
	}
	if _, err := m.underlayLink(o.Local); err != nil {
		return fail(err)
	}
	host, err := m.hostRoutes("")
	if err != nil {
		return fail(err)
	}
	var n *Network
	err = m.update(func(d *db) error {
		if old := d.Networks[o.Name]; old != nil {
			switch {
			case !existingOK:
				return fmt.Errorf("network %s already exists", o.Name)
			case !old.IsOverlay():
				return fmt.Errorf("network %s exists and is not an overlay", o.Name)
			case old.VNI != o.VNI || old.Subnet != o.Subnet:
				return fmt.Errorf("network %s exists with VNI %d and subnet %s, not VNI %d and subnet %s", o.Name, old.VNI, old.Subnet, o.VNI, o.Subnet)
			}
			old.Local, old.Peers = o.Local, o.Peers
			n = old
			return m.syncOverlayLinks(n)
		}
		for _, other := range d.Networks {
			if other.VNI == o.VNI {
				return fmt.Errorf("VNI %d is already network %s's on this node", o.VNI, other.Name)
			}
		}
		if d.Networks[DefaultNetwork] == nil {
			// Not made yet, but its subnet is spoken for.
			host = append(host, hostRoute{Prefix: m.defaultSubnet, Link: m.defaultBridge + " (default network " + DefaultNetwork + ")"})
		}
		var err error
		if n, err = newNetwork(d, o.Name, "", o.Subnet, host); err != nil {
			return err
		}
		n.Gateway, n.VNI, n.Local, n.Peers = netip.Addr{}, o.VNI, o.Local, o.Peers
		return nil
	})
	if err != nil {
		return fail(err)
	}
	return n, nil
}

// SetOverlayPeers replaces an overlay's peers, in its record and, when its
// VXLAN device exists, in the FDB (new ones added, gone ones deleted);
// attached containers are not touched.
func (m *Manager) SetOverlayPeers(name string, peers []netip.Addr) error {
	err := m.update(func(d *db) error {
		n := d.Networks[name]
		if n == nil {
			return fmt.Errorf("network %s not found", name)
		}
		if !n.IsOverlay() {
			return fmt.Errorf("network %s is not an overlay", name)
		}
		ps, err := validPeers(n.Local, peers)
		if err != nil {
			return err
		}
		n.Peers = ps
		return m.syncOverlayLinks(n)
	})
	if err != nil {
		return fmt.Errorf("set peers of overlay network %s: %w", name, err)
	}
	return nil
}

// syncOverlayLinks brings an existing VXLAN device in line with n's record:
// a device on another local address is made anew (a VXLAN device's source
// address cannot be changed), and the FDB gets n's peers. Without a device
// there is nothing to do: the first Attach makes it from the record.
func (m *Manager) syncOverlayLinks(n *Network) error {
	vx, err := m.nl.LinkByName(vxlanName(n.VNI))
	if err != nil {
		if _, ok := err.(netlink.LinkNotFoundError); ok {
			return nil
		}
		return fmt.Errorf("find VXLAN device %s: %w", vxlanName(n.VNI), err)
	}
	if !vxlanMatches(vx, n) {
		br, err := m.nl.LinkByName(n.Bridge)
		if err != nil {
			// No bridge: drop the device, the next Attach makes both.
			return m.deleteLink(vx.Attrs().Name)
		}
		_, err = m.ensureVXLAN(n, br)
		return err
	}
	return m.syncFDB(vx, n.Peers)
}

// vxlanMatches says whether l is the VXLAN device n's record describes.
func vxlanMatches(l netlink.Link, n *Network) bool {
	vx, ok := l.(*netlink.Vxlan)
	if !ok || vx.VxlanId != int(n.VNI) || vx.Port != VXLANPort {
		return false
	}
	a, ok := netip.AddrFromSlice(vx.SrcAddr)
	return ok && a.Unmap() == n.Local
}

// underlayLink is the link that holds this node's underlay address.
func (m *Manager) underlayLink(local netip.Addr) (netlink.Link, error) {
	addrs, err := retryDump(func() ([]netlink.Addr, error) { return m.nl.AddrList(nil, netlink.FAMILY_ALL) })
	if err != nil {
		return nil, fmt.Errorf("list host addresses: %w", err)
	}
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); ok && ip.Unmap() == local {
			l, err := m.nl.LinkByIndex(a.LinkIndex)
			if err != nil {
				return nil, fmt.Errorf("find the link of local address %s: %w", local, err)
			}
			return l, nil
		}
	}
	return nil, fmt.Errorf("local address %s is on no interface of this node", local)
}

// ensureOverlayBridge is ensureBridge for an overlay: the bridge without an
// address, its VXLAN port, the peers' FDB entries and the firewall's
// isolation rules. The MTU of both is the underlay link's less the
// encapsulation, so that an encapsulated frame is never fragmented.
func (m *Manager) ensureOverlayBridge(n *Network) (netlink.Link, error) {
	fail := func(err error) (netlink.Link, error) { return nil, fmt.Errorf("network %s: %w", n.Name, err) }
	ensureRules := m.fw != nil
	br, err := m.nl.LinkByName(n.Bridge)
	if err != nil {
		if _, ok := err.(netlink.LinkNotFoundError); !ok {
			return fail(fmt.Errorf("find bridge %s: %w", n.Bridge, err))
		}
		under, err := m.underlayLink(n.Local)
		if err != nil {
			return fail(err)
		}
		la := netlink.NewLinkAttrs()
		la.Name, la.MTU = n.Bridge, under.Attrs().MTU-vxlanOverhead(n.Local)
		if err := m.nl.LinkAdd(&netlink.Bridge{LinkAttrs: la}); err != nil {
			return fail(fmt.Errorf("create bridge %s: %w", n.Bridge, err))
		}
		if br, err = m.nl.LinkByName(n.Bridge); err != nil {
			return fail(fmt.Errorf("find bridge %s: %w", n.Bridge, err))
		}
		ensureRules = true
	} else if br.Type() != "bridge" {
		return fail(fmt.Errorf("link %s exists and is not a bridge", n.Bridge))
	}
	if br.Attrs().Flags&net.FlagUp == 0 {
		// No IPv6 link-local address either: the host takes no part in
		// the overlay, at any layer above the bridge.
		if err := m.disableIPv6(n.Bridge); err != nil {
			return fail(err)
		}
		if err := m.nl.LinkSetUp(br); err != nil {
			return fail(fmt.Errorf("bridge %s: set up: %w", n.Bridge, err))
		}
		ensureRules = true
	}
	made, err := m.ensureVXLAN(n, br)
	if err != nil {
		return fail(err)
	}
	if !ensureRules && !made {
		return br, nil
	}
	fw, err := m.firewall()
	if err != nil {
		return nil, err
	}
	if err := fw.EnsureNetwork(firewall.Network{Name: n.Name, Bridge: n.Bridge, Subnet: n.Subnet, Overlay: true}); err != nil {
		return nil, err
	}
	return br, nil
}

// ensureVXLAN makes n's VXLAN device as a port of br, or checks the one
// there is; made says it was (re)made. A device that differs from the
// record (another VNI or local address) is replaced.
func (m *Manager) ensureVXLAN(n *Network, br netlink.Link) (made bool, err error) {
	name := vxlanName(n.VNI)
	vx, err := m.nl.LinkByName(name)
	switch {
	case err == nil && vxlanMatches(vx, n):
		if vx.Attrs().MasterIndex != br.Attrs().Index {
			if err := m.nl.LinkSetMaster(vx, br); err != nil {
				return false, fmt.Errorf("VXLAN device %s: attach to bridge %s: %w", name, n.Bridge, err)
			}
		}
		if vx.Attrs().Flags&net.FlagUp == 0 {
			if err := m.nl.LinkSetUp(vx); err != nil {
				return false, fmt.Errorf("VXLAN device %s: set up: %w", name, err)
			}
			return true, m.syncFDB(vx, n.Peers)
		}
		return false, nil
	case err == nil:
		if err := m.deleteLink(name); err != nil {
			return false, err
		}
	default:
		if _, ok := err.(netlink.LinkNotFoundError); !ok {
			return false, fmt.Errorf("find VXLAN device %s: %w", name, err)
		}
	}
	la := netlink.NewLinkAttrs()
	la.Name, la.MTU, la.MasterIndex = name, br.Attrs().MTU, br.Attrs().Index
	link := &netlink.Vxlan{LinkAttrs: la, VxlanId: int(n.VNI), SrcAddr: n.Local.AsSlice(), Port: VXLANPort, Learning: true}
	if err := m.nl.LinkAdd(link); err != nil {
		return false, fmt.Errorf("create VXLAN device %s (VNI %d, local %s): %w", name, n.VNI, n.Local, err)
	}
	if vx, err = m.nl.LinkByName(name); err != nil {
		return false, fmt.Errorf("find VXLAN device %s: %w", name, err)
	}
	if err := m.disableIPv6(name); err != nil {
		m.nl.LinkDel(vx)
		return false, err
	}
	if err := m.syncFDB(vx, n.Peers); err != nil {
		m.nl.LinkDel(vx)
		return false, err
	}
	if err := m.nl.LinkSetUp(vx); err != nil {
		m.nl.LinkDel(vx)
		return false, fmt.Errorf("VXLAN device %s: set up: %w", name, err)
	}
	return true, nil
}

// zeroMAC is the FDB key of frames with no known destination: broadcast,
// multicast and unknown unicast go to every remote listed under it.
func zeroMAC() net.HardwareAddr { return make(net.HardwareAddr, 6) }

// fdbDiff says which peers to add and which to delete so that the FDB's
// flood list have becomes want.
func fdbDiff(have, want []netip.Addr) (add, del []netip.Addr) {
	for _, w := range want {
		if !slices.Contains(have, w) && !slices.Contains(add, w) {
			add = append(add, w)
		}
	}
	for _, h := range have {
		if !slices.Contains(want, h) && !slices.Contains(del, h) {
			del = append(del, h)
		}
	}
	return add, del
}

// floodPeers lists the remotes of vx's all-zeros FDB entries.
func (m *Manager) floodPeers(vx netlink.Link) ([]netip.Addr, error) {
	entries, err := m.nl.NeighList(vx.Attrs().Index, unix.AF_BRIDGE)
	if err != nil {
		return nil, fmt.Errorf("list FDB of %s: %w", vx.Attrs().Name, err)
	}
	var out []netip.Addr
	for _, e := range entries {
		if e.LinkIndex != vx.Attrs().Index || e.IP == nil || e.HardwareAddr.String() != zeroMAC().String() {
			continue
		}
		if a, ok := netip.AddrFromSlice(e.IP); ok {
			out = append(out, a.Unmap())
		}
	}
	return out, nil
}

// syncFDB makes vx's flood list exactly peers, as `bridge fdb append
// 00:00:00:00:00:00 dev VX dst PEER` would, one entry per peer.
func (m *Manager) syncFDB(vx netlink.Link, peers []netip.Addr) error {
	have, err := m.floodPeers(vx)
	if err != nil {
		return err
	}
	add, del := fdbDiff(have, peers)
	entry := func(p netip.Addr) *netlink.Neigh {
		return &netlink.Neigh{LinkIndex: vx.Attrs().Index, Family: unix.AF_BRIDGE, State: netlink.NUD_NOARP | netlink.NUD_PERMANENT,
			Flags: netlink.NTF_SELF, IP: p.AsSlice(), HardwareAddr: zeroMAC()}
	}
	for _, p := range add {
		if err := m.nl.NeighAppend(entry(p)); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("VXLAN device %s: add peer %s: %w", vx.Attrs().Name, p, err)
		}
	}
	for _, p := range del {
		if err := m.nl.NeighDel(entry(p)); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("VXLAN device %s: delete peer %s: %w", vx.Attrs().Name, p, err)
		}
	}
	return nil
}

// disableIPv6 turns IPv6 off on a link of the host namespace, when the
// kernel has IPv6 at all.
func (m *Manager) disableIPv6(link string) error {
	return m.inHostNS(func() error {
		key := "/proc/sys/net/ipv6/conf/" + link + "/disable_ipv6"
		if _, err := os.Stat(key); err != nil {
			return nil
		}
		if err := os.WriteFile(key, []byte("1"), 0o644); err != nil {
			return fmt.Errorf("disable IPv6 on %s: %w", link, err)
		}
		return nil
	})
}

// overlayAddress checks a container's address on an overlay: one must be
// given (there is no IPAM across nodes), and it may be any host address of
// the subnet, .1 included (there is no gateway).
func overlayAddress(n *Network, want netip.Addr) error {
	switch {
	case !want.IsValid():
		return fmt.Errorf("network %s is an overlay, without address management across nodes: give the container a fixed address on it", n.Name)
	case want == n.Subnet.Addr() || !n.Subnet.Contains(want) || lastHost(n.Subnet).Less(want):
		return fmt.Errorf("address %s is not a host address of network %s (%s)", want, n.Name, n.Subnet)
	}
	return nil
}
