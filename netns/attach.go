package netns

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"pcr/netns/firewall"
)

func validID(id string) error {
	if !isName(id, 128) {
		return fmt.Errorf("invalid container id %q", id)
	}
	return nil
}

// vethPrefix is "pcrv" and 8 hex digits of the container id; the network
// index follows, within IFNAMSIZ (15).
func vethPrefix(id string) string {
	h := id
	if len(h) < 8 || strings.Trim(h[:8], "0123456789abcdef") != "" {
		sum := sha256.Sum256([]byte(id))
		h = hex.EncodeToString(sum[:])
	}
	return "pcrv" + h[:8]
}

func vethName(id string, idx int) string { return vethPrefix(id) + strconv.Itoa(idx) }

// macFor derives a locally administered MAC from the address, as Docker
// does, so an address reused by another container keeps a stable MAC.
func macFor(ip netip.Addr) net.HardwareAddr {
	b := ip.AsSlice()
	return net.HardwareAddr{0x02, 0x42, b[len(b)-4], b[len(b)-3], b[len(b)-2], b[len(b)-1]}
}

func ipNet(a netip.Addr, p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// undo collects what a half-done operation must take back on failure.
type undo []func()

func (u *undo) add(f func()) { *u = append(*u, f) }
func (u undo) run() {
	for i := len(u) - 1; i >= 0; i-- {
		u[i]()
	}
}

func (l lease) endpoint(n *Network) Endpoint {
	ep := Endpoint{Network: l.Network, IP: l.IP, MAC: l.MAC, Veth: l.Veth, Aliases: l.Aliases, Ports: l.Ports}
	if n != nil {
		ep.Prefix, ep.Gateway = netip.PrefixFrom(l.IP, n.Subnet.Bits()), n.Gateway
	}
	return ep
}

// Attach gives a container its network: a held netns (made, or reused), a
// veth pair per network (host end on the bridge, container end
// eth0/eth1…), an address lease per network, the default route via the
// first network's gateway, and the published ports. Everything happens
// under the store's lock and the record is written once at the end; on any
// failure what was done is undone. It returns the netns path for
// linux.namespaces[].path.
func (m *Manager) Attach(o AttachOptions) (netnsPath string, eps []Endpoint, err error) {
	if err := validID(o.ContainerID); err != nil {
		return "", nil, fmt.Errorf("attach: %w", err)
	}
	fail := func(err error) (string, []Endpoint, error) {
		return "", nil, fmt.Errorf("attach container %s: %w", shortID(o.ContainerID), err)
	}
	nets := o.Networks
	if len(nets) == 0 {
		nets = []string{DefaultNetwork}
	}
	for i, n := range nets {
		if slices.Contains(nets[:i], n) {
			return fail(fmt.Errorf("network %s given twice", n))
		}
	}
	ports := slices.Clone(o.Ports)
	for i := range ports {
		if ports[i].HostPort == 0 {
			if ports[i].HostPort, err = firewall.FreePort(ports[i].HostIP, ports[i].Proto); err != nil {
				return fail(err)
			}
		}
	}

	unlock, err := m.lock()
	if err != nil {
		return fail(err)
	}
	defer unlock()
	d, err := m.load()
	if err != nil {
		return fail(err)
	}
	// Leftovers of an earlier run of this container (pcr killed, no
	// Detach): its netns is reused below, so its veths must go now.
	if err := m.releaseLocked(d, o.ContainerID, true); err != nil {
		return fail(err)
	}
	m.reclaimStale(d, o.ContainerID)

	var u undo
	defer func() {
		if err != nil {
			u.run()
		}
	}()
	if err := m.prepareNetnsDir(); err != nil {
		return fail(err)
	}
	path := m.netnsPath(o.ContainerID)
	if !isNetnsMount(path) {
		os.Remove(path) // a file left by a crash between create and mount
		if err := holdNetns(path); err != nil {
			return fail(err)
		}
		u.add(func() { dropNetns(path); m.releaseNetnsDir() })
	}
	ctr, err := vnetns.GetFromPath(path)
	if err != nil {
		return fail(fmt.Errorf("open netns %s: %w", path, err))
	}
	defer ctr.Close()
	ch, err := netlink.NewHandleAt(ctr, unix.NETLINK_ROUTE)
	if err != nil {
		return fail(fmt.Errorf("netlink in netns %s: %w", path, err))
	}
	defer ch.Close()

	if len(ports) > 0 {
		// Opened before the bridges are ensured, so that they check
		// their rules too (ensureBridge).
		if _, err := m.firewall(); err != nil {
			return fail(err)
		}
	}
	if n := d.Networks[nets[0]]; len(ports) > 0 && n != nil && n.IsOverlay() {
		return fail(fmt.Errorf("network %s is an overlay: it publishes no ports", n.Name))
	}
	for i, name := range nets {
		want := o.IPs[name]
		if i == 0 && o.IP.IsValid() {
			if want.IsValid() && want != o.IP {
				return fail(fmt.Errorf("network %s: two fixed addresses, %s and %s", name, o.IP, want))
			}
			want = o.IP
		}
		l, ep, err := m.attachOne(d, ch, ctr, o.ContainerID, o.Name, name, i, want, o.Aliases, &u)
		if err != nil {
			return fail(err)
		}
		d.Leases = append(d.Leases, l)
		eps = append(eps, ep)
	}
	if len(ports) > 0 {
		fw, err := m.firewall()
		if err != nil {
			return fail(err)
		}
		n := d.Networks[nets[0]]
		if err := fw.Publish(o.ContainerID, n.Bridge, eps[0].IP, ports); err != nil {
			return fail(err)
		}
		u.add(func() { fw.Unpublish(o.ContainerID) })
		eps[0].Ports = ports
		for i := range d.Leases {
			if d.Leases[i].ContainerID == o.ContainerID && d.Leases[i].Index == 0 {
				d.Leases[i].Ports = ports
			}
		}
	}
	if err := m.save(d); err != nil {
		return fail(err)
	}
	return path, eps, nil
}

// attachOne connects the container's netns ctr (netlink handle ch) to one
// network as eth<idx>; the lease is the caller's to record.
func (m *Manager) attachOne(d *db, ch *netlink.Handle, ctr vnetns.NsHandle, id, name, network string, idx int, want netip.Addr, aliases []string, u *undo) (lease, Endpoint, error) {
	n, err := m.networkIn(d, network)
	if err != nil {
		return lease{}, Endpoint{}, err
	}
	if n.IsOverlay() {
		if err := overlayAddress(n, want); err != nil {
			return lease{}, Endpoint{}, err
		}
	}
	ip, err := allocate(n, d.Leases, want)
	if err != nil {
		return lease{}, Endpoint{}, err
	}
	br, err := m.ensureBridge(n)
	if err != nil {
		return lease{}, Endpoint{}, err
	}
	veth, eth, mac, mtu := vethName(id, idx), "eth"+strconv.Itoa(idx), macFor(ip), m.uplinkMTU()
	if n.IsOverlay() {
		mtu = br.Attrs().MTU // the underlay's less the encapsulation
	}
	la := netlink.NewLinkAttrs()
	la.Name, la.MTU, la.MasterIndex, la.Flags = veth, mtu, br.Attrs().Index, net.FlagUp
	v := &netlink.Veth{LinkAttrs: la, PeerName: eth, PeerMTU: uint32(mtu), PeerHardwareAddr: mac,
		PeerNamespace: netlink.NsFd(int(ctr))}
	if err := m.addVeth(v, !vethTaken(d, id, veth)); err != nil {
		return lease{}, Endpoint{}, fmt.Errorf("network %s: create veth %s: %w", n.Name, veth, err)
	}
	u.add(func() { m.deleteLink(veth) })
	peer, err := ch.LinkByName(eth)
	if err != nil {
		return lease{}, Endpoint{}, fmt.Errorf("network %s: find %s in container: %w", n.Name, eth, err)
	}
	addr := &netlink.Addr{IPNet: ipNet(ip, n.Subnet)}
	if ip.Is6() {
		addr.Flags = unix.IFA_F_NODAD // usable at once, not after a second of duplicate detection
	}
	if err := ch.AddrAdd(peer, addr); err != nil {
		return lease{}, Endpoint{}, fmt.Errorf("network %s: add address %s to %s: %w", n.Name, addr.IPNet, eth, err)
	}
	if err := ch.LinkSetUp(peer); err != nil {
		return lease{}, Endpoint{}, fmt.Errorf("network %s: set %s up: %w", n.Name, eth, err)
	}
	if idx == 0 {
		// lo is index 1 in every new namespace.
		if err := ch.LinkSetUp(&netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: 1, Name: "lo"}}); err != nil {
			return lease{}, Endpoint{}, fmt.Errorf("set lo up: %w", err)
		}
		// As Docker does: any group may open ICMP echo sockets, so that ping
		// works for root of a user namespace, which cannot open raw sockets
		// in a namespace it does not own.
		if err := inNetNS(int(ctr), func() error { return setSysctl("net/ipv4/ping_group_range", "0 2147483647") }); err != nil {
			return lease{}, Endpoint{}, err
		}
		// An overlay has no gateway: its address's on-link route is all.
		if n.Gateway.IsValid() {
			if err := ch.RouteAdd(&netlink.Route{LinkIndex: peer.Attrs().Index, Gw: n.Gateway.AsSlice()}); err != nil && !errors.Is(err, unix.EEXIST) {
				return lease{}, Endpoint{}, fmt.Errorf("network %s: default route via %s: %w", n.Name, n.Gateway, err)
			}
		}
	}
	l := lease{Network: n.Name, IP: ip, ContainerID: id, Name: name, Aliases: slices.Clone(aliases),
		Netns: m.netnsPath(id), Index: idx, MAC: mac.String(), Veth: veth}
	return l, l.endpoint(n), nil
}

