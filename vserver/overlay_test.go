package vserver

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"pcr/engine"
)

func overlaySpec(mods ...func(*Overlay)) Spec {
	o := &Overlay{VNI: 4300, Subnet: "10.96.100.0/24", Address: "10.96.100.2", Local: "10.202.0.1", Peers: []string{"10.202.0.2"}}
	for _, m := range mods {
		m(o)
	}
	return Spec{Slice: "pl_ov", Image: "busybox", Rspec: Rspec{Memory: 64 << 20}, Overlay: o}
}

// A vserver joins its slice's overlay the way `pcr run --network pcr
// --network slice-4300:ip=10.96.100.2` joins one, beside its usual network.
func TestContainerOptionsJoinTheSliceOverlay(t *testing.T) {
	tests := []struct {
		name    string
		network string
		flags   []string
	}{
		{"beside the default network", "", []string{"bridge", "slice-4300:ip=10.96.100.2"}},
		{"beside a network the admin named", "lab", []string{"lab", "slice-4300:ip=10.96.100.2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := overlaySpec()
			spec.Network = tt.network
			v := &VServer{Spec: spec, HostUID: 200000, IDSize: idRangeSize}
			got := containerOptions(spec, v, spec.Rspec, "")
			var want engine.Options
			if err := want.SetNetworks(tt.flags); err != nil {
				t.Fatal(err)
			}
			if got.Network != tt.network || !slices.Equal(got.Networks, want.Networks) || !maps.Equal(got.NetworkIPs, want.NetworkIPs) {
				t.Errorf("networks = %q + %q %v, want %q + %q %v", got.Network, got.Networks, got.NetworkIPs,
					tt.network, want.Networks, want.NetworkIPs)
			}
			if err := got.Validate(); err != nil {
				t.Errorf("the engine refuses the options: %v", err)
			}
		})
	}
	plain := overlaySpec()
	plain.Overlay = nil
	if o := containerOptions(plain, &VServer{Spec: plain}, plain.Rspec, ""); len(o.Networks) > 0 || len(o.NetworkIPs) > 0 {
		t.Errorf("a vserver without an overlay joins %q %v", o.Networks, o.NetworkIPs)
	}
}

func TestSpecValidateOverlay(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name string
		spec Spec
		want string // "" valid
	}{
		{"a full overlay", overlaySpec(), ""},
		{"no peers yet", overlaySpec(func(o *Overlay) { o.Peers = nil }), ""},
		{"no underlay address on this node", overlaySpec(func(o *Overlay) { o.Local = "" }),
			"vserver pl_ov: slice overlay needs this node's underlay address: start pcr node serve with --address"},
		{"VNI zero", overlaySpec(func(o *Overlay) { o.VNI = 0 }), "VNI 0 out of range 1..16777215"},
		{"VNI too large", overlaySpec(func(o *Overlay) { o.VNI = 1 << 24 }), "out of range"},
		{"subnet with host bits", overlaySpec(func(o *Overlay) { o.Subnet = "10.96.100.7/24" }), `invalid subnet "10.96.100.7/24"`},
		{"address outside the subnet", overlaySpec(func(o *Overlay) { o.Address = "10.96.101.2" }),
			"address 10.96.101.2 is not a host address of subnet 10.96.100.0/24"},
		{"the subnet's own address", overlaySpec(func(o *Overlay) { o.Address = "10.96.100.0" }), "not a host address"},
		{"an address that is no IP", overlaySpec(func(o *Overlay) { o.Address = "ten" }), `invalid address "ten"`},
		{"a bad underlay address", overlaySpec(func(o *Overlay) { o.Local = "node1" }), `invalid underlay address "node1"`},
		{"a bad peer", overlaySpec(func(o *Overlay) { o.Peers = []string{"10.202.0.2", "x"} }), `invalid peer "x"`},
		{"this node among its peers", overlaySpec(func(o *Overlay) { o.Peers = []string{"10.202.0.1"} }),
			"peer 10.202.0.1 is this node's own underlay address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.spec.Validate(now)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Validate = %v, want an error with %q", err, tt.want)
			case err != nil && strings.Contains(err.Error(), "\n"):
				t.Fatalf("Validate's error is not one line: %q", err)
			}
		})
	}
	for _, network := range []string{"none", "host", "container:web", "slice-4300"} {
		s := overlaySpec()
		s.Network = network
		if err := s.Validate(now); err == nil || !strings.Contains(err.Error(), "slice overlay") {
			t.Errorf("network %q with an overlay: Validate = %v, want a refusal", network, err)
		}
	}
}

// inspect prints the record: the overlay is in it under the names the
// slices file and the authority use.
func TestOverlayInTheRecord(t *testing.T) {
	data, err := json.Marshal(&VServer{Spec: overlaySpec()})
	if err != nil {
		t.Fatal(err)
	}
	want := `"overlay":{"vni":4300,"subnet":"10.96.100.0/24","address":"10.96.100.2","local":"10.202.0.1","peers":["10.202.0.2"]}`
	if !strings.Contains(string(data), want) {
		t.Errorf("record %s\nlacks %s", data, want)
	}
	var back VServer
	if err := json.Unmarshal(data, &back); err != nil || back.Overlay == nil || back.Overlay.Address != "10.96.100.2" {
		t.Errorf("record read back = %+v, %v", back.Overlay, err)
	}
	plain, _ := json.Marshal(&VServer{Spec: Spec{Slice: "pl_a"}})
	if strings.Contains(string(plain), "overlay") {
		t.Errorf("a vserver without an overlay records one: %s", plain)
	}
}
