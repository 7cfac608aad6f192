package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"pcr/internal/atomicfile"
	"pcr/netns"
	"pcr/netns/firewall"
)

// Network modes of --net, as Docker names them. "bridge" is the default
// network, whose name is DefaultNetwork.
const (
	NetNone        = "none"
	NetHost        = "host"
	NetBridge      = "bridge"
	DefaultNetwork = "pcr"
	// DefaultNetMode is what --net is when not given: Docker's bridge.
	DefaultNetMode   = NetBridge
	netContainerPref = "container:"
	// networkFile holds what the current run got from netns (endpoints,
	// published ports, the netns path); it exists only while a run holds
	// networking.
	networkFile = "network.json"
)

// netMode is a parsed --net: none, host, container (sharing another
// container's namespace) or bridge (a pcr network, by name).
type netMode struct {
	kind      string
	network   string // the pcr network, for bridge
	container string // the other container, for container:
}

func (m netMode) bridged() bool { return m.kind == NetBridge }

// userDefined says whether the network is one `network create` made:
// Docker allows --ip and aliases only there, and resolves names only there.
func (m netMode) userDefined() bool { return m.kind == NetBridge && m.network != DefaultNetwork }

func parseNetMode(s string) (netMode, error) {
	switch s {
	case "":
		return parseNetMode(DefaultNetMode)
	case NetNone, NetHost:
		return netMode{kind: s}, nil
	case NetBridge, "default", DefaultNetwork:
		return netMode{kind: NetBridge, network: DefaultNetwork}, nil
	}
	if other, ok := strings.CutPrefix(s, netContainerPref); ok {
		if other == "" {
			return netMode{}, fmt.Errorf("invalid --net %q: container: needs a container name or id", s)
		}
		return netMode{kind: "container", container: other}, nil
	}
	if err := validateNetworkName(s); err != nil {
		return netMode{}, fmt.Errorf("invalid --net %q: want none, host, bridge, container:NAME or a network name", s)
	}
	return netMode{kind: NetBridge, network: s}, nil
}

// validateNetworkName keeps network names to what can be a file name and
// an nft comment: Docker's container name rule.
func validateNetworkName(name string) error {
	if len(name) > 64 || !namePattern().MatchString(name) {
		return fmt.Errorf("invalid network name %q: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", name)
	}
	return nil
}

// SetNetworks reads the --network flags, podman's way: the first is the
// network mode (none, host, container:NAME, bridge or a network name), each
// later one another network to join, and NAME:ip=ADDR gives the container
// a fixed address on that network (the first one's is --ip).
func (o *Options) SetNetworks(flags []string) error {
	for i, f := range flags {
		name, ip, err := parseNetworkFlag(f)
		if err != nil {
			return err
		}
		if i == 0 {
			if ip != "" && o.IP != "" && ip != o.IP {
				return fmt.Errorf("conflicting options: --ip %s and --network %s", o.IP, f)
			}
			if ip != "" {
				o.IP = ip
			}
			o.Network = name
			continue
		}
		first, err := parseNetMode(o.Network)
		if err != nil {
			return err
		}
		m, err := parseNetMode(name)
		if err != nil {
			return err
		}
		if !first.bridged() || !m.bridged() {
			return fmt.Errorf("invalid --network %s: only pcr networks can be joined together (not with none, host or container:)", f)
		}
		if m.network == first.network || slices.Contains(o.Networks, m.network) {
			return fmt.Errorf("invalid --network %s: network %s given twice", f, m.network)
		}
		o.Networks = append(o.Networks, m.network)
		if ip != "" {
			if o.NetworkIPs == nil {
				o.NetworkIPs = map[string]string{}
			}
			o.NetworkIPs[m.network] = ip
		}
	}
	return nil
}

