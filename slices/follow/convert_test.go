package follow

import (
	"strings"
	"testing"

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
