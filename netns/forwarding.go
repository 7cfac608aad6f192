package netns

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// Forwarding. Containers on a bridge reach anything beyond the host only if
// the host routes for them, so pcr turns on IPv4 forwarding: first for the
// bridge (net.ipv4.conf.<bridge>.forwarding), then globally
// (net.ipv4.ip_forward), which the kernel needs for routing between the
// bridge and the uplink. It does so only when it makes a bridge, never
// turns it back off (other software may rely on it by then), and
// ForwardingState says what is on, for `pcr info`. IPv6 networks do the
// same with net.ipv6.conf.

// inHostNS runs fn on a thread in the Manager's host namespace: /proc/sys/net
// shows the namespace of the thread that opens it. The thread is thrown
// away afterwards (never unlocked).
func (m *Manager) inHostNS(fn func() error) error { return inNetNS(int(m.hostNS), fn) }

// inNetNS runs fn on a thread that joined the network namespace nsFD and
// is thrown away afterwards.
func inNetNS(nsFD int, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Setns(nsFD, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("enter network namespace: %w", err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

func (m *Manager) enableForwarding(n *Network) error {
	keys := []string{"net/ipv4/conf/" + n.Bridge + "/forwarding", "net/ipv4/ip_forward"}
	if n.Subnet.Addr().Is6() {
		keys = []string{"net/ipv6/conf/" + n.Bridge + "/forwarding", "net/ipv6/conf/all/forwarding"}
	}
	return m.inHostNS(func() error {
		for _, k := range keys {
			if err := setSysctl(k, "1"); err != nil {
				return err
			}
		}
		return nil
	})
}

func setSysctl(key, value string) error {
	path := filepath.Join("/proc/sys", key)
	if cur, err := os.ReadFile(path); err == nil && strings.TrimSpace(string(cur)) == value {
		return nil
	}
	if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
		return fmt.Errorf("set %s=%s: %w", strings.ReplaceAll(key, "/", "."), value, err)
	}
	return nil
}

func sysctl(key string) string {
	b, err := os.ReadFile(filepath.Join("/proc/sys", key))
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}

// ForwardingState describes the IPv4/IPv6 forwarding of the calling
// thread's network namespace, e.g. "net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=0".
func ForwardingState() string {
	return "net.ipv4.ip_forward=" + sysctl("net/ipv4/ip_forward") +
		" net.ipv6.conf.all.forwarding=" + sysctl("net/ipv6/conf/all/forwarding")
}

// ForwardingState is the package's ForwardingState in the Manager's host
// namespace, plus the forwarding of each pcr bridge that exists, and a word
// on why pcr turns it on.
func (m *Manager) ForwardingState() string {
	var s string
	nets, _ := m.listNetworks()
	m.inHostNS(func() error {
		s = ForwardingState()
		var br []string
		for _, n := range nets {
			fam := "ipv4"
			if n.Subnet.Addr().Is6() {
				fam = "ipv6"
			}
			if v := sysctl("net/" + fam + "/conf/" + n.Bridge + "/forwarding"); v != "?" {
				br = append(br, n.Bridge+"="+v)
			}
		}
		slices.Sort(br)
		if len(br) > 0 {
			s += " bridges: " + strings.Join(br, " ")
		}
		return nil
	})
	return s + " (pcr enables forwarding when it creates a bridge, for containers' outbound traffic; it never disables it)"
}

// listNetworks reads the network records without making the default one.
func (m *Manager) listNetworks() ([]*Network, error) {
	var out []*Network
	err := m.view(func(d *db) error {
		for _, n := range d.Networks {
			out = append(out, n)
		}
		return nil
	})
	return out, err
}