// parseNetworkFlag splits one --network value NAME[:ip=ADDR] (container:NAME
// is a mode, its colon no option).
func parseNetworkFlag(f string) (name, ip string, err error) {
	if strings.HasPrefix(f, netContainerPref) {
		return f, "", nil
	}
	name, opts, ok := strings.Cut(f, ":")
	if !ok {
		return f, "", nil
	}
	for _, opt := range strings.Split(opts, ",") {
		k, v, _ := strings.Cut(opt, "=")
		switch k {
		case "ip", "ip4", "ip6":
			if _, err := netip.ParseAddr(v); err != nil {
				return "", "", fmt.Errorf("invalid --network %q: %s=%q is not an IP address", f, k, v)
			}
			if ip != "" {
				return "", "", fmt.Errorf("invalid --network %q: more than one address", f)
			}
			ip = v
		default:
			return "", "", fmt.Errorf("invalid --network %q: unknown option %q (pcr knows ip=ADDR)", f, opt)
		}
	}
	return name, ip, nil
}

// validateNetwork checks the network flags that need nothing on disk.
func (o *Options) validateNetwork() error {
	m, err := parseNetMode(o.Network)
	if err != nil {
		return err
	}
	if (len(o.Publish) > 0 || o.PublishAll) && !m.bridged() {
		return fmt.Errorf("conflicting options: port publishing and --net %s", o.Network)
	}
	for _, p := range o.Publish {
		if _, err := firewall.ParsePublish(p); err != nil {
			return err
		}
	}
	if o.IP != "" {
		if _, err := netip.ParseAddr(o.IP); err != nil {
			return fmt.Errorf("invalid --ip %q: not an IP address", o.IP)
		}
		if !m.userDefined() {
			return fmt.Errorf("--ip %s: a fixed address is supported on user-defined networks only (network create)", o.IP)
		}
	}
	for name, ip := range o.NetworkIPs {
		if _, err := netip.ParseAddr(ip); err != nil {
			return fmt.Errorf("invalid --network %s:ip=%s: not an IP address", name, ip)
		}
		if !slices.Contains(o.Networks, name) || name == DefaultNetwork {
			return fmt.Errorf("--network %s:ip=%s: a fixed address is supported on the user-defined networks joined only", name, ip)
		}
	}
	if len(o.NetworkAliases) > 0 && !m.userDefined() {
		return fmt.Errorf("--network-alias: aliases are supported on user-defined networks only (network create)")
	}
	for _, d := range o.DNS {
		if _, err := netip.ParseAddr(d); err != nil {
			return fmt.Errorf("invalid --dns %q: not an IP address", d)
		}
	}
	for _, h := range o.AddHost {
		if _, _, err := parseAddHost(h); err != nil {
			return err
		}
	}
	if (len(o.DNS) > 0 || len(o.DNSSearch) > 0) && (m.kind == NetHost || m.kind == "container") {
		return fmt.Errorf("conflicting options: --dns and --net %s", o.Network)
	}
	return nil
}

// parseAddHost reads --add-host HOST:IP (an IPv6 address keeps its
// colons: the host name ends at the first one).
func parseAddHost(s string) (string, netip.Addr, error) {
	host, ip, ok := strings.Cut(s, ":")
	if !ok {
		host, ip, ok = strings.Cut(s, "=")
	}
	addr, err := netip.ParseAddr(strings.Trim(ip, "[]"))
	if !ok || host == "" || strings.ContainsAny(host, " \t") || err != nil {
		return "", netip.Addr{}, fmt.Errorf("invalid --add-host %q: want HOST:IP", s)
	}
	return host, addr, nil
}