// addVeth creates the veth pair v. The host end's name may still be taken
// by the pair of this container's previous run, which Detach left to the
// kernel's asynchronous netns cleanup: that one is deleted and the create
// tried once more.
func (m *Manager) addVeth(v *netlink.Veth, mayReplace bool) error {
	err := m.nl.LinkAdd(v)
	if !mayReplace || !errors.Is(err, unix.EEXIST) {
		return err
	}
	if derr := m.deleteLink(v.Name); derr != nil {
		return fmt.Errorf("%w (and the old one: %w)", err, derr)
	}
	return m.nl.LinkAdd(v)
}

// vethTaken says whether another container's lease names veth (two ids
// whose first 8 hex digits agree): then a link of that name is not ours.
func vethTaken(d *db, id, veth string) bool {
	return slices.ContainsFunc(d.Leases, func(l lease) bool { return l.ContainerID != id && l.Veth == veth })
}

// releaseLocked takes back the rules, leases and, with veths, the veths of
// id (not its netns). Veths are found by name, so those of an Attach that
// crashed before writing its leases go too. Without veths they are left to
// the kernel, which destroys them with the netns the caller drops.
func (m *Manager) releaseLocked(d *db, id string, veths bool) error {
	mine := d.leasesOf(id)
	if len(mine) == 0 && !isNetnsMount(m.netnsPath(id)) {
		return nil // nothing was ever made for id: skip the kernel
	}
	// Attach records the ports with the leases in one write after
	// publishing them, so recorded leases without ports mean no rules:
	// the firewall need not even be opened. No leases may be an Attach
	// that crashed after publishing; then look.
	published := len(mine) == 0
	for _, l := range mine {
		published = published || len(l.Ports) > 0
	}
	if published {
		fw, err := m.firewall()
		if err != nil {
			return err
		}
		if err := fw.Unpublish(id); err != nil {
			return err
		}
	}
	if !veths {
		d.release(id, func(lease) bool { return true })
		return nil
	}
	others := map[string]bool{}
	for _, l := range d.Leases {
		if l.ContainerID != id {
			others[l.Veth] = true
		}
	}
	links, err := retryDump(m.nl.LinkList)
	if err != nil {
		return fmt.Errorf("list links: %w", err)
	}
	prefix := vethPrefix(id)
	for _, l := range links {
		name := l.Attrs().Name
		rest, ok := strings.CutPrefix(name, prefix)
		if _, nerr := strconv.Atoi(rest); !ok || nerr != nil || others[name] {
			continue
		}
		if err := m.nl.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("delete veth %s: %w", name, err)
		}
	}
	d.release(id, func(lease) bool { return true })
	return nil
}

