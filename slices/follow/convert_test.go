package follow

import (
	"slices"
	"strings"
	"testing"
	"time"

	"pcr/rspec"
	"pcr/slices/api"
	"pcr/vserver"
	"pcr/vserver/node"
)

func TestDefaultRouteInterface(t *testing.T) {
	const header = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
	tests := []struct{ name, table, want string }{
		{"the default route's interface", header +
			"eth0\t00000000\t0102A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n" +
			"eth0\t0002A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n", "eth0"},
		{"the lowest metric wins", header +
			"wlan0\t00000000\t0102A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0\n" +
			"eth1\t00000000\t0101A8C0\t0003\t0\t0\t20\t00000000\t0\t0\t0\n", "eth1"},
		{"a route that is down is not used", header +
			"eth0\t00000000\t0102A8C0\t0002\t0\t0\t100\t00000000\t0\t0\t0\n", ""},
		{"no default route", header +
			"eth0\t0002A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := defaultRouteInterface(strings.NewReader(tt.table)); got != tt.want {
				t.Errorf("defaultRouteInterface = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPolicySummary(t *testing.T) {
	res := node.NodeResources{CPUs: 8, Memory: 16 << 30}
	tests := []struct{ policy, want string }{
		{"", "none"},
		{`{}`, "none"},
		{`{"allow_sites":["pl","mit"],"deny_slices":["pl_bad"]}`, "allow sites pl,mit; deny slices pl_bad"},
		{`{"max_vservers":10,"caps":{"cpu_cores":2,"memory":"512M","pids":200},"reserve":{"cpu_cores":1,"memory":"2G"}}`,
			"max 10 vservers; caps cpu_cores=2,memory=512M,pids=200; reserve cpu_cores=1,memory=2G"},
	}
	for _, tt := range tests {
		var pol *node.Policy
		if tt.policy != "" {
			var err error
			if pol, err = node.ParsePolicy([]byte(tt.policy), res); err != nil {
				t.Fatal(err)
			}
		}
		if got := policySummary(pol); got != tt.want {
			t.Errorf("policySummary(%s) = %q, want %q", tt.policy, got, tt.want)
		}
	}
}

func TestReasonOfAStoppedVserver(t *testing.T) {
	tests := []struct {
		name string
		v    vserver.VServer
		want string
	}{
		{"held by the admin", vserver.VServer{State: vserver.StateStopped, Held: true}, "stopped by the node's admin"},
		{"stopped as its slice asks", vserver.VServer{Spec: vserver.Spec{Stopped: true}, State: vserver.StateStopped}, ""},
		{"crashed", vserver.VServer{State: vserver.StateStopped, ExitCode: 137}, "its init exited (code 137); the node manager restarts it"},
		{"running with a capped rspec", vserver.VServer{State: vserver.StateRunning, Reason: "memory capped from 2G to 1G by the node's policy"},
			"memory capped from 2G to 1G by the node's policy"},
	}
	for _, tt := range tests {
		if got := reasonOf(&tt.v); got != tt.want {
			t.Errorf("%s: reasonOf = %q, want %q", tt.name, got, tt.want)
		}
	}
}

// A sliver's network is its vserver's place on the slice overlay, sourced
// at this node's underlay address; a sliver without one has none.
func TestSpecsOfOverlay(t *testing.T) {
	slivers := []api.Sliver{
		{Slice: "pl_a", Image: "busybox", Network: &api.SliverNetwork{VNI: 4300, Subnet: "10.96.100.0/24", Address: "10.96.100.2",
			Peers: []string{"10.202.0.2", "10.202.0.3"}}},
		{Slice: "pl_b", Image: "busybox"},
	}
	specs := specsOf(slivers, "10.202.0.1")
	if len(specs) != 2 {
		t.Fatalf("specsOf = %+v, want 2 specs", specs)
	}
	want := vserver.Overlay{VNI: 4300, Subnet: "10.96.100.0/24", Address: "10.96.100.2", Local: "10.202.0.1",
		Peers: []string{"10.202.0.2", "10.202.0.3"}}
	if o := specs[0].Overlay; o == nil || o.VNI != want.VNI || o.Subnet != want.Subnet || o.Address != want.Address ||
		o.Local != want.Local || !slices.Equal(o.Peers, want.Peers) {
		t.Errorf("pl_a overlay = %+v, want %+v", o, want)
	}
	if specs[1].Overlay != nil {
		t.Errorf("pl_b has no network but got overlay %+v", specs[1].Overlay)
	}
	// The spec keeps its own peers: the assignment it came from is kept
	// and compared with the next one.
	slivers[0].Network.Peers[0] = "10.202.0.9"
	if specs[0].Overlay.Peers[0] != "10.202.0.2" {
		t.Errorf("the spec shares its peers with the sliver: %v", specs[0].Overlay.Peers)
	}
}

// A node that knows no underlay address of its own gets an overlay spec
// without one, and the node manager fails that vserver with the reason.
func TestSpecsOfOverlayWithoutAnAddress(t *testing.T) {
	specs := specsOf([]api.Sliver{{Slice: "pl_a", Image: "busybox", Rspec: rspec.Rspec{Memory: 64 << 20},
		Network: &api.SliverNetwork{VNI: 4300, Subnet: "10.96.100.0/24", Address: "10.96.100.2"}}}, "")
	err := specs[0].Validate(time.Now())
	if err == nil || !strings.Contains(err.Error(), "start pcr node serve with --address") {
		t.Errorf("Validate = %v, want the missing underlay address said", err)
	}
}