// publishSpecs are the ports a start publishes: -p, and with -P every
// port the image EXPOSEs on a random host port.
func publishSpecs(o *Options) ([]firewall.PortMapping, error) {
	var out []firewall.PortMapping
	for _, p := range o.Publish {
		ms, err := firewall.ParsePublish(p)
		if err != nil {
			return nil, err
		}
		out = append(out, ms...)
	}
	if o.PublishAll {
		for _, ex := range o.Expose {
			port, proto, _ := strings.Cut(ex, "/")
			if proto == "" {
				proto = "tcp"
			}
			n, err := strconv.ParseUint(port, 10, 16)
			if err != nil || n == 0 {
				return nil, fmt.Errorf("-P: the image exposes %q, not a port", ex)
			}
			if slices.ContainsFunc(out, func(m firewall.PortMapping) bool { return m.ContainerPort == uint16(n) && m.Proto == proto }) {
				continue // -p said where this one goes
			}
			out = append(out, firewall.PortMapping{ContainerPort: uint16(n), Proto: proto})
		}
	}
	return out, nil
}

// NetworkState is what a run got from netns, kept in the container's
// networkFile while it holds it: `pcr port` and inspect read it.
type NetworkState struct {
	Netns     string                 `json:"netns"`
	Endpoints []netns.Endpoint       `json:"endpoints"`
	Ports     []firewall.PortMapping `json:"ports,omitempty"`
}

func readNetworkState(dir string) (*NetworkState, error) {
	data, err := os.ReadFile(filepath.Join(dir, networkFile))
	if err != nil {
		return nil, err
	}
	ns := &NetworkState{}
	if err := json.Unmarshal(data, ns); err != nil {
		return nil, fmt.Errorf("parse %s: %w", filepath.Join(dir, networkFile), err)
	}
	return ns, nil
}

func writeNetworkState(dir string, ns *NetworkState) error {
	data, err := json.Marshal(ns)
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, networkFile), data, 0o600)
}

// Networks opens pcr's network manager on first use: containers on none
// or host never pay for it.
func (e *Engine) Networks() (*netns.Manager, error) {
	if e.net == nil {
		m, err := netns.New(e.root, e.state)
		if err != nil {
			return nil, err
		}
		e.net = m
	}
	return e.net, nil
}

// setupNetwork gives a run its network, under the container's lock and
// before the runtime runs spec: a bridge run is attached (netns, veth,
// lease, published ports) and its namespace path set in the spec;
// container: joins the other container's namespace. The /etc
// files are written for the run. A failure leaves what was made to the
// caller's teardown (releaseNetwork), which also runs after a crash.
func (e *Engine) setupNetwork(rec *Record, spec *specs.Spec) error {
	dir := e.dir(rec.ID)
	m, err := parseNetMode(rec.Options.Network)
	if err != nil {
		return err
	}
	fail := func(err error) error { return fmt.Errorf("start container %s: %w", ShortID(rec.ID), err) }
	switch m.kind {
	case NetNone, NetHost:
		if len(rec.Options.AddHost) == 0 && len(rec.Options.DNS) == 0 && len(rec.Options.DNSSearch) == 0 {
			return nil // the files create wrote stay right
		}
		hosts, err := os.ReadFile(filepath.Join(dir, "hosts"))
		if err != nil {
			return fail(err)
		}
		if err := writeInPlace(filepath.Join(dir, "hosts"), withAddHosts(baseHosts(string(hosts)), rec.Options.AddHost)); err != nil {
			return fail(err)
		}
		if len(rec.Options.DNS) > 0 || len(rec.Options.DNSSearch) > 0 {
			return fail(e.writeResolvConf(dir, rec))
		}
		return nil
	case "container":
		return e.joinContainerNetwork(rec, m.container, spec)
	}
	mgr, err := e.Networks()
	if err != nil {
		return fail(err)
	}
	ports, err := publishSpecs(&rec.Options)
	if err != nil {
		return fail(err)
	}
	for i := range ports {
		if ports[i].HostPort == 0 {
			if ports[i].HostPort, err = firewall.FreePort(ports[i].HostIP, ports[i].Proto); err != nil {
				return fail(err)
			}
		}
	}
	ao := netns.AttachOptions{ContainerID: rec.ID, Name: rec.Name, Networks: append([]string{m.network}, rec.Options.Networks...),
		Aliases: rec.Options.NetworkAliases, Ports: ports}
	if rec.Options.IP != "" {
		ao.IP, _ = netip.ParseAddr(rec.Options.IP)
	}
	for name, ip := range rec.Options.NetworkIPs {
		if ao.IPs == nil {
			ao.IPs = map[string]netip.Addr{}
		}
		ao.IPs[name], _ = netip.ParseAddr(ip)
	}
	path, eps, err := mgr.Attach(ao)
	if err != nil {
		return fail(err)
	}
	e.trace.Stage("network attached (%d endpoints)", len(eps))
	if err := e.applyNetRate(rec); err != nil {
		return fail(err)
	}
	st := &NetworkState{Netns: path, Endpoints: eps}
	for _, ep := range eps {
		st.Ports = append(st.Ports, ep.Ports...)
	}
	if len(st.Ports) == 0 {
		st.Ports = ports
	}
	if err := writeNetworkState(dir, st); err != nil {
		return fail(err)
	}
	if err := setNetnsPath(spec, path); err != nil {
		return fail(err)
	}
	if err := e.writeHosts(mgr, rec); err != nil {
		return fail(err)
	}
	if err := e.writeResolvConf(dir, rec); err != nil {
		return fail(err)
	}
	e.refreshPeers(mgr, rec.ID)
	e.trace.Stage("hosts and resolv.conf written")
	return nil
}

