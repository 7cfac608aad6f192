package engine

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"pcr/netns"
	"pcr/netns/firewall"
)

// CreateNetwork makes a user network (`pcr network create`); an empty
// subnet lets netns pick a free one.
func (e *Engine) CreateNetwork(name, subnet string) (*netns.Network, error) {
	if err := validateNetworkName(name); err != nil {
		return nil, err
	}
	if name == NetBridge || name == NetHost || name == NetNone || name == "default" {
		return nil, fmt.Errorf("network name %q is reserved for --net %s", name, name)
	}
	var prefix netip.Prefix
	if subnet != "" {
		p, err := netip.ParsePrefix(subnet)
		if err != nil {
			return nil, fmt.Errorf("invalid --subnet %q: want a CIDR like 10.89.1.0/24", subnet)
		}
		if p != p.Masked() {
			return nil, fmt.Errorf("invalid --subnet %q: host bits set, did you mean %s?", subnet, p.Masked())
		}
		prefix = p
	}
	mgr, err := e.Networks()
	if err != nil {
		return nil, err
	}
	return mgr.CreateNetwork(name, prefix)
}

// ListNetworks lists pcr's networks.
func (e *Engine) ListNetworks() ([]*netns.Network, error) {
	mgr, err := e.Networks()
	if err != nil {
		return nil, err
	}
	return mgr.Networks()
}

// NetworkInspect is `pcr network inspect`'s output, shaped like Docker's.
type NetworkInspect struct {
	Name       string                      `json:"Name"`
	ID         string                      `json:"Id"`
	Created    time.Time                   `json:"Created"`
	Driver     string                      `json:"Driver"`
	IPAM       NetworkIPAM                 `json:"IPAM"`
	Containers map[string]NetworkContainer `json:"Containers"`
	Options    map[string]string           `json:"Options"`
}

// NetworkIPAM is the network's address plan.
type NetworkIPAM struct {
	Driver string              `json:"Driver"`
	Config []NetworkIPAMConfig `json:"Config"`
}

// NetworkIPAMConfig is one subnet of a network.
type NetworkIPAMConfig struct {
	Subnet  string `json:"Subnet"`
	Gateway string `json:"Gateway"`
}

// NetworkContainer is a container attached to a network.
type NetworkContainer struct {
	Name        string `json:"Name"`
	MacAddress  string `json:"MacAddress"`
	IPv4Address string `json:"IPv4Address"`
}

// InspectNetwork describes one network and the running containers on it.
func (e *Engine) InspectNetwork(name string) (*NetworkInspect, error) {
	mgr, err := e.Networks()
	if err != nil {
		return nil, err
	}
	n, err := mgr.Network(name)
	if err != nil {
		return nil, err
	}
	out := &NetworkInspect{Name: n.Name, ID: n.ID, Created: n.Created, Driver: "bridge",
		IPAM:       NetworkIPAM{Driver: "default", Config: []NetworkIPAMConfig{{Subnet: n.Subnet.String(), Gateway: n.Gateway.String()}}},
		Containers: map[string]NetworkContainer{},
		Options:    map[string]string{"com.docker.network.bridge.name": n.Bridge}}
	if n.IsOverlay() {
		// No gateway: the subnet spans nodes and the bridge has no address.
		out.Driver, out.IPAM.Config[0].Gateway, out.Options = DriverOverlay, "", overlayInspectOptions(n)
	}
	ctrs, err := e.List(false)
	if err != nil {
		return nil, err
	}
	for _, c := range ctrs {
		st, err := readNetworkState(c.Dir)
		if err != nil {
			continue
		}
		for _, ep := range st.Endpoints {
			if ep.Network == n.Name {
				out.Containers[c.ID] = NetworkContainer{Name: c.Name, MacAddress: ep.MAC, IPv4Address: ep.Prefix.String()}
			}
		}
	}
	return out, nil
}

// RemoveNetwork removes a user network; netns refuses one in use.
func (e *Engine) RemoveNetwork(name string) error {
	if name == DefaultNetwork || name == NetBridge || name == NetHost || name == NetNone {
		return fmt.Errorf("%s is a pre-defined network and cannot be removed", name)
	}
	mgr, err := e.Networks()
	if err != nil {
		return err
	}
	return mgr.RemoveNetwork(name)
}

// PruneNetworks removes the user networks no container uses, after
// releasing what containers that are gone still held.
func (e *Engine) PruneNetworks() ([]string, error) {
	if err := e.sweepNetworks(); err != nil {
		return nil, err
	}
	mgr, err := e.Networks()
	if err != nil {
		return nil, err
	}
	return mgr.PruneNetworks()
}