// reclaimStale releases the leases of containers that are gone: their
// held netns is no longer mounted, or their engine record was removed.
func (m *Manager) reclaimStale(d *db, except string) {
	seen := map[string]bool{}
	for _, l := range slices.Clone(d.Leases) {
		if l.ContainerID == except || seen[l.ContainerID] {
			continue
		}
		seen[l.ContainerID] = true
		if m.stale(l) {
			if m.releaseLocked(d, l.ContainerID, true) == nil {
				dropNetns(m.netnsPath(l.ContainerID))
			} else {
				d.release(l.ContainerID, func(lease) bool { return true })
			}
		}
	}
}

func (m *Manager) stale(l lease) bool {
	if !isNetnsMount(l.Netns) {
		return true
	}
	if m.recordsDir == "" {
		return false
	}
	if st, err := os.Stat(m.recordsDir); err != nil || !st.IsDir() {
		return false
	}
	_, err := os.Stat(filepath.Join(m.recordsDir, l.ContainerID))
	return errors.Is(err, fs.ErrNotExist)
}

// Connect attaches a running container to one more network, as
// eth<lowest free index>.
func (m *Manager) Connect(containerID, name, network string, aliases []string) (*Endpoint, error) {
	if err := validID(containerID); err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	fail := func(err error) (*Endpoint, error) {
		return nil, fmt.Errorf("connect container %s to network %s: %w", shortID(containerID), network, err)
	}
	var ep Endpoint
	var u undo
	err := m.update(func(d *db) error {
		path := m.netnsPath(containerID)
		if !isNetnsMount(path) {
			return fmt.Errorf("container has no network namespace held by pcr (not running on a bridge network)")
		}
		used := map[int]bool{}
		for _, l := range d.leasesOf(containerID) {
			if l.Network == network {
				return fmt.Errorf("already connected")
			}
			used[l.Index] = true
		}
		idx := 0
		for used[idx] {
			idx++
		}
		ctr, err := vnetns.GetFromPath(path)
		if err != nil {
			return fmt.Errorf("open netns %s: %w", path, err)
		}
		defer ctr.Close()
		ch, err := netlink.NewHandleAt(ctr, unix.NETLINK_ROUTE)
		if err != nil {
			return fmt.Errorf("netlink in netns %s: %w", path, err)
		}
		defer ch.Close()
		l, e, err := m.attachOne(d, ch, ctr, containerID, name, network, idx, netip.Addr{}, aliases, &u)
		if err != nil {
			return err
		}
		d.Leases = append(d.Leases, l)
		ep = e
		return nil
	})
	if err != nil {
		u.run() // the record was not written: take the veth back too
		return fail(err)
	}
	return &ep, nil
}

