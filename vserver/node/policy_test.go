package node

import (
	"strings"
	"testing"

	"pcr/vserver"
)

// testNode is a 4-core, 2 GiB node: small enough that reserve arithmetic
// reads plainly in the tests.
var testNode = NodeResources{CPUs: 4, Memory: 2 << 30}

func mustPolicy(t *testing.T, js string) *Policy {
	t.Helper()
	p, err := ParsePolicy([]byte(js), testNode)
	if err != nil {
		t.Fatalf("ParsePolicy(%s): %v", js, err)
	}
	return p
}

func running(slice string, mem vserver.Bytes) *vserver.VServer {
	return &vserver.VServer{Spec: vserver.Spec{Slice: slice, Image: "busybox"}, Applied: vserver.Rspec{Memory: mem},
		ContainerID: "c-" + slice, State: vserver.StateRunning, Origin: FileSourceName}
}

func TestPolicyAdmit(t *testing.T) {
	const G, M = 1 << 30, 1 << 20
	tests := []struct {
		name    string
		policy  string
		slice   string
		rspec   vserver.Rspec
		others  []*vserver.VServer
		refused string
		applied vserver.Rspec
		reason  string
	}{
		{name: "empty policy admits as asked", policy: `{}`, slice: "pl_a",
			rspec: vserver.Rspec{Memory: 64 * M}, applied: vserver.Rspec{Memory: 64 * M}},
		{name: "denied site", policy: `{"deny_sites":["spam"]}`, slice: "spam_x",
			refused: "site spam is refused by the node's policy"},
		{name: "denied site lets others in", policy: `{"deny_sites":["spam"]}`, slice: "pl_x"},
		{name: "denied slice", policy: `{"deny_slices":["pl_bad"]}`, slice: "pl_bad",
			refused: "slice pl_bad is refused by the node's policy"},
		{name: "deny beats allow", policy: `{"allow_sites":["pl"],"deny_slices":["pl_bad"]}`, slice: "pl_bad",
			refused: "slice pl_bad is refused by the node's policy"},
		{name: "not in allowed slices", policy: `{"allow_slices":["pl_a"]}`, slice: "pl_x",
			refused: "slice pl_x is not in the node's allowed slices"},
		{name: "in allowed slices", policy: `{"allow_slices":["pl_a"]}`, slice: "pl_a"},
		{name: "not in allowed sites", policy: `{"allow_sites":["princeton"]}`, slice: "pl_x",
			refused: "site pl is not in the node's allowed sites"},
		{name: "in allowed sites", policy: `{"allow_sites":["princeton"]}`, slice: "princeton_codeen"},
		{name: "allowed by slice though not by site", policy: `{"allow_sites":["princeton"],"allow_slices":["pl_a"]}`, slice: "pl_a"},
		{name: "neither allowed", policy: `{"allow_sites":["princeton"],"allow_slices":["pl_a"]}`, slice: "pl_b",
			refused: "slice pl_b is not in the node's allowed slices or sites"},
		{name: "max vservers reached", policy: `{"max_vservers":2}`, slice: "pl_c",
			others:  []*vserver.VServer{running("pl_a", 0), running("pl_b", 0)},
			refused: "the node's limit of 2 vservers is reached"},
		{name: "max vservers not reached", policy: `{"max_vservers":2}`, slice: "pl_c",
			others: []*vserver.VServer{running("pl_a", 0)}},
		{name: "caps lower and fill unlimited", policy: `{"caps":{"memory":"1G","pids":512}}`, slice: "pl_a",
			rspec:   vserver.Rspec{Memory: 2 * G},
			applied: vserver.Rspec{Memory: 1 * G, Pids: 512},
			reason:  "memory capped from 2G to 1G; pids capped from unlimited to 512 by the node's policy"},
		{name: "caps leave lower requests alone", policy: `{"caps":{"memory":"1G","pids":512,"cpu_cores":2}}`, slice: "pl_a",
			rspec:   vserver.Rspec{Memory: 64 * M, Pids: 64, CPUCores: 0.5},
			applied: vserver.Rspec{Memory: 64 * M, Pids: 64, CPUCores: 0.5}},
		{name: "every field capped", policy: `{"caps":{"cpu_share":512,"cpu_cores":1,"memory":"256M","disk":"1G","pids":100,"net_rate":"10mbit","nofile":1024}}`,
			slice:   "pl_a",
			rspec:   vserver.Rspec{CPUShare: 4096, CPUCores: 3, Memory: 1 * G, Disk: 4 * G, Pids: 1000, NetRate: 125000000, Nofile: 4096},
			applied: vserver.Rspec{CPUShare: 512, CPUCores: 1, Memory: 256 * M, Disk: 1 * G, Pids: 100, NetRate: 1250000, Nofile: 1024},
			reason: "cpu_share capped from 4096 to 512; cpu_cores capped from 3 to 1; memory capped from 1G to 256M; disk capped from 4G to 1G; " +
				"pids capped from 1000 to 100; net_rate capped from 1gbit to 10mbit; nofile capped from 4096 to 1024 by the node's policy"},
		{name: "default cpu share capped", policy: `{"caps":{"cpu_share":512}}`, slice: "pl_a",
			applied: vserver.Rspec{CPUShare: 512}, reason: "cpu_share capped from the default 1024 to 512 by the node's policy"},
		{name: "cpu share cap above the default leaves it", policy: `{"caps":{"cpu_share":2048}}`, slice: "pl_a"},
		{name: "memory beyond the reserve refused", policy: `{"reserve":{"memory":"512M"}}`, slice: "pl_a",
			rspec:   vserver.Rspec{Memory: 2 * G},
			refused: "memory 2G requested but the node has 1.5G left for vservers (512M reserved for the node)"},
		{name: "memory committed to others counts", policy: `{"reserve":{"memory":"512M"}}`, slice: "pl_c",
			rspec:   vserver.Rspec{Memory: 1 * G},
			others:  []*vserver.VServer{running("pl_a", 256*M), running("pl_b", 512*M)},
			refused: "memory 1G requested but the node has 768M left for vservers (512M reserved for the node)"},
		{name: "memory within the reserve", policy: `{"reserve":{"memory":"512M"}}`, slice: "pl_c",
			rspec:   vserver.Rspec{Memory: 512 * M},
			others:  []*vserver.VServer{running("pl_a", 256*M)},
			applied: vserver.Rspec{Memory: 512 * M}},
		{name: "capped memory is what the reserve judges", policy: `{"caps":{"memory":"1G"},"reserve":{"memory":"512M"}}`, slice: "pl_a",
			rspec:   vserver.Rspec{Memory: 2 * G},
			applied: vserver.Rspec{Memory: 1 * G}, reason: "memory capped from 2G to 1G by the node's policy"},
		{name: "unlimited memory passes the reserve (the cgroup holds it)", policy: `{"reserve":{"memory":"512M"}}`, slice: "pl_a"},
		{name: "cores beyond the reserve capped", policy: `{"reserve":{"cpu_cores":0.5}}`, slice: "pl_a",
			rspec:   vserver.Rspec{CPUCores: 4},
			applied: vserver.Rspec{CPUCores: 3.5}, reason: "cpu_cores capped from 4 to 3.5 (0.5 reserved for the node)"},
		{name: "policy cap then reserve", policy: `{"caps":{"pids":10},"reserve":{"cpu_cores":1}}`, slice: "pl_a",
			rspec:   vserver.Rspec{CPUCores: 4, Pids: 100},
			applied: vserver.Rspec{CPUCores: 3, Pids: 10},
			reason:  "pids capped from 100 to 10 by the node's policy; cpu_cores capped from 4 to 3 (1 reserved for the node)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustPolicy(t, tt.policy)
			spec := vserver.Spec{Slice: tt.slice, Image: "busybox", Rspec: tt.rspec}
			applied, reason, err := p.Admit(spec, tt.others)
			if tt.refused != "" {
				if err == nil || !IsRefusal(err) || err.Error() != tt.refused {
					t.Fatalf("Admit: err %v, want refusal %q", err, tt.refused)
				}
				return
			}
			if err != nil {
				t.Fatalf("Admit: %v", err)
			}
			want := tt.applied
			if want == (vserver.Rspec{}) && tt.reason == "" {
				want = tt.rspec
			}
			if applied != want {
				t.Errorf("applied %+v, want %+v", applied, want)
			}
			if reason != tt.reason {
				t.Errorf("reason %q, want %q", reason, tt.reason)
			}
		})
	}
}

