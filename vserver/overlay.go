package vserver

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"pcr/engine"
	"pcr/netns"
)

// Overlay is a vserver's place on its slice's overlay network: one subnet
// that spans the slice's nodes over VXLAN, as the slice authority hands
// it out. The vserver joins it beside its usual network.
type Overlay struct {
	// VNI is the slice's VXLAN id, unique per slice at the authority.
	VNI    uint32 `json:"vni"`
	Subnet string `json:"subnet"`
	// Address is this vserver's address in Subnet.
	Address string `json:"address"`
	// Local is this node's underlay address, Peers the slice's other
	// nodes'.
	Local string   `json:"local,omitempty"`
	Peers []string `json:"peers,omitempty"`
}

// noUnderlay is why an overlay handed to a node that does not know its
// own underlay address fails: the tunnel needs a source address.
const noUnderlay = "slice overlay needs this node's underlay address: start pcr node serve with --address"

// OverlayNetwork is the engine network of the overlay of VNI on this node:
// one per slice, whatever its vserver is called.
func OverlayNetwork(vni uint32) string { return "slice-" + strconv.FormatUint(uint64(vni), 10) }

// validate checks what needs nothing but the overlay and the vserver's
// primary network, so that a bad one fails before anything is made.
func (o *Overlay) validate(primary string) error {
	opts, err := o.options()
	if err != nil {
		return err
	}
	addr, _ := netip.ParseAddr(o.Address)
	if addr == opts.Subnet.Addr() || !opts.Subnet.Contains(addr) {
		return fmt.Errorf("slice overlay: address %s is not a host address of subnet %s", o.Address, o.Subnet)
	}
	if slices.Contains(opts.Peers, opts.Local) {
		return fmt.Errorf("slice overlay: peer %s is this node's own underlay address", opts.Local)
	}
	switch {
	case primary == engine.NetNone, primary == engine.NetHost, strings.HasPrefix(primary, "container:"):
		return fmt.Errorf("slice overlay: it joins beside a pcr network, not with network %q", primary)
	case primary == OverlayNetwork(o.VNI):
		return fmt.Errorf("slice overlay: network %s is the overlay itself, not a network beside it", primary)
	}
	return nil
}

// options parses the overlay into netns's terms.
func (o *Overlay) options() (netns.OverlayOptions, error) {
	opts := netns.OverlayOptions{Name: OverlayNetwork(o.VNI), VNI: o.VNI}
	if o.VNI < 1 || o.VNI > netns.MaxVNI {
		return opts, fmt.Errorf("slice overlay: VNI %d out of range 1..%d", o.VNI, netns.MaxVNI)
	}
	p, err := netip.ParsePrefix(o.Subnet)
	if err != nil || p != p.Masked() {
		return opts, fmt.Errorf("slice overlay: invalid subnet %q: want a CIDR like 10.96.0.0/24", o.Subnet)
	}
	opts.Subnet = p
	if _, err := netip.ParseAddr(o.Address); err != nil {
		return opts, fmt.Errorf("slice overlay: invalid address %q: not an IP address", o.Address)
	}
	if o.Local == "" {
		return opts, errors.New(noUnderlay)
	}
	if opts.Local, err = netip.ParseAddr(o.Local); err != nil {
		return opts, fmt.Errorf("slice overlay: invalid underlay address %q: not an IP address", o.Local)
	}
	if opts.Peers, err = parsePeers(o.Peers); err != nil {
		return opts, err
	}
	return opts, nil
}

func parsePeers(peers []string) ([]netip.Addr, error) {
	out := make([]netip.Addr, 0, len(peers))
	for _, s := range peers {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("slice overlay: invalid peer %q: not an IP address", s)
		}
		out = append(out, a)
	}
	return out, nil
}

// networkOptions joins the container to the overlay beside its usual
// network, at its fixed address (an overlay has no IPAM across nodes).
func (o *Overlay) networkOptions(opts *engine.Options) {
	name := OverlayNetwork(o.VNI)
	opts.Networks = append(opts.Networks, name)
	if opts.NetworkIPs == nil {
		opts.NetworkIPs = map[string]string{}
	}
	opts.NetworkIPs[name] = o.Address
}

// ensureOverlay makes (or brings up to date) the overlay network of a
// vserver's slice; made says this call created it, so that a failed
// create removes it again.
func (m *Manager) ensureOverlay(slice string, o *Overlay) (made bool, err error) {
	opts, err := o.options()
	if err != nil {
		return false, fmt.Errorf("create vserver %s: %w", slice, err)
	}
	nets, err := m.eng.Networks()
	if err != nil {
		return false, fmt.Errorf("create vserver %s: %w", slice, err)
	}
	all, err := nets.Networks()
	if err != nil {
		return false, fmt.Errorf("create vserver %s: %w", slice, err)
	}
	made = !slices.ContainsFunc(all, func(n *netns.Network) bool { return n.Name == opts.Name })
	if _, err := nets.EnsureOverlay(opts); err != nil {
		return false, fmt.Errorf("create vserver %s: %w", slice, err)
	}
	return made, nil
}

// releaseOverlay removes the overlay network of o once no container is
// on it: the slice's vserver is gone, and one left behind would keep its
// VNI and subnet taken on this node. A container that still names it (an
// admin's, stopped or running) keeps it. A failure is logged only: the
// vserver is gone either way, and the next vserver of the slice makes the
// network up to date again.
func (m *Manager) releaseOverlay(slice string, o *Overlay) {
	name := OverlayNetwork(o.VNI)
	nets, err := m.eng.Networks()
	if err != nil {
		m.log.Warn("slice overlay network left", "slice", slice, "network", name, "error", err.Error())
		return
	}
	all, err := nets.Networks()
	if err != nil || !slices.ContainsFunc(all, func(n *netns.Network) bool { return n.Name == name && n.IsOverlay() }) {
		return
	}
	ctrs, err := m.eng.List(true)
	if err != nil {
		m.log.Warn("slice overlay network left", "slice", slice, "network", name, "error", err.Error())
		return
	}
	for _, c := range ctrs {
		if c.Options.Network == name || slices.Contains(c.Options.Networks, name) {
			return
		}
	}
	if err := m.eng.RemoveNetwork(name); err != nil {
		m.log.Warn("slice overlay network left", "slice", slice, "network", name, "error", err.Error())
		return
	}
	m.log.Info("slice overlay network removed", "slice", slice, "network", name)
}

// SetPeers replaces the other nodes of a vserver's slice overlay: the
// tunnel's flood list changes in place, the vserver runs on.
func (m *Manager) SetPeers(slice string, peers []string) error {
	unlock, v, err := m.existing(slice)
	if err != nil {
		return err
	}
	defer unlock()
	if v.Overlay == nil {
		return fmt.Errorf("set overlay peers of vserver %s: it is on no slice overlay", slice)
	}
	addrs, err := parsePeers(peers)
	if err != nil {
		return fmt.Errorf("set overlay peers of vserver %s: %w", slice, err)
	}
	nets, err := m.eng.Networks()
	if err != nil {
		return fmt.Errorf("set overlay peers of vserver %s: %w", slice, err)
	}
	if err := nets.SetOverlayPeers(OverlayNetwork(v.Overlay.VNI), addrs); err != nil {
		return fmt.Errorf("set overlay peers of vserver %s: %w", slice, err)
	}
	v.Overlay.Peers = slices.Clone(peers)
	if err := m.writeRecord(v); err != nil {
		return err
	}
	m.log.Info("vserver overlay peers set", "slice", slice, "peers", strings.Join(peers, ","))
	return nil
}
