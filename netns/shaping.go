package netns

import (
	"errors"
	"fmt"
	"math"
	"net"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// MinEgressRate is the lowest rate SetEgressRate shapes to, in bytes/s:
// below it tbf's bucket of one burst takes longer to fill than its
// 32-bit tick count can say.
const MinEgressRate = 1 << 10

// egressLatency is how long a packet may wait in the tbf queue before it
// is dropped: long enough that TCP sees a slower link, not a lossy one.
const egressLatencyUsec = 100_000

// SetEgressRate shapes what the container sends on each of its interfaces
// (a tbf root qdisc on the container-side veth, inside its held netns); 0
// removes it. Interfaces connected later are not shaped until it is
// called again.
func (m *Manager) SetEgressRate(containerID string, bytesPerSec int64) error {
	fail := func(err error) error {
		return fmt.Errorf("shape egress of container %s to %d bytes/s: %w", shortID(containerID), bytesPerSec, err)
	}
	if err := validID(containerID); err != nil {
		return fail(err)
	}
	if bytesPerSec < 0 || (bytesPerSec > 0 && bytesPerSec < MinEgressRate) {
		return fail(fmt.Errorf("the rate must be 0 (unshaped) or at least %d bytes/s", MinEgressRate))
	}
	h, err := m.containerHandle(containerID)
	if err != nil {
		return fail(err)
	}
	defer h.Close()
	links, err := containerLinks(h)
	if err != nil {
		return fail(err)
	}
	for _, l := range links {
		if bytesPerSec == 0 {
			err = removeTbf(h, l)
		} else {
			err = h.QdiscReplace(tbfFor(l, uint64(bytesPerSec)))
		}
		if err != nil {
			return fail(fmt.Errorf("%s: %w", l.Attrs().Name, err))
		}
	}
	return nil
}

// tbfFor is a token bucket of rate bytes/s on link. The bucket holds at
// least one timer tick's worth of tokens (else the rate cannot be reached
// at HZ=100) and one full packet (tbf drops what exceeds its bucket); the
// queue holds egressLatency of traffic beyond the bucket.
func tbfFor(l netlink.Link, rate uint64) *netlink.Tbf {
	mtu := uint64(l.Attrs().MTU)
	if mtu == 0 {
		mtu = 1500
	}
	burst := max(rate/100, 16<<10, mtu+64)
	limit := burst + rate*egressLatencyUsec/1_000_000
	buffer := float64(burst) / float64(rate) * 1e6 * netlink.TickInUsec()
	return &netlink.Tbf{
		QdiscAttrs: netlink.QdiscAttrs{LinkIndex: l.Attrs().Index, Handle: netlink.MakeHandle(1, 0), Parent: netlink.HANDLE_ROOT},
		Rate:       rate,
		Buffer:     uint32(min(buffer, math.MaxUint32)),
		Limit:      uint32(min(limit, math.MaxUint32)),
	}
}

// removeTbf takes away the root tbf of link; another root qdisc (one the
// container set itself, with CAP_NET_ADMIN) is left alone.
func removeTbf(h *netlink.Handle, l netlink.Link) error {
	qs, err := h.QdiscList(l)
	if err != nil {
		return err
	}
	for _, q := range qs {
		if _, ok := q.(*netlink.Tbf); ok && q.Attrs().Parent == netlink.HANDLE_ROOT {
			if err := h.QdiscDel(q); err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EINVAL) {
				return err
			}
		}
	}
	return nil
}

// Counters are the bytes the container received and sent on all its
// interfaces (not lo).
func (m *Manager) Counters(containerID string) (rx, tx uint64, err error) {
	if err := validID(containerID); err != nil {
		return 0, 0, fmt.Errorf("network counters: %w", err)
	}
	h, err := m.containerHandle(containerID)
	if err != nil {
		return 0, 0, fmt.Errorf("network counters of container %s: %w", shortID(containerID), err)
	}
	defer h.Close()
	all, err := retryDump(h.LinkList)
	if err != nil {
		return 0, 0, fmt.Errorf("network counters of container %s: list links: %w", shortID(containerID), err)
	}
	for _, l := range all {
		a := l.Attrs()
		if a.Flags&net.FlagLoopback != 0 || a.Statistics == nil {
			continue
		}
		rx += a.Statistics.RxBytes
		tx += a.Statistics.TxBytes
	}
	return rx, tx, nil
}

// containerHandle is a netlink handle in the container's held netns. The
// socket is made there by netlink's own locked thread, which goes back to
// its namespace at once; no thread of ours ever stays in the container's.
func (m *Manager) containerHandle(containerID string) (*netlink.Handle, error) {
	path := m.netnsPath(containerID)
	if !isNetnsMount(path) {
		return nil, fmt.Errorf("container has no network namespace held by pcr (not running on a bridge network)")
	}
	ns, err := vnetns.GetFromPath(path)
	if err != nil {
		return nil, fmt.Errorf("open netns %s: %w", path, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("netlink in netns %s: %w", path, err)
	}
	return h, nil
}

// containerLinks are the veths in the container's netns: the ends of the
// pairs Attach and Connect made (eth0, eth1…).
func containerLinks(h *netlink.Handle) ([]netlink.Link, error) {
	all, err := retryDump(h.LinkList)
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	var out []netlink.Link
	for _, l := range all {
		if l.Type() == "veth" {
			out = append(out, l)
		}
	}
	return out, nil
}