func TestNilPolicyAdmitsAll(t *testing.T) {
	var p *Policy
	r := vserver.Rspec{Memory: 64 << 20}
	applied, reason, err := p.Admit(vserver.Spec{Slice: "pl_a", Rspec: r}, nil)
	if err != nil || reason != "" || applied != r {
		t.Fatalf("nil policy: %+v %q %v", applied, reason, err)
	}
}

func TestParsePolicyErrors(t *testing.T) {
	tests := []struct{ js, want string }{
		{`{"deny_site":["spam"]}`, `unknown field "deny_site"`},
		{`{"deny_sites":["Spam"]}`, `deny_sites: invalid site "Spam"`},
		{`{"allow_slices":["nounderscore"]}`, `allow_slices: invalid slice name "nounderscore"`},
		{`{"max_vservers":-1}`, "max_vservers -1 must not be negative"},
		{`{"caps":{"memory":"1k"}}`, "caps: memory 1K is below"},
		{`{"caps":{"memory":"lots"}}`, "line 1"},
		{`{"reserve":{"memory":"4G"}}`, "reserve: memory 4G leaves nothing of the node's 2G for vservers"},
		{`{"reserve":{"cpu_cores":4}}`, "reserve: cpu_cores 4 leaves nothing of the node's 4 cores"},
		{`{"reserve":{"cpu_cores":-1}}`, "reserve: cpu_cores -1 must not be negative"},
		{"{\n  \"max_vservers\": \"two\"\n}", "line 2"},
		{`{"max_vservers":1}{}`, "unexpected content after the top-level object"},
		{``, "empty file"},
	}
	for _, tt := range tests {
		_, err := ParsePolicy([]byte(tt.js), testNode)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParsePolicy(%q): err %v, want it to contain %q", tt.js, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("ParsePolicy(%q): error is not one line: %q", tt.js, err)
		}
	}
}

func TestPolicyReserveShares(t *testing.T) {
	p := mustPolicy(t, `{"reserve":{"cpu_cores":0.5,"memory":"512M"}}`)
	if got := p.VserverCPUs(); got != 3.5 {
		t.Errorf("VserverCPUs = %g, want 3.5", got)
	}
	if got := p.VserverMemory(); got != 1536<<20 {
		t.Errorf("VserverMemory = %d, want 1.5G", got)
	}
	none := mustPolicy(t, `{}`)
	if none.VserverCPUs() != 0 || none.VserverMemory() != 0 {
		t.Errorf("no reserve should mean no limit, got %g cores %d bytes", none.VserverCPUs(), none.VserverMemory())
	}
}

func TestSizeText(t *testing.T) {
	for n, want := range map[int64]string{512 << 20: "512M", 1536 << 20: "1.5G", 2 << 30: "2G", 768 << 20: "768M", 1000: "1000", 1 << 10: "1K"} {
		if got := sizeText(n); got != want {
			t.Errorf("sizeText(%d) = %q, want %q", n, got, want)
		}
	}
}
