package firewall

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func TestParsePublish(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	v6 := netip.MustParseAddr("::1")
	tcp := func(ip netip.Addr, h, c uint16) PortMapping {
		return PortMapping{HostIP: ip, HostPort: h, ContainerPort: c, Proto: "tcp"}
	}
	var any netip.Addr
	good := map[string][]PortMapping{
		"80":                            {tcp(any, 0, 80)},
		"80/udp":                        {{HostPort: 0, ContainerPort: 80, Proto: "udp"}},
		"80/TCP":                        {tcp(any, 0, 80)},
		"8080:80":                       {tcp(any, 8080, 80)},
		"0:80":                          {tcp(any, 0, 80)},
		"127.0.0.1:8080:80":             {tcp(lo, 8080, 80)},
		"127.0.0.1::80":                 {tcp(lo, 0, 80)},
		"0.0.0.0:8080:80/udp":           {{HostPort: 8080, ContainerPort: 80, Proto: "udp"}},
		"[::1]:8080:80":                 {tcp(v6, 8080, 80)},
		"::1:8080:80":                   {tcp(v6, 8080, 80)},
		"[::]:8080:80":                  {tcp(any, 8080, 80)},
		"8000-8001:80-81":               {tcp(any, 8000, 80), tcp(any, 8001, 81)},
		"127.0.0.1:8000-8001:80-81/tcp": {tcp(lo, 8000, 80), tcp(lo, 8001, 81)},
		"80-82":                         {tcp(any, 0, 80), tcp(any, 0, 81), tcp(any, 0, 82)},
		"127.0.0.1::80-81":              {tcp(lo, 0, 80), tcp(lo, 0, 81)},
		"65535:65535":                   {tcp(any, 65535, 65535)},
	}
	for in, want := range good {
		got, err := ParsePublish(in)
		if err != nil {
			t.Errorf("ParsePublish(%q): %v", in, err)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("ParsePublish(%q) = %v, want %v", in, got, want)
		}
	}

	bad := map[string]string{
		"":                  "empty",
		"abc":               `container port "abc" is not a number`,
		"0":                 `container port "0"`,
		"65536":             `container port "65536"`,
		"8080:":             "missing container port",
		":80":               "empty host port",
		"8080:80/sctp":      `protocol "sctp" is not tcp or udp`,
		"8080:80/":          `protocol "" is not tcp or udp`,
		"foo:8080:80":       `host address "foo" is not an IP address`,
		"fe80::1%eth0:1:80": "is not an IP address",
		":8080:80":          "empty host address",
		"8000-8001:80":      "differ in length",
		"8000:80-81":        "differ in length",
		"81-80":             "ends before it starts",
		"8000-:80-81":       `host port "" is not a number`,
		"[::1:8080:80":      "bracketed host address",
		"[::1]:80":          "want [IP]:HOSTPORT:CTRPORT",
		"1.2.3.4:x:80":      `host port "x"`,
	}
	for in, want := range bad {
		got, err := ParsePublish(in)
		if err == nil {
			t.Errorf("ParsePublish(%q) = %v, want error containing %q", in, got, want)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, want) || strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "invalid -p ") {
			t.Errorf("ParsePublish(%q) error %q, want one line containing %q", in, msg, want)
		}
	}
}

func TestPortMappingString(t *testing.T) {
	for _, c := range []struct {
		p    PortMapping
		want string
	}{
		{PortMapping{HostPort: 8080, ContainerPort: 80, Proto: "tcp"}, "80/tcp -> 0.0.0.0:8080"},
		{PortMapping{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: 53, ContainerPort: 5353, Proto: "udp"}, "5353/udp -> 127.0.0.1:53"},
		{PortMapping{HostIP: netip.MustParseAddr("::1"), HostPort: 8080, ContainerPort: 80, Proto: "tcp"}, "80/tcp -> [::1]:8080"},
	} {
		if got := c.p.String(); got != c.want {
			t.Errorf("%#v.String() = %q, want %q", c.p, got, c.want)
		}
	}
}

func TestConflicts(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	other := netip.MustParseAddr("10.1.2.3")
	all := PortMapping{HostPort: 8080, ContainerPort: 80, Proto: "tcp"}
	local := PortMapping{HostIP: lo, HostPort: 8080, ContainerPort: 81, Proto: "tcp"}
	for _, c := range []struct {
		a, b PortMapping
		want bool
	}{
		{all, all, true},
		{all, local, true}, // all addresses include 127.0.0.1
		{local, PortMapping{HostIP: other, HostPort: 8080, ContainerPort: 80, Proto: "tcp"}, false},
		{all, PortMapping{HostPort: 8080, ContainerPort: 80, Proto: "udp"}, false},
		{all, PortMapping{HostPort: 8081, ContainerPort: 80, Proto: "tcp"}, false},
	} {
		if got := c.a.conflicts(c.b); got != c.want {
			t.Errorf("%v conflicts %v = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}

func TestPublishCommentRoundTrip(t *testing.T) {
	for _, p := range []PortMapping{
		{HostPort: 8080, ContainerPort: 80, Proto: "tcp"},
		{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: 1, ContainerPort: 65535, Proto: "udp"},
		{HostIP: netip.MustParseAddr("fd00::1"), HostPort: 443, ContainerPort: 8443, Proto: "tcp"},
	} {
		f := commentFields(publishComment("abc123", p))
		got, err := parsePublishComment(f["pub"])
		if err != nil || got != p || f["ctr"] != "abc123" {
			t.Errorf("round trip of %v: got %v, %v (ctr %q)", p, got, err, f["ctr"])
		}
	}
	for _, bad := range []string{"", "*,1,2", "*,x,2,tcp", "*,1,2,sctp", "nope,1,2,tcp"} {
		if _, err := parsePublishComment(bad); err == nil {
			t.Errorf("parsePublishComment(%q) accepted", bad)
		}
	}
}
