package engine

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"pcr/netns"
)

// Network drivers of `pcr network create --driver`.
const (
	DriverBridge  = "bridge"
	DriverOverlay = "overlay"
)

// ParseOverlayOpts reads `network create --driver overlay --subnet S --opt
// vni=N --opt local=IP --opt peers=IP,IP NAME` into netns's options.
func ParseOverlayOpts(name, subnet string, opts []string) (netns.OverlayOptions, error) {
	o := netns.OverlayOptions{Name: name}
	if subnet == "" {
		return o, fmt.Errorf("--driver overlay needs --subnet: the same subnet on every node")
	}
	p, err := netip.ParsePrefix(subnet)
	if err != nil {
		return o, fmt.Errorf("invalid --subnet %q: want a CIDR like 10.96.0.0/24", subnet)
	}
	o.Subnet = p
	for _, opt := range opts {
		k, v, ok := strings.Cut(opt, "=")
		if !ok {
			return o, fmt.Errorf("invalid --opt %q: want KEY=VALUE", opt)
		}
		switch k {
		case "vni":
			n, err := strconv.ParseUint(v, 10, 32)
			if err != nil || n < 1 || n > netns.MaxVNI {
				return o, fmt.Errorf("invalid --opt vni=%s: want a VXLAN id 1..%d", v, netns.MaxVNI)
			}
			o.VNI = uint32(n)
		case "local":
			if o.Local, err = netip.ParseAddr(v); err != nil {
				return o, fmt.Errorf("invalid --opt local=%s: not an IP address", v)
			}
		case "peers":
			o.Peers = nil
			for _, s := range strings.Split(v, ",") {
				if s = strings.TrimSpace(s); s == "" {
					continue
				}
				a, err := netip.ParseAddr(s)
				if err != nil {
					return o, fmt.Errorf("invalid --opt peers=%s: %q is not an IP address", v, s)
				}
				o.Peers = append(o.Peers, a)
			}
		default:
			return o, fmt.Errorf("invalid --opt %q: an overlay knows vni, local and peers", opt)
		}
	}
	switch {
	case o.VNI == 0:
		return o, fmt.Errorf("--driver overlay needs --opt vni=N (the same on every node)")
	case !o.Local.IsValid():
		return o, fmt.Errorf("--driver overlay needs --opt local=IP (this node's underlay address)")
	}
	return o, nil
}

// CreateOverlayNetwork makes an overlay network (`pcr network create
// --driver overlay`): one subnet spanning this node and its peers.
func (e *Engine) CreateOverlayNetwork(name, subnet string, opts []string) (*netns.Network, error) {
	if err := validateNetworkName(name); err != nil {
		return nil, err
	}
	if name == NetBridge || name == NetHost || name == NetNone || name == "default" {
		return nil, fmt.Errorf("network name %q is reserved for --net %s", name, name)
	}
	o, err := ParseOverlayOpts(name, subnet, opts)
	if err != nil {
		return nil, err
	}
	mgr, err := e.Networks()
	if err != nil {
		return nil, err
	}
	return mgr.CreateOverlay(o)
}

// overlayInspectOptions are an overlay's settings as inspect shows them,
// under the --opt names that made it.
func overlayInspectOptions(n *netns.Network) map[string]string {
	peers := make([]string, len(n.Peers))
	for i, p := range n.Peers {
		peers[i] = p.String()
	}
	return map[string]string{"com.docker.network.bridge.name": n.Bridge, "vni": strconv.FormatUint(uint64(n.VNI), 10),
		"local": n.Local.String(), "peers": strings.Join(peers, ","), "vxlan.port": strconv.Itoa(netns.VXLANPort)}
}
