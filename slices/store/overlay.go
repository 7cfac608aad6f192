package store

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strconv"

	"pcr/slices/api"
)

// Overlay numbering. VNIs start at 4096 so that they never collide with
// the 802.1Q VLAN ids (0-4095) an operator might also bridge; each VNI
// owns the /24 numbered (vni-4096) inside the pool; in it .1 is left for
// a gateway and nodes get .2 upward.
const (
	DefaultOverlayPool = "10.96.0.0/12"
	FirstVNI           = 4096
	maxVNI             = 1<<24 - 1
	firstHost          = 2
	lastHost           = 254
)

// CheckOverlayPool accepts an IPv4 prefix that holds at least one /24.
func CheckOverlayPool(p netip.Prefix) error {
	if !p.Addr().Is4() || p.Bits() > 24 || p.Bits() < 8 {
		return fmt.Errorf("invalid overlay pool %s: want an IPv4 prefix from /8 to /24", p)
	}
	return nil
}

// subnetCount is how many slices the pool has room for.
func (s *Store) subnetCount() int {
	return min(1<<(24-s.pool.Bits()), maxVNI-FirstVNI+1)
}

// subnetOf is the /24 that VNI vni owns.
func (s *Store) subnetOf(vni uint32) netip.Prefix {
	base := s.pool.Addr().As4()
	n := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8
	n += (vni - FirstVNI) << 8
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), 0}), 24)
}

// freeVNI picks a free VNI from FirstVNI up: the lowest one on a first
// try. A create that lost the race for it (lost > 0) picks at random
// among the lowest few free ones, a window that doubles with each loss
// (4, 8, ... 64), so that creators racing each other spread out instead
// of colliding on the same VNI again; the gaps they leave are filled by
// later creates.
func (s *Store) freeVNI(used map[uint32]bool, lost int) (uint32, error) {
	want := 1
	if lost > 0 {
		want = 4 << min(lost-1, 4)
	}
	var free []uint32
	for i := 0; i < s.subnetCount() && len(free) < want; i++ {
		if v := uint32(FirstVNI + i); !used[v] {
			free = append(free, v)
		}
	}
	if len(free) == 0 {
		return 0, fmt.Errorf("overlay pool %s is full (%d slices)", s.pool, s.subnetCount())
	}
	return free[rand.IntN(len(free))], nil
}

// assignAddresses makes net.Addresses match nodes: a removed node's
// address is freed, a new node gets the lowest free host from .2, and
// nodes that stay keep theirs (their vservers are already on it).
func assignAddresses(slice string, net *api.SliceNetwork, nodes []string) error {
	subnet, err := netip.ParsePrefix(net.Subnet)
	if err != nil {
		return fmt.Errorf("slice %s: corrupt overlay subnet %q", slice, net.Subnet)
	}
	keep := make(map[string]bool, len(nodes))
	for _, n := range nodes {
		keep[n] = true
	}
	used := make(map[int]bool)
	for n, a := range net.Addresses {
		if !keep[n] {
			delete(net.Addresses, n)
			continue
		}
		if addr, err := netip.ParseAddr(a); err == nil {
			used[int(addr.As4()[3])] = true
		}
	}
	if net.Addresses == nil {
		net.Addresses = make(map[string]string, len(nodes))
	}
	base := subnet.Addr().As4()
	host := firstHost
	for _, n := range nodes {
		if _, ok := net.Addresses[n]; ok {
			continue
		}
		for host <= lastHost && used[host] {
			host++
		}
		if host > lastHost {
			return fmt.Errorf("slice %s: no free overlay address in %s (%d nodes at most)", slice, subnet, lastHost-firstHost+1)
		}
		used[host] = true
		base[3] = byte(host)
		net.Addresses[n] = netip.AddrFrom4(base).String()
	}
	return nil
}

func vniKeyPart(vni uint32) string { return strconv.FormatUint(uint64(vni), 10) }
