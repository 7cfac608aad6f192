// Package firewall keeps pcr's NAT, port publishing and network isolation in
// pcr's own nftables table, edited over netlink: no iptables or nft processes
// run on the start path, and no rule outside that table is ever touched.
package firewall

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// PortMapping is one published port, as `-p [IP:]HOSTPORT:CTRPORT[/tcp|udp]` or `-p CTRPORT` says.
type PortMapping struct {
	HostIP        netip.Addr // invalid (zero) = all host addresses
	HostPort      uint16     // 0 = pick a free one (the caller resolves it with FreePort before Publish)
	ContainerPort uint16
	Proto         string // "tcp" or "udp"
}

// String renders the mapping the way `docker port` does: "80/tcp -> 0.0.0.0:8080".
func (p PortMapping) String() string {
	host := "0.0.0.0"
	if p.HostIP.IsValid() {
		host = p.HostIP.String()
	}
	return fmt.Sprintf("%d/%s -> %s", p.ContainerPort, p.Proto, net.JoinHostPort(host, strconv.Itoa(int(p.HostPort))))
}

// conflicts reports whether p and q cannot both be published: they claim the
// same host port and protocol on overlapping host addresses (all addresses
// overlaps every single one, as a bind to 0.0.0.0 would).
func (p PortMapping) conflicts(q PortMapping) bool {
	if p.Proto != q.Proto || p.HostPort != q.HostPort {
		return false
	}
	return !p.HostIP.IsValid() || !q.HostIP.IsValid() || p.HostIP == q.HostIP
}

// ParsePublish parses one -p value in Docker's syntax:
//
//	CTRPORT[/PROTO]                      80, 80/udp, 80-81
//	HOSTPORT:CTRPORT[/PROTO]             8080:80, 8000-8001:80-81
//	IP:[HOSTPORT]:CTRPORT[/PROTO]        127.0.0.1:8080:80, 127.0.0.1::80, [::1]:8080:80
//
// A host port of 0 (or none) means "pick a free one". Ranges expand to one
// mapping per port; a host range must be as long as the container range.
func ParsePublish(s string) ([]PortMapping, error) {
	ms, err := parsePublish(s)
	if err != nil {
		return nil, fmt.Errorf("invalid -p %q: %w", s, err)
	}
	return ms, nil
}

func parsePublish(s string) ([]PortMapping, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("empty port specification")
	}
	spec, proto := s, "tcp"
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		spec, proto = s[:i], strings.ToLower(s[i+1:])
		if proto != "tcp" && proto != "udp" {
			return nil, fmt.Errorf("protocol %q is not tcp or udp", s[i+1:])
		}
	}
	hostIP, hostPorts, ctrPorts, err := splitPublish(spec)
	if err != nil {
		return nil, err
	}
	var ip netip.Addr
	if hostIP != "" {
		a, err := netip.ParseAddr(hostIP)
		if err != nil || a.Zone() != "" {
			return nil, fmt.Errorf("host address %q is not an IP address", hostIP)
		}
		// 0.0.0.0 and :: mean "every address", which the zero Addr says.
		if !a.IsUnspecified() {
			ip = a.Unmap()
		}
	}
	cLo, cHi, err := parsePortRange(ctrPorts, "container", false)
	if err != nil {
		return nil, err
	}
	var hLo, hHi uint16
	if hostPorts != "" {
		if hLo, hHi, err = parsePortRange(hostPorts, "host", true); err != nil {
			return nil, err
		}
		if hLo == 0 && cHi != cLo {
			hHi = 0 // "0:80-81" asks for a free port per container port
		} else if hHi-hLo != cHi-cLo {
			return nil, fmt.Errorf("host port range %s and container port range %s differ in length", hostPorts, ctrPorts)
		}
	}
	var out []PortMapping
	for c := int(cLo); c <= int(cHi); c++ {
		var h uint16
		if hLo != 0 {
			h = hLo + uint16(c-int(cLo))
		}
		out = append(out, PortMapping{HostIP: ip, HostPort: h, ContainerPort: uint16(c), Proto: proto})
	}
	return out, nil
}

// splitPublish cuts "[IP:][HOSTPORT:]CTRPORT" into its parts; an IPv6 host
// address is written in brackets ("[::1]:8080:80") or bare with both ports.
func splitPublish(spec string) (hostIP, hostPorts, ctrPorts string, err error) {
	if strings.HasPrefix(spec, "[") {
		end := strings.IndexByte(spec, ']')
		if end < 0 || len(spec) == end+1 || spec[end+1] != ':' {
			return "", "", "", fmt.Errorf("bracketed host address must be followed by \":HOSTPORT:CTRPORT\"")
		}
		rest := strings.Split(spec[end+2:], ":")
		if len(rest) != 2 {
			return "", "", "", fmt.Errorf("want [IP]:HOSTPORT:CTRPORT")
		}
		return spec[1:end], rest[0], rest[1], nil
	}
	parts := strings.Split(spec, ":")
	switch len(parts) {
	case 1:
		return "", "", parts[0], nil
	case 2:
		if parts[0] == "" {
			return "", "", "", fmt.Errorf("empty host port before \":\"")
		}
		return "", parts[0], parts[1], nil
	case 3:
		if parts[0] == "" {
			return "", "", "", fmt.Errorf("empty host address before \":\"")
		}
		return parts[0], parts[1], parts[2], nil
	default: // bare IPv6 address: the last two fields are the ports
		n := len(parts)
		return strings.Join(parts[:n-2], ":"), parts[n-2], parts[n-1], nil
	}
}

// parsePortRange parses "80" or "8000-8010"; zeroOK allows "0" (any free port).
func parsePortRange(s, what string, zeroOK bool) (lo, hi uint16, err error) {
	if s == "" {
		return 0, 0, fmt.Errorf("missing %s port", what)
	}
	loS, hiS, isRange := strings.Cut(s, "-")
	if lo, err = parsePort(loS, what, zeroOK && !isRange); err != nil {
		return 0, 0, err
	}
	if !isRange {
		return lo, lo, nil
	}
	if hi, err = parsePort(hiS, what, false); err != nil {
		return 0, 0, err
	}
	if hi < lo {
		return 0, 0, fmt.Errorf("%s port range %s ends before it starts", what, s)
	}
	return lo, hi, nil
}

func parsePort(s, what string, zeroOK bool) (uint16, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || (n == 0 && !zeroOK) {
		return 0, fmt.Errorf("%s port %q is not a number in 1-65535", what, s)
	}
	return uint16(n), nil
}

// FreePort finds a free host port for proto by binding port 0 on hostIP (or
// 0.0.0.0) and closing it again. Nothing holds the port afterwards (pcr has no
// daemon to keep a socket open), so a host process may still take it later.
func FreePort(hostIP netip.Addr, proto string) (uint16, error) {
	addr := "0.0.0.0"
	if hostIP.IsValid() {
		addr = hostIP.String()
	}
	hostport := net.JoinHostPort(addr, "0")
	switch proto {
	case "tcp":
		l, err := net.Listen("tcp", hostport)
		if err != nil {
			return 0, fmt.Errorf("find free tcp port on %s: %w", addr, err)
		}
		defer l.Close()
		return uint16(l.Addr().(*net.TCPAddr).Port), nil
	case "udp":
		c, err := net.ListenPacket("udp", hostport)
		if err != nil {
			return 0, fmt.Errorf("find free udp port on %s: %w", addr, err)
		}
		defer c.Close()
		return uint16(c.LocalAddr().(*net.UDPAddr).Port), nil
	default:
		return 0, fmt.Errorf("find free port: protocol %q is not tcp or udp", proto)
	}
}
