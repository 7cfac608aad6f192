package follow

import (
	"bufio"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
)

// DefaultAddress is the first IPv4 address of the interface the default
// route leaves by: the node's underlay address when none is given. It is
// "" when there is no default route (the authority then uses the
// address the node's reports come from, or the one the admin gave).
func DefaultAddress() string {
	f, err := os.Open("/proc/net/route")
	if err != nil {
		return ""
	}
	defer f.Close()
	ifname := defaultRouteInterface(f)
	if ifname == "" {
		return ""
	}
	ifc, err := net.InterfaceByName(ifname)
	if err != nil {
		return ""
	}
	addrs, err := ifc.Addrs()
	if err != nil {
		return ""
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && ipn.IP.IsGlobalUnicast() {
			return ipn.IP.String()
		}
	}
	return ""
}

// defaultRouteInterface reads /proc/net/route's table and returns the
// interface of the default route (destination and mask 0, up) of the
// lowest metric, or "".
func defaultRouteInterface(r io.Reader) string {
	const routeUp = 0x1
	sc := bufio.NewScanner(r)
	best, bestMetric := "", uint64(0)
	for sc.Scan() {
		// Iface Destination Gateway Flags RefCnt Use Metric Mask …; the
		// header line fails the checks below.
		fields := strings.Fields(sc.Text())
		if len(fields) < 8 || fields[1] != "00000000" || fields[7] != "00000000" {
			continue
		}
		flags, err := strconv.ParseUint(fields[3], 16, 32)
		if err != nil || flags&routeUp == 0 {
			continue
		}
		metric, err := strconv.ParseUint(fields[6], 10, 32)
		if err != nil {
			continue
		}
		if best == "" || metric < bestMetric {
			best, bestMetric = fields[0], metric
		}
	}
	return best
}