// Disconnect takes a container off one network: its veth and lease (and
// its published ports when they went to that network's address).
func (m *Manager) Disconnect(containerID, network string) error {
	err := m.update(func(d *db) error {
		for _, l := range d.leasesOf(containerID) {
			if l.Network != network {
				continue
			}
			if len(l.Ports) > 0 {
				fw, err := m.firewall()
				if err != nil {
					return err
				}
				if err := fw.Unpublish(containerID); err != nil {
					return err
				}
			}
			if err := m.deleteLink(l.Veth); err != nil {
				return err
			}
			d.release(containerID, func(x lease) bool { return x.Network == network })
			return nil
		}
		return fmt.Errorf("not connected")
	})
	if err != nil {
		return fmt.Errorf("disconnect container %s from network %s: %w", shortID(containerID), network, err)
	}
	return nil
}

// Detach releases everything the container got: published ports, veths,
// leases, the held netns. It is idempotent and also cleans up after an
// Attach that crashed halfway.
//
// The veths are not deleted here: deleting a veth waits for the kernel's
// synchronous teardown (≈13 ms, most of a bridged run's extra cost). Once
// the container's processes are gone, the netns mount is its last
// reference (pcr keeps no fd or socket in it), so unmounting it lets the
// kernel's netns cleanup work destroy eth<n> and with it the host end of
// each pair, a few milliseconds later. A restart that finds a host end
// still there deletes it itself (addVeth).
func (m *Manager) Detach(containerID string) error {
	if err := validID(containerID); err != nil {
		return fmt.Errorf("detach: %w", err)
	}
	err := m.update(func(d *db) error {
		if err := m.releaseLocked(d, containerID, false); err != nil {
			return err
		}
		if err := dropNetns(m.netnsPath(containerID)); err != nil {
			return err
		}
		return m.releaseNetnsDir()
	})
	if err != nil {
		return fmt.Errorf("detach container %s: %w", shortID(containerID), err)
	}
	return nil
}

// Endpoints lists what the container has on each network, first network first.
func (m *Manager) Endpoints(containerID string) ([]Endpoint, error) {
	var eps []Endpoint
	err := m.view(func(d *db) error {
		for _, l := range d.leasesOf(containerID) {
			eps = append(eps, l.endpoint(d.Networks[l.Network]))
		}
		return nil
	})
	return eps, err
}

// Sweep releases the leases, veths, rules and held namespaces of
// containers that no longer exist by alive (the engine's view), including
// those of Attaches that crashed before writing a lease.
func (m *Manager) Sweep(alive func(containerID string) bool) error {
	err := m.update(func(d *db) error {
		ids := map[string]bool{}
		for _, l := range d.Leases {
			ids[l.ContainerID] = true
		}
		entries, _ := os.ReadDir(m.nsDir)
		for _, e := range entries {
			ids[e.Name()] = true
		}
		var errs []error
		for id := range ids {
			if alive(id) {
				continue
			}
			if err := m.releaseLocked(d, id, true); err != nil {
				errs = append(errs, err)
				continue
			}
			errs = append(errs, dropNetns(m.netnsPath(id)))
		}
		errs = append(errs, m.releaseNetnsDir())
		return errors.Join(errs...)
	})
	if err != nil {
		return fmt.Errorf("sweep networks: %w", err)
	}
	return nil
}
