// Package netns gives containers their network: network namespaces held by
// bind mounts under the state dir (as `ip netns add` does), bridge networks
// with a veth pair per container, IPAM leases under the root dir, and NAT
// and published ports through netns/firewall. All kernel work is netlink
// from Go; no `ip` or `iptables` process is started.
//
// All of it happens in the Manager's "host" network namespace: the one of
// the thread that called New. Production calls it from any thread (all are
// in the host's); tests call it from a thread moved into a namespace of
// their own, and the Manager never touches the real host.
package netns

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"time"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"pcr/netns/firewall"
)

// Network is a bridge network, or with a VNI an overlay (overlay.go):
// then it has no gateway, and Local and Peers are the nodes' underlay
// addresses.
type Network struct {
	Name    string       `json:"name"`
	ID      string       `json:"id"`
	Bridge  string       `json:"bridge"`
	Subnet  netip.Prefix `json:"subnet"`
	Gateway netip.Addr   `json:"gateway"`
	Created time.Time    `json:"created"`
	VNI     uint32       `json:"vni,omitempty"`
	Local   netip.Addr   `json:"local,omitzero"`
	Peers   []netip.Addr `json:"peers,omitempty"`
}

// Endpoint is what Attach gave one container on one network.
type Endpoint struct {
	Network string                 `json:"network"`
	IP      netip.Addr             `json:"ip"`
	Prefix  netip.Prefix           `json:"prefix"`
	Gateway netip.Addr             `json:"gateway"`
	MAC     string                 `json:"mac"`
	Veth    string                 `json:"veth"`
	Aliases []string               `json:"aliases,omitempty"`
	Ports   []firewall.PortMapping `json:"ports,omitempty"`
}

// AttachOptions says what Attach gives a container.
type AttachOptions struct {
	ContainerID string
	Name        string                // the container name, resolvable by the other containers of its user networks
	Networks    []string              // default [DefaultNetwork]; the first one carries the default route
	IP          netip.Addr            // on the first network
	IPs         map[string]netip.Addr // per network; required on an overlay
	Aliases     []string
	Ports       []firewall.PortMapping // HostPort 0: a free port is picked
}

// Manager owns pcr's networks, leases and held namespaces.
type Manager struct {
	store
	nsDir         string // <state>/netns: one nsfs bind mount per container
	recordsDir    string // a lease whose container has no record here is stale ("" = no such check)
	table         string
	defaultSubnet netip.Prefix
	defaultBridge string
	resolvConf    string

	hostNS vnetns.NsHandle
	nl     *netlink.Handle
	fw     *firewall.Firewall // opened on first need: listing networks needs no nftables
	mtu    int                // the uplink's, looked up on first need
}

// Option changes a Manager's defaults, mostly for tests.
type Option func(*Manager)

// WithTable names pcr's nftables table (default "pcr").
func WithTable(name string) Option { return func(m *Manager) { m.table = name } }

// WithDefaultSubnet sets the default network's subnet (default DefaultSubnet).
// It applies when the default network is first made.
func WithDefaultSubnet(p netip.Prefix) Option { return func(m *Manager) { m.defaultSubnet = p } }

// WithDefaultBridge names the default network's bridge (default DefaultBridge).
func WithDefaultBridge(name string) Option { return func(m *Manager) { m.defaultBridge = name } }

// WithRecords sets the directory holding one entry per existing container
// (default <root>/containers, the engine's); "" turns that staleness check off.
func WithRecords(dir string) Option { return func(m *Manager) { m.recordsDir = dir } }

// WithResolvConf reads the host's resolver config from path (default /etc/resolv.conf).
func WithResolvConf(path string) Option { return func(m *Manager) { m.resolvConf = path } }

// New opens the network store: networks and IPAM leases under
// <root>/networks (flock'd), held network namespaces under
// <state>/netns/<container-id>. The calling thread's network namespace is
// the Manager's host namespace.
func New(root, state string, opts ...Option) (*Manager, error) {
	m := &Manager{
		store:         store{dir: filepath.Join(root, "networks")},
		nsDir:         filepath.Join(state, "netns"),
		recordsDir:    filepath.Join(root, "containers"),
		table:         "pcr",
		defaultSubnet: DefaultSubnet,
		defaultBridge: DefaultBridge,
		resolvConf:    "/etc/resolv.conf",
	}
	for _, o := range opts {
		o(m)
	}
	if err := validSubnet(m.defaultSubnet); err != nil {
		return nil, fmt.Errorf("default network: %w", err)
	}
	ns, err := vnetns.Get()
	if err != nil {
		return nil, fmt.Errorf("network manager: open own network namespace: %w", err)
	}
	m.hostNS = ns
	// Route only: the xfrm and netfilter families need modules a host may lack.
	if m.nl, err = netlink.NewHandleAt(ns, unix.NETLINK_ROUTE); err != nil {
		ns.Close()
		return nil, fmt.Errorf("network manager: open netlink: %w", err)
	}
	return m, nil
}

// Close releases the Manager's netlink sockets and namespace handle.
func (m *Manager) Close() error {
	m.nl.Close()
	return m.hostNS.Close()
}

func (m *Manager) firewall() (*firewall.Firewall, error) {
	if m.fw == nil {
		fw, err := firewall.NewInNetNS(m.table, int(m.hostNS))
		if err != nil {
			return nil, err
		}
		m.fw = fw
	}
	return m.fw, nil
}
