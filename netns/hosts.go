package netns

import (
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
)

// HostsFor returns the /etc/hosts text of a container: localhost, its own
// address with its name and aliases, and every other container on its
// user networks (not the default one, as Docker), from the leases.
func (m *Manager) HostsFor(containerID string) (string, error) {
	var text string
	err := m.view(func(d *db) error {
		text = hostsIn(d, containerID)
		return nil
	})
	return text, err
}

// HostsForEach is HostsFor of each container, from one read of the
// leases: a start on a busy network rewrites every peer's hosts file, and
// reading the leases once per peer made that quadratic.
func (m *Manager) HostsForEach(containerIDs []string) (map[string]string, error) {
	out := make(map[string]string, len(containerIDs))
	err := m.view(func(d *db) error {
		for _, id := range containerIDs {
			out[id] = hostsIn(d, id)
		}
		return nil
	})
	return out, err
}

func hostsIn(d *db, containerID string) string {
	var b strings.Builder
	b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	own := d.leasesOf(containerID)
	if len(own) == 0 {
		return b.String()
	}
	seen := map[string]bool{}
	line := func(l lease) {
		names := slices.DeleteFunc(append([]string{l.Name}, l.Aliases...), func(s string) bool { return s == "" })
		if len(names) == 0 {
			return
		}
		s := l.IP.String() + "\t" + strings.Join(names, " ") + "\n"
		if !seen[s] {
			seen[s] = true
			b.WriteString(s)
		}
	}
	line(own[0])
	for _, o := range own {
		if o.Network == DefaultNetwork {
			continue
		}
		for _, l := range d.leasesOn(o.Network) {
			if l.ContainerID != containerID {
				line(l)
			}
		}
	}
	return b.String()
}

// Peers returns the ids of the containers sharing a user network with containerID.
func (m *Manager) Peers(containerID string) ([]string, error) {
	var out []string
	err := m.view(func(d *db) error {
		for _, o := range d.leasesOf(containerID) {
			if o.Network == DefaultNetwork {
				continue
			}
			for _, l := range d.leasesOn(o.Network) {
				if l.ContainerID != containerID && !slices.Contains(out, l.ContainerID) {
					out = append(out, l.ContainerID)
				}
			}
		}
		return nil
	})
	slices.Sort(out)
	return out, err
}

// systemdResolvConf lists systemd-resolved's upstream servers, for hosts
// whose /etc/resolv.conf names only its 127.0.0.53 stub.
const systemdResolvConf = "/run/systemd/resolve/resolv.conf"

// ResolvConf is the host's /etc/resolv.conf for a container: loopback
// nameservers are dropped (a container's loopback is its own); when none
// remain, systemd-resolved's upstream list is used if there is one, else
// the file says in a comment that no nameserver was left. dns and search,
// when given, replace the nameservers and the search list.
func ResolvConf(dns []string, search []string) ([]byte, error) {
	return resolvConf("/etc/resolv.conf", systemdResolvConf, dns, search)
}

// ResolvConf is the package's ResolvConf reading the Manager's resolv.conf.
func (m *Manager) ResolvConf(dns []string, search []string) ([]byte, error) {
	return resolvConf(m.resolvConf, systemdResolvConf, dns, search)
}

func resolvConf(path, fallback string, dns, search []string) ([]byte, error) {
	for _, s := range dns {
		if _, err := netip.ParseAddr(s); err != nil {
			return nil, fmt.Errorf("invalid --dns %q: not an IP address", s)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	lines, servers, dropped := filterResolv(string(data), len(dns) > 0, len(search) > 0)
	if servers == 0 && len(dns) == 0 && dropped > 0 {
		if fb, err := os.ReadFile(fallback); err == nil {
			var fbLines []string
			fbLines, servers, _ = filterResolv(string(fb), false, true)
			for _, l := range fbLines {
				if strings.HasPrefix(l, "nameserver") {
					lines = append(lines, l)
				}
			}
		}
		if servers == 0 {
			lines = append(lines, "# pcr: the host's only nameservers are on loopback, which a container cannot reach; none written (use --dns)")
		}
	}
	if len(search) > 0 {
		lines = append(lines, "search "+strings.Join(search, " "))
	}
	for _, s := range dns {
		lines = append(lines, "nameserver "+s)
	}
	return []byte(strings.Join(lines, "\n") + "\n"), nil
}

// filterResolv drops loopback nameservers (all of them with dropServers),
// and search/domain lines with dropSearch.
func filterResolv(text string, dropServers, dropSearch bool) (lines []string, servers, dropped int) {
	for _, l := range strings.Split(text, "\n") {
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "nameserver":
			a, err := netip.ParseAddr(strings.Split(f[len(f)-1], "%")[0])
			if dropServers || len(f) < 2 || err == nil && a.IsLoopback() {
				dropped++
				continue
			}
			servers++
		case "search", "domain":
			if dropSearch {
				continue
			}
		}
		lines = append(lines, l)
	}
	return lines, servers, dropped
}
