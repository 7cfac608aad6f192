package engine

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pcr/netns/firewall"
)

func TestParseNetMode(t *testing.T) {
	for in, want := range map[string]netMode{
		"none":          {kind: NetNone},
		"host":          {kind: NetHost},
		"bridge":        {kind: NetBridge, network: DefaultNetwork},
		"pcr":           {kind: NetBridge, network: DefaultNetwork},
		"front":         {kind: NetBridge, network: "front"},
		"container:web": {kind: "container", container: "web"},
		"":              mustNetMode(t, DefaultNetMode),
	} {
		got, err := parseNetMode(in)
		if err != nil || got != want {
			t.Errorf("parseNetMode(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"container:", "a b", "../x", "-x"} {
		if _, err := parseNetMode(bad); err == nil {
			t.Errorf("parseNetMode(%q): no error", bad)
		}
	}
}

func mustNetMode(t *testing.T, s string) netMode {
	m, err := parseNetMode(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestValidateNetworkOptions(t *testing.T) {
	bad := []Options{
		{Network: "none", Publish: []string{"80"}},
		{Network: "host", PublishAll: true},
		{Network: "bridge", Publish: []string{"80:80:80:80"}},
		{Network: "bridge", Publish: []string{"abc"}},
		{Network: "bridge", IP: "10.0.0.2"}, // --ip needs a user network
		{Network: "front", IP: "not-an-ip"},
		{Network: "bridge", NetworkAliases: []string{"a"}},
		{Network: "bridge", DNS: []string{"x"}},
		{Network: "bridge", AddHost: []string{"nocolon"}},
		{Network: "bridge", AddHost: []string{"h:1.2.3"}},
		{Network: "host", DNS: []string{"1.1.1.1"}},
	}
	for _, o := range bad {
		if err := o.validateNetwork(); err == nil {
			t.Errorf("%+v: no error", o)
		} else if strings.Contains(err.Error(), "\n") {
			t.Errorf("%+v: error spans lines: %q", o, err)
		}
	}
	good := []Options{
		{Network: "bridge", Publish: []string{"8080:80", "127.0.0.1::81/udp", "90"}, PublishAll: true},
		{Network: "front", IP: "10.89.3.7", NetworkAliases: []string{"db"}, DNS: []string{"10.0.0.1"}, AddHost: []string{"h:10.1.1.1", "v6:::1"}},
		{Network: "none", AddHost: []string{"h:10.1.1.1"}},
	}
	for _, o := range good {
		if err := o.validateNetwork(); err != nil {
			t.Errorf("%+v: %v", o, err)
		}
	}
}

func TestPublishSpecs(t *testing.T) {
	o := &Options{Publish: []string{"8080:80"}, PublishAll: true, Expose: []string{"80/tcp", "53/udp", "443"}}
	got, err := publishSpecs(o)
	if err != nil {
		t.Fatal(err)
	}
	want := []firewall.PortMapping{
		{HostPort: 8080, ContainerPort: 80, Proto: "tcp"},
		{ContainerPort: 53, Proto: "udp"},
		{ContainerPort: 443, Proto: "tcp"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("mapping %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestHostsAddHostsReplaced(t *testing.T) {
	base := "127.0.0.1\tlocalhost\n"
	first := withAddHosts(base, []string{"a:10.0.0.1"})
	second := withAddHosts(baseHosts(string(first)), []string{"b:10.0.0.2"})
	if strings.Contains(string(second), "10.0.0.1") || !strings.Contains(string(second), "10.0.0.2\tb\n") || !strings.HasPrefix(string(second), base) {
		t.Errorf("second start's hosts = %q", second)
	}
}

func TestResolvConfWith(t *testing.T) {
	got := string(resolvConfWith([]byte("nameserver 10.0.0.53\nsearch corp\noptions ndots:2\n"), []string{"10.9.9.9"}, nil))
	if strings.Contains(got, "10.0.0.53") || !strings.Contains(got, "nameserver 10.9.9.9") || !strings.Contains(got, "search corp") || !strings.Contains(got, "options ndots:2") {
		t.Errorf("resolv.conf = %q", got)
	}
}

// The hosts file of a running container is a bind mount: an update must
// keep its inode.
func TestWriteInPlaceKeepsInode(t *testing.T) {
	p := filepath.Join(t.TempDir(), "hosts")
	if err := os.WriteFile(p, []byte("old content that is longer\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	before, _ := os.Stat(p)
	if err := writeInPlace(p, []byte("new\n")); err != nil {
		t.Fatal(err)
	}
	after, _ := os.Stat(p)
	data, _ := os.ReadFile(p)
	if !os.SameFile(before, after) || string(data) != "new\n" {
		t.Errorf("inode kept %v, content %q", os.SameFile(before, after), data)
	}
}