// ConnectNetwork joins a container to a user network: at once when it
// runs, and at each later start (it is recorded).
func (e *Engine) ConnectNetwork(network, ref string, aliases []string) error {
	if err := validateNetworkName(network); err != nil {
		return err
	}
	id, err := e.Lookup(ref)
	if err != nil {
		return err
	}
	mgr, err := e.Networks()
	if err != nil {
		return err
	}
	if _, err := mgr.Network(network); err != nil {
		return err
	}
	c, unlock, err := e.lockStartable(id)
	if err != nil {
		return err
	}
	defer unlock()
	m, err := parseNetMode(c.Options.Network)
	if err != nil {
		return err
	}
	if !m.bridged() {
		return fmt.Errorf("container %s is on --net %s: only containers on a pcr network can join another", ref, c.Options.Network)
	}
	if m.network == network || slices.Contains(c.Options.Networks, network) {
		return fmt.Errorf("container %s is already on network %s", ref, network)
	}
	rec := c.Record
	if c.State.Running {
		ep, err := mgr.Connect(id, rec.Name, network, aliases)
		if err != nil {
			return err
		}
		st, err := readNetworkState(c.Dir)
		if err != nil {
			mgr.Disconnect(id, network)
			return fmt.Errorf("connect %s to %s: %w", ref, network, err)
		}
		st.Endpoints = append(st.Endpoints, *ep)
		if err := writeNetworkState(c.Dir, st); err != nil {
			mgr.Disconnect(id, network)
			return err
		}
	}
	rec.Options.Networks = append(rec.Options.Networks, network)
	for _, a := range aliases {
		if !slices.Contains(rec.Options.NetworkAliases, a) {
			rec.Options.NetworkAliases = append(rec.Options.NetworkAliases, a)
		}
	}
	if err := writeRecord(c.Dir, rec); err != nil {
		return err
	}
	if c.State.Running {
		e.refreshHosts(mgr, []string{id})
		e.refreshPeers(mgr, id)
	}
	return nil
}

// DisconnectNetwork takes a container off a network network connect
// joined it to.
func (e *Engine) DisconnectNetwork(network, ref string) error {
	id, err := e.Lookup(ref)
	if err != nil {
		return err
	}
	c, unlock, err := e.lockStartable(id)
	if err != nil {
		return err
	}
	defer unlock()
	rec := c.Record
	if m, _ := parseNetMode(rec.Options.Network); m.network == network {
		return fmt.Errorf("container %s is on network %s by --net: disconnect only takes off networks joined with network connect", ref, network)
	}
	if !slices.Contains(rec.Options.Networks, network) {
		return fmt.Errorf("container %s is not connected to network %s", ref, network)
	}
	if c.State.Running {
		mgr, err := e.Networks()
		if err != nil {
			return err
		}
		peers, _ := mgr.Peers(id)
		if err := mgr.Disconnect(id, network); err != nil {
			return err
		}
		if st, err := readNetworkState(c.Dir); err == nil {
			st.Endpoints = slices.DeleteFunc(st.Endpoints, func(ep netns.Endpoint) bool { return ep.Network == network })
			if err := writeNetworkState(c.Dir, st); err != nil {
				return err
			}
		}
		defer e.refreshHosts(mgr, append(peers, id))
	}
	rec.Options.Networks = slices.DeleteFunc(rec.Options.Networks, func(n string) bool { return n == network })
	delete(rec.Options.NetworkIPs, network)
	return writeRecord(c.Dir, rec)
}

// Ports are a running container's published ports (`pcr port`), with
// the host ports netns picked; a stopped container has none.
func (e *Engine) Ports(ref string) ([]firewall.PortMapping, error) {
	c, err := e.Inspect(ref)
	if err != nil {
		return nil, err
	}
	if !c.State.Running {
		return nil, nil
	}
	st, err := readNetworkState(c.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return st.Ports, nil
}

// InspectNetworkSettings is inspect's NetworkSettings, as Docker's.
type InspectNetworkSettings struct {
	SandboxKey string                         `json:"SandboxKey"`
	IPAddress  string                         `json:"IPAddress"`
	Gateway    string                         `json:"Gateway"`
	MacAddress string                         `json:"MacAddress"`
	Ports      map[string][]InspectPortBind   `json:"Ports"`
	Networks   map[string]InspectNetworkEntry `json:"Networks"`
}

// InspectPortBind is one host side of a published port.
type InspectPortBind struct {
	HostIP   string `json:"HostIp"`
	HostPort string `json:"HostPort"`
}

// InspectNetworkEntry is the container on one network.
type InspectNetworkEntry struct {
	IPAddress   string   `json:"IPAddress"`
	IPPrefixLen int      `json:"IPPrefixLen"`
	Gateway     string   `json:"Gateway"`
	MacAddress  string   `json:"MacAddress"`
	Aliases     []string `json:"Aliases"`
}

// networkSettings is what inspect shows of a container's network: empty
// unless it runs, as Docker's.
func networkSettings(c *Container) InspectNetworkSettings {
	out := InspectNetworkSettings{Ports: map[string][]InspectPortBind{}, Networks: map[string]InspectNetworkEntry{}}
	if !c.State.Running {
		return out
	}
	st, err := readNetworkState(c.Dir)
	if err != nil {
		return out
	}
	out.SandboxKey = st.Netns
	for i, ep := range st.Endpoints {
		ent := InspectNetworkEntry{IPAddress: ep.IP.String(), IPPrefixLen: ep.Prefix.Bits(), MacAddress: ep.MAC, Aliases: ep.Aliases}
		if ep.Gateway.IsValid() { // an overlay has none
			ent.Gateway = ep.Gateway.String()
		}
		out.Networks[ep.Network] = ent
		if i == 0 {
			out.IPAddress, out.Gateway, out.MacAddress = ent.IPAddress, ent.Gateway, ent.MacAddress
		}
	}
	for _, p := range st.Ports {
		host := "0.0.0.0"
		if p.HostIP.IsValid() {
			host = p.HostIP.String()
		}
		key := fmt.Sprintf("%d/%s", p.ContainerPort, p.Proto)
		out.Ports[key] = append(out.Ports[key], InspectPortBind{HostIP: host, HostPort: fmt.Sprint(p.HostPort)})
	}
	return out
}

// ForwardingState is what pcr enabled of the host's forwarding, for
// pcr info.
func (e *Engine) ForwardingState() string {
	mgr, err := e.Networks()
	if err != nil {
		return "unknown: " + strings.TrimSpace(err.Error())
	}
	return mgr.ForwardingState()
}
