package netns

import (
	"strings"
	"testing"
)

func TestNetworkAndContainerNames(t *testing.T) {
	for _, ok := range []string{"a", "net-1", "A.b_c", strings.Repeat("n", 64)} {
		if err := validName(ok); err != nil {
			t.Errorf("network %q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "-a", ".a", "a b", "a/b", "a+b", strings.Repeat("n", 65), "bridge"} {
		if err := validName(bad); err == nil {
			t.Errorf("network %q accepted", bad)
		}
	}
	if err := validID(strings.Repeat("c", 128)); err != nil {
		t.Errorf("128-character container id refused: %v", err)
	}
	for _, bad := range []string{"", "_c", strings.Repeat("c", 129), "c:1"} {
		if err := validID(bad); err == nil {
			t.Errorf("container id %q accepted", bad)
		}
	}
}
