package firewall

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
)

// loopback4 is where the host's own "localhost" connections come from.
var loopback4 = netip.MustParsePrefix("127.0.0.0/8")

// Publish adds DNAT rules sending each mapping's host port to ip:ContainerPort,
// one rule per mapping in chain publish, tagged "ctr=ID pub=HOSTIP,HOSTPORT,CTRPORT,PROTO":
//
//	publish:     [ip daddr HOSTIP] meta l4proto P th dport HOSTPORT dnat ip to IP:CTRPORT
//
// publish is jumped to from prerouting (other hosts, and other containers:
// hairpin) and from output (the host itself) for any local destination address.
// For IPv4 the host's 127.0.0.1 works too, which needs two more things:
//
//	postrouting: ip saddr 127.0.0.0/8 oifname BRIDGE ip daddr IP masquerade   (tagged "ctr=ID")
//	sysctl net.ipv4.conf.BRIDGE.route_localnet=1
//
// route_localnet lets a packet with a 127.0.0.0/8 source be routed out of the
// bridge (and the reply be accepted on it) long enough for the masquerade to
// give it the bridge's address; it is per-interface, so only pcr's bridge
// changes. It is left set when the ports go away (the bridge may carry others).
//
// A host port+proto+address already published (by another container, or by
// this one with a different target) is refused and nothing is added; a mapping
// this container already has is skipped, so a retry is harmless.
func (f *Firewall) Publish(containerID string, bridge string, ip netip.Addr, ports []PortMapping) error {
	if err := validateContainerID(containerID); err != nil {
		return err
	}
	ip = ip.Unmap()
	if !ip.IsValid() || bridge == "" {
		return fmt.Errorf("publish ports of container %s: need the container address and bridge (got %v on %q)", containerID, ip, bridge)
	}
	for i, p := range ports {
		if err := p.validate(ip); err != nil {
			return fmt.Errorf("publish %s for container %s: %w", p, containerID, err)
		}
		for _, q := range ports[:i] {
			if p.conflicts(q) {
				return fmt.Errorf("publish %s for container %s: host port given twice (also %s)", p, containerID, q)
			}
		}
	}
	published, err := f.Published()
	if err != nil {
		return fmt.Errorf("publish ports of container %s: %w", containerID, err)
	}
	var add []PortMapping
	for _, p := range ports {
		dup := false
		for owner, ms := range published {
			for _, q := range ms {
				if !p.conflicts(q) {
					continue
				}
				if owner == containerID && p == q {
					dup = true
					continue
				}
				return fmt.Errorf("publish %s for container %s: host port %d/%s is already published by container %s (%s)",
					p, containerID, p.HostPort, p.Proto, owner, q)
			}
		}
		if !dup {
			add = append(add, p)
		}
	}
	if len(add) == 0 {
		return nil
	}
	_, hadLocalhost := published[containerID]
	if ip.Is4() {
		if err := f.writeSysctl("net/ipv4/conf/"+bridge+"/route_localnet", "1"); err != nil {
			return fmt.Errorf("publish ports of container %s on bridge %s: %w", containerID, bridge, err)
		}
	}
	for _, p := range add {
		var match []expr.Any
		if p.HostIP.IsValid() {
			match = matchAddr(p.HostIP, false)
		} else {
			match = matchFamily(ip.Is4())
		}
		f.conn.AddRule(&nftables.Rule{Table: f.table, Chain: f.chain(chainPublish),
			Exprs:    rule(match, matchDport(p.Proto, p.HostPort), dnatTo(ip, p.ContainerPort)),
			UserData: comment(publishComment(containerID, p))})
	}
	if ip.Is4() && !hadLocalhost {
		f.conn.AddRule(&nftables.Rule{Table: f.table, Chain: f.chain(chainPostrouting),
			Exprs: rule(matchPrefix(loopback4, true), matchOifname(bridge, true), matchAddr(ip, false),
				[]expr.Any{&expr.Masq{}}),
			UserData: comment(fmt.Sprintf("ctr=%s localhost=%s", containerID, ip))})
	}
	if err := f.conn.Flush(); err != nil {
		return fmt.Errorf("publish ports of container %s in nftables table %s: %w", containerID, f.table.Name, err)
	}
	return nil
}

