package engine

import (
	"maps"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestSetNetworksPodmanForm(t *testing.T) {
	var o Options
	if err := o.SetNetworks([]string{"pcr", "myoverlay:ip=10.96.0.2", "front"}); err != nil {
		t.Fatal(err)
	}
	if o.Network != "pcr" || !slices.Equal(o.Networks, []string{"myoverlay", "front"}) ||
		!maps.Equal(o.NetworkIPs, map[string]string{"myoverlay": "10.96.0.2"}) || o.IP != "" {
		t.Errorf("options = network %q networks %v ips %v ip %q", o.Network, o.Networks, o.NetworkIPs, o.IP)
	}
	if err := o.validateNetwork(); err != nil {
		t.Errorf("validate: %v", err)
	}

	// The first network's address is --ip's.
	o = Options{}
	if err := o.SetNetworks([]string{"front:ip=10.89.3.7"}); err != nil || o.Network != "front" || o.IP != "10.89.3.7" || len(o.NetworkIPs) != 0 {
		t.Errorf("first network with ip: %+v, %v", o, err)
	}
	o = Options{IP: "10.89.3.7"}
	if err := o.SetNetworks([]string{"front:ip=10.89.3.7"}); err != nil {
		t.Errorf("the same address twice: %v", err)
	}
	// container: keeps its colon; no flag leaves the default to create.
	o = Options{}
	if err := o.SetNetworks([]string{"container:web"}); err != nil || o.Network != "container:web" {
		t.Errorf("container mode: %+v, %v", o, err)
	}
	o = Options{}
	if err := o.SetNetworks(nil); err != nil || o.Network != "" {
		t.Errorf("no --network: %+v, %v", o, err)
	}

	for _, c := range []struct {
		opts  Options
		flags []string
		want  string
	}{
		{Options{}, []string{"ov:ip=nope"}, `ip="nope" is not an IP address`},
		{Options{}, []string{"pcr", "ov:mac=02:42:00:00:00:01"}, `unknown option "mac=02:42:00:00:00:01"`},
		{Options{}, []string{"pcr", "ov:ip=10.96.0.2,ip=10.96.0.3"}, "more than one address"},
		{Options{}, []string{"none", "ov:ip=10.96.0.2"}, "only pcr networks can be joined together"},
		{Options{}, []string{"pcr", "host"}, "only pcr networks can be joined together"},
		{Options{}, []string{"pcr", "front", "front:ip=10.89.0.9"}, "network front given twice"},
		{Options{}, []string{"bridge", "pcr"}, "network pcr given twice"},
		{Options{IP: "10.89.3.8"}, []string{"front:ip=10.89.3.7"}, "conflicting options: --ip 10.89.3.8"},
	} {
		o := c.opts
		err := o.SetNetworks(c.flags)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("SetNetworks(%q): err = %v, want %q", c.flags, err, c.want)
		}
	}
}

func TestValidateNetworkIPs(t *testing.T) {
	for _, c := range []struct {
		o    Options
		want string
	}{
		{Options{Network: "pcr", Networks: []string{"ov"}, NetworkIPs: map[string]string{"ov": "x"}}, "not an IP address"},
		{Options{Network: "pcr", Networks: []string{"ov"}, NetworkIPs: map[string]string{"other": "10.96.0.2"}}, "user-defined networks joined only"},
		{Options{Network: "front", Networks: []string{"pcr"}, NetworkIPs: map[string]string{"pcr": "10.213.0.9"}}, "user-defined networks joined only"},
	} {
		if err := c.o.validateNetwork(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: err = %v, want %q", c.o, err, c.want)
		}
	}
}

func TestParseOverlayOpts(t *testing.T) {
	o, err := ParseOverlayOpts("slice", "10.96.42.0/24", []string{"vni=4242", "local=10.201.0.1", "peers=10.201.0.2, 10.201.0.3"})
	if err != nil {
		t.Fatal(err)
	}
	if o.Name != "slice" || o.VNI != 4242 || o.Subnet != netip.MustParsePrefix("10.96.42.0/24") || o.Local != netip.MustParseAddr("10.201.0.1") ||
		!slices.Equal(o.Peers, []netip.Addr{netip.MustParseAddr("10.201.0.2"), netip.MustParseAddr("10.201.0.3")}) {
		t.Errorf("options = %+v", o)
	}
	for _, c := range []struct {
		subnet string
		opts   []string
		want   string
	}{
		{"", []string{"vni=1", "local=10.201.0.1"}, "needs --subnet"},
		{"10.96.42.0", []string{"vni=1", "local=10.201.0.1"}, "invalid --subnet"},
		{"10.96.42.0/24", []string{"local=10.201.0.1"}, "needs --opt vni=N"},
		{"10.96.42.0/24", []string{"vni=1"}, "needs --opt local=IP"},
		{"10.96.42.0/24", []string{"vni=0", "local=10.201.0.1"}, "want a VXLAN id 1..16777215"},
		{"10.96.42.0/24", []string{"vni=16777216", "local=10.201.0.1"}, "want a VXLAN id"},
		{"10.96.42.0/24", []string{"vni=1", "local=nope"}, "local=nope: not an IP address"},
		{"10.96.42.0/24", []string{"vni=1", "local=10.201.0.1", "peers=10.201.0.2,x"}, `"x" is not an IP address`},
		{"10.96.42.0/24", []string{"vni=1", "local=10.201.0.1", "mtu=1400"}, "an overlay knows vni, local and peers"},
		{"10.96.42.0/24", []string{"vni"}, "want KEY=VALUE"},
	} {
		if _, err := ParseOverlayOpts("x", c.subnet, c.opts); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseOverlayOpts(%q, %q): err = %v, want %q", c.subnet, c.opts, err, c.want)
		}
	}
}