// joinContainerNetwork points the spec at a running container's network
// namespace and gives this one that container's hosts and resolv.conf.
func (e *Engine) joinContainerNetwork(rec *Record, ref string, spec *specs.Spec) error {
	id, err := e.Lookup(ref)
	if err != nil {
		return fmt.Errorf("start container %s: --net container:%s: %w", ShortID(rec.ID), ref, err)
	}
	c, err := e.load(id)
	if err != nil {
		return err
	}
	if !c.State.Running || c.State.Pid <= 0 {
		return fmt.Errorf("start container %s: --net container:%s: container %s is not running", ShortID(rec.ID), ref, ref)
	}
	path := fmt.Sprintf("/proc/%d/ns/net", c.State.Pid)
	if err := setNetnsPath(spec, path); err != nil {
		return err
	}
	for _, f := range []string{"hosts", "resolv.conf"} {
		if data, err := os.ReadFile(filepath.Join(c.Dir, f)); err == nil {
			if err := writeInPlace(filepath.Join(e.dir(rec.ID), f), data); err != nil {
				return err
			}
		}
	}
	return nil
}

// setNetnsPath makes the spec's network namespace the one at path, in
// place of a new one.
func setNetnsPath(spec *specs.Spec, path string) error {
	if spec.Linux == nil {
		return errors.New("config.json has no linux section")
	}
	for i, n := range spec.Linux.Namespaces {
		if n.Type == specs.NetworkNamespace {
			spec.Linux.Namespaces[i].Path = path
			return nil
		}
	}
	spec.Linux.Namespaces = append(spec.Linux.Namespaces, specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: path})
	return nil
}

