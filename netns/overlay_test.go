package netns

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func addrs(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

func TestOverlayOptionsValidate(t *testing.T) {
	good := OverlayOptions{Name: "slice1", Subnet: netip.MustParsePrefix("10.96.42.0/24"), VNI: 4242,
		Local: netip.MustParseAddr("10.201.0.1"), Peers: addrs("10.201.0.3", "10.201.0.2", "10.201.0.3")}
	got, err := good.validate()
	if err != nil {
		t.Fatalf("valid options: %v", err)
	}
	if want := addrs("10.201.0.2", "10.201.0.3"); !slices.Equal(got.Peers, want) {
		t.Errorf("peers = %v, want %v (sorted, without the duplicate)", got.Peers, want)
	}
	if _, err := (OverlayOptions{Name: "max", Subnet: good.Subnet, VNI: MaxVNI, Local: good.Local}).validate(); err != nil {
		t.Errorf("VNI %d, no peers: %v", MaxVNI, err)
	}

	for _, c := range []struct {
		name string
		edit func(o *OverlayOptions)
		want string
	}{
		{"VNI 0", func(o *OverlayOptions) { o.VNI = 0 }, "VNI 0 out of range 1..16777215"},
		{"VNI too big", func(o *OverlayOptions) { o.VNI = MaxVNI + 1 }, "VNI 16777216 out of range"},
		{"no local", func(o *OverlayOptions) { o.Local = netip.Addr{} }, "invalid local underlay address"},
		{"loopback local", func(o *OverlayOptions) { o.Local = netip.MustParseAddr("127.0.0.1") }, "invalid local underlay address"},
		{"peer is local", func(o *OverlayOptions) { o.Peers = addrs("10.201.0.2", "10.201.0.1") }, "peer 10.201.0.1 is this node's own local address"},
		{"mixed families", func(o *OverlayOptions) { o.Peers = addrs("fd00::2") }, "not of the same IP version"},
		{"unspecified peer", func(o *OverlayOptions) { o.Peers = addrs("0.0.0.0") }, "invalid peer address"},
		{"no subnet", func(o *OverlayOptions) { o.Subnet = netip.Prefix{} }, "needs a subnet"},
		{"host bits", func(o *OverlayOptions) { o.Subnet = netip.MustParsePrefix("10.96.42.7/24") }, "not a network address"},
		{"bad name", func(o *OverlayOptions) { o.Name = "a b" }, "invalid network name"},
		{"default network", func(o *OverlayOptions) { o.Name = DefaultNetwork }, "is the default network"},
	} {
		o := good
		o.Peers = slices.Clone(good.Peers)
		c.edit(&o)
		_, err := o.validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.name, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error is not one line: %q", c.name, err)
		}
	}
}

func TestFDBDiff(t *testing.T) {
	for _, c := range []struct {
		have, want, add, del []netip.Addr
	}{
		{nil, addrs("10.0.0.2", "10.0.0.3"), addrs("10.0.0.2", "10.0.0.3"), nil},
		{addrs("10.0.0.2", "10.0.0.3"), nil, nil, addrs("10.0.0.2", "10.0.0.3")},
		{addrs("10.0.0.2", "10.0.0.3"), addrs("10.0.0.3", "10.0.0.4"), addrs("10.0.0.4"), addrs("10.0.0.2")},
		{addrs("10.0.0.2", "10.0.0.3"), addrs("10.0.0.3", "10.0.0.2"), nil, nil},
		// The kernel may list a remote twice (appended twice by hand): delete it once.
		{addrs("10.0.0.5", "10.0.0.5"), nil, nil, addrs("10.0.0.5")},
	} {
		add, del := fdbDiff(c.have, c.want)
		if !slices.Equal(add, c.add) || !slices.Equal(del, c.del) {
			t.Errorf("fdbDiff(%v, %v) = add %v del %v, want add %v del %v", c.have, c.want, add, del, c.add, c.del)
		}
	}
}

func TestOverlayAddressNeedsAFixedHostAddress(t *testing.T) {
	n := &Network{Name: "ov", Subnet: netip.MustParsePrefix("10.96.42.0/24"), VNI: 4242}
	for _, ok := range []string{"10.96.42.1", "10.96.42.2", "10.96.42.254"} {
		if err := overlayAddress(n, netip.MustParseAddr(ok)); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	if err := overlayAddress(n, netip.Addr{}); err == nil || !strings.Contains(err.Error(), "give the container a fixed address") {
		t.Errorf("no address: err = %v", err)
	}
	for _, bad := range []string{"10.96.42.0", "10.96.42.255", "10.96.43.2"} {
		if err := overlayAddress(n, netip.MustParseAddr(bad)); err == nil || !strings.Contains(err.Error(), "not a host address") {
			t.Errorf("%s: err = %v, want a refusal", bad, err)
		}
	}
}

func TestVXLANNameFitsIFNAMSIZ(t *testing.T) {
	if name := vxlanName(MaxVNI); len(name) > 15 || name != "pcrvx16777215" {
		t.Errorf("vxlanName(%d) = %q", MaxVNI, name)
	}
	if vxlanName(1) == vxlanName(11) {
		t.Error("two VNIs share a device name")
	}
}