// Unpublish removes every rule tagged with the container; none is not an error.
func (f *Firewall) Unpublish(containerID string) error {
	if err := validateContainerID(containerID); err != nil {
		return err
	}
	rs, err := f.taggedRules("ctr", containerID, chainPublish, chainPostrouting)
	if err != nil {
		return fmt.Errorf("unpublish ports of container %s: %w", containerID, err)
	}
	if len(rs) == 0 {
		return nil
	}
	for _, r := range rs {
		if err := f.conn.DelRule(r); err != nil {
			return fmt.Errorf("unpublish ports of container %s: %w", containerID, err)
		}
	}
	if err := f.conn.Flush(); err != nil {
		return fmt.Errorf("unpublish ports of container %s in nftables table %s: %w", containerID, f.table.Name, err)
	}
	return nil
}

// Published reads the published ports back from the kernel: container id ->
// its mappings, in rule order.
func (f *Firewall) Published() (map[string][]PortMapping, error) {
	rs, err := f.rules(chainPublish)
	if err != nil {
		return nil, err
	}
	out := map[string][]PortMapping{}
	for _, r := range rs {
		fields := commentFields(ruleComment(r))
		id, pub := fields["ctr"], fields["pub"]
		if id == "" || pub == "" {
			continue
		}
		p, err := parsePublishComment(pub)
		if err != nil {
			return nil, fmt.Errorf("nftables table %s: rule %d of container %s: %w", f.table.Name, r.Handle, id, err)
		}
		out[id] = append(out[id], p)
	}
	return out, nil
}

func validateContainerID(id string) error {
	if id == "" || len(id) > 96 || strings.ContainsAny(id, " \t\n=,") {
		return fmt.Errorf("invalid container id %q", id)
	}
	return nil
}

func (p PortMapping) validate(ctrIP netip.Addr) error {
	switch {
	case p.Proto != "tcp" && p.Proto != "udp":
		return fmt.Errorf("protocol %q is not tcp or udp", p.Proto)
	case p.HostPort == 0:
		return fmt.Errorf("host port 0: pick one with FreePort first")
	case p.ContainerPort == 0:
		return fmt.Errorf("container port 0")
	case p.HostIP.IsValid() && p.HostIP.Is4() != ctrIP.Is4():
		return fmt.Errorf("host address %s and container address %s are of different IP versions", p.HostIP, ctrIP)
	}
	return nil
}

// publishComment is "ctr=ID pub=HOSTIP,HOSTPORT,CTRPORT,PROTO" ("*" = all addresses).
func publishComment(id string, p PortMapping) string {
	host := "*"
	if p.HostIP.IsValid() {
		host = p.HostIP.String()
	}
	return fmt.Sprintf("ctr=%s pub=%s,%d,%d,%s", id, host, p.HostPort, p.ContainerPort, p.Proto)
}

func parsePublishComment(s string) (PortMapping, error) {
	parts := strings.Split(s, ",")
	if len(parts) != 4 {
		return PortMapping{}, fmt.Errorf("malformed publish comment %q", s)
	}
	var p PortMapping
	if parts[0] != "*" {
		a, err := netip.ParseAddr(parts[0])
		if err != nil {
			return PortMapping{}, fmt.Errorf("malformed publish comment %q: %w", s, err)
		}
		p.HostIP = a
	}
	hp, err1 := strconv.ParseUint(parts[1], 10, 16)
	cp, err2 := strconv.ParseUint(parts[2], 10, 16)
	if err1 != nil || err2 != nil || (parts[3] != "tcp" && parts[3] != "udp") {
		return PortMapping{}, fmt.Errorf("malformed publish comment %q", s)
	}
	p.HostPort, p.ContainerPort, p.Proto = uint16(hp), uint16(cp), parts[3]
	return p, nil
}