// writeInPlace replaces a file's content keeping its inode: the hosts
// files of running containers are bind-mounted, and a rename would leave
// the mount on the old file.
func writeInPlace(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// baseHosts is a hosts file without the --add-host lines of a previous
// start (they follow the marker).
func baseHosts(s string) string {
	if i := strings.Index(s, addHostMarker); i >= 0 {
		return s[:i]
	}
	return s
}

const addHostMarker = "# --add-host\n"

func withAddHosts(base string, adds []string) []byte {
	if len(adds) == 0 {
		return []byte(base)
	}
	var b strings.Builder
	b.WriteString(base)
	if base != "" && !strings.HasSuffix(base, "\n") {
		b.WriteByte('\n')
	}
	b.WriteString(addHostMarker)
	for _, h := range adds {
		host, ip, _ := parseAddHost(h)
		fmt.Fprintf(&b, "%s\t%s\n", ip, host)
	}
	return []byte(b.String())
}

// writeHosts writes a bridged container's hosts file: netns's view (its
// own address, its peers on user networks) and --add-host. Callers hold
// the hosts lock or the container's own.
func (e *Engine) writeHosts(mgr *netns.Manager, rec *Record) error {
	text, err := mgr.HostsFor(rec.ID)
	if err != nil {
		return err
	}
	return e.writeHostsText(rec, text)
}

// writeHostsText writes netns's hosts text for rec, with its hostname
// and --add-host entries.
func (e *Engine) writeHostsText(rec *Record, text string) error {
	hostname := rec.Options.Hostname
	if hostname == "" {
		hostname = ShortID(rec.ID)
	}
	if !hostsNames(text, hostname) {
		// netns names the container by its name; the hostname resolves too.
		if ip := ownAddress(text); ip != "" {
			text += ip + "\t" + hostname + "\n"
		}
	}
	return writeInPlace(filepath.Join(e.dir(rec.ID), "hosts"), withAddHosts(text, rec.Options.AddHost))
}

// hostsNames says whether a hosts text has a line naming name.
func hostsNames(text, name string) bool {
	for _, l := range strings.Split(text, "\n") {
		f := strings.Fields(l)
		if len(f) > 1 && !strings.HasPrefix(f[0], "#") && slices.Contains(f[1:], name) {
			return true
		}
	}
	return false
}

// ownAddress is the address of the first unicast, non-loopback entry of
// a hosts text: the container's own on its first network.
func ownAddress(text string) string {
	for _, l := range strings.Split(text, "\n") {
		f := strings.Fields(l)
		if len(f) < 2 || strings.HasPrefix(f[0], "#") {
			continue
		}
		if a, err := netip.ParseAddr(f[0]); err == nil && a.IsGlobalUnicast() {
			return f[0]
		}
	}
	return ""
}

func (e *Engine) writeResolvConf(dir string, rec *Record) error {
	var data []byte
	m, _ := parseNetMode(rec.Options.Network)
	if m.bridged() {
		mgr, err := e.Networks()
		if err != nil {
			return err
		}
		if data, err = mgr.ResolvConf(rec.Options.DNS, rec.Options.DNSSearch); err != nil {
			return err
		}
	} else {
		data = resolvConfWith(hostResolvConf(m.kind), rec.Options.DNS, rec.Options.DNSSearch)
	}
	return writeInPlace(filepath.Join(dir, "resolv.conf"), data)
}

// resolvConfWith replaces a resolv.conf's servers and search list with
// --dns and --dns-search, where given.
func resolvConfWith(base []byte, dns, search []string) []byte {
	var out []string
	for _, l := range strings.Split(string(base), "\n") {
		f := strings.Fields(l)
		if len(f) > 0 && (f[0] == "nameserver" && len(dns) > 0 || (f[0] == "search" || f[0] == "domain") && len(search) > 0) {
			continue
		}
		if l != "" {
			out = append(out, l)
		}
	}
	if len(search) > 0 {
		out = append(out, "search "+strings.Join(search, " "))
	}
	for _, d := range dns {
		out = append(out, "nameserver "+d)
	}
	return []byte(strings.Join(out, "\n") + "\n")
}

// refreshPeers rewrites, in place, the hosts files of the containers that
// share a user network with id, so that they resolve it (or no longer
// do). The containers dir's lock orders the rewrites of parallel starts
// and stops: each writes what netns says at that moment, and the last
// writer has the newest view. Failures are warnings: a peer's hosts is
// not worth failing this container's start or stop.
func (e *Engine) refreshPeers(mgr *netns.Manager, id string) {
	peers, err := mgr.Peers(id)
	if err != nil || len(peers) == 0 {
		return
	}
	e.refreshHosts(mgr, peers)
}

func (e *Engine) refreshHosts(mgr *netns.Manager, ids []string) {
	fd, err := flockDir(e.containersDir())
	if err != nil {
		e.warnf("lock %s: %v", e.containersDir(), err)
		return
	}
	defer unix.Close(fd)
	texts, err := mgr.HostsForEach(ids)
	if err != nil {
		e.warnf("update the hosts files of %d containers: %v", len(ids), err)
		return
	}
	for _, p := range ids {
		rec, err := readRecord(e.dir(p))
		if err != nil {
			continue // removed meanwhile
		}
		if err := e.writeHostsText(rec, texts[p]); err != nil {
			e.warnf("update the hosts file of %s: %v", ShortID(p), err)
		}
	}
}

// releaseNetwork gives back what a run got from netns (veth, lease, nft
// rules, the netns mount) and updates its peers' hosts files. It runs on
// every teardown, after the container's processes are gone; it is a no-op
// for none, host and container: runs, and safe to repeat. A record that
// cannot be read is released anyway: it may be a start killed midway.
func (e *Engine) releaseNetwork(id string) error {
	dir := e.dir(id)
	_, stErr := os.Stat(filepath.Join(dir, networkFile))
	if rec, err := readRecord(dir); err == nil && stErr != nil {
		if m, err := parseNetMode(rec.Options.Network); err == nil && !m.bridged() {
			return nil
		}
	}
	mgr, err := e.Networks()
	if err != nil {
		return err
	}
	peers, _ := mgr.Peers(id)
	if err := mgr.Detach(id); err != nil {
		return fmt.Errorf("release the network of %s: %w", ShortID(id), err)
	}
	if err := os.Remove(filepath.Join(dir, networkFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if len(peers) > 0 {
		e.refreshHosts(mgr, peers)
	}
	e.trace.Stage("network released")
	return nil
}

// resolveNetworkOptions completes the network options at create: the
// default mode spelled out (inspect shows it), the image's exposed ports
// for -P, and the user networks named checked to exist, so that a typo
// fails the create and not a later start.
func (e *Engine) resolveNetworkOptions(o *Options, exposed map[string]struct{}) error {
	if o.Network == "" {
		o.Network = DefaultNetMode
	}
	if o.PublishAll {
		o.Expose = nil
		for p := range exposed {
			o.Expose = append(o.Expose, p)
		}
		slices.Sort(o.Expose)
	}
	m, err := parseNetMode(o.Network)
	if err != nil {
		return err
	}
	if m.kind == "container" {
		if _, err := e.Lookup(m.container); err != nil {
			return fmt.Errorf("--net container:%s: %w", m.container, err)
		}
		return nil
	}
	if !m.userDefined() && len(o.Networks) == 0 {
		return nil
	}
	mgr, err := e.Networks()
	if err != nil {
		return err
	}
	for i, name := range append([]string{m.network}, o.Networks...) {
		n, err := mgr.Network(name)
		if err != nil {
			return err
		}
		if ip := o.NetworkIPs[name]; n.IsOverlay() && (i == 0 && o.IP == "" || i > 0 && ip == "") {
			return fmt.Errorf("network %s is an overlay, without address management across nodes: give the container an address with --network %s:ip=ADDR", name, name)
		}
		if i == 0 && n.IsOverlay() && (len(o.Publish) > 0 || o.PublishAll) {
			return fmt.Errorf("conflicting options: port publishing and --network %s (an overlay publishes no ports)", name)
		}
	}
	return nil
}

// sweepNetworks releases what netns still holds for containers that are
// gone (a pcr killed between Attach and its record, a removed directory).
func (e *Engine) sweepNetworks() error {
	mgr, err := e.Networks()
	if err != nil {
		return err
	}
	return mgr.Sweep(func(id string) bool { return exists(e.dir(id)) })
}
