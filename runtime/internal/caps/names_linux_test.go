package caps

import (
	"errors"
	"strings"
	"testing"
)

func TestNameTableIsTheKernels(t *testing.T) {
	if Known != 41 {
		t.Fatalf("Known = %d, want 41 (CAP_CHOWN .. CAP_CHECKPOINT_RESTORE)", Known)
	}
	spot := map[int]string{
		0: "CAP_CHOWN", 5: "CAP_KILL", 8: "CAP_SETPCAP", 21: "CAP_SYS_ADMIN",
		29: "CAP_AUDIT_WRITE", 31: "CAP_SETFCAP", 32: "CAP_MAC_OVERRIDE",
		37: "CAP_AUDIT_READ", 39: "CAP_BPF", 40: "CAP_CHECKPOINT_RESTORE",
	}
	for c, want := range spot {
		if got := Name(c); got != want {
			t.Errorf("Name(%d) = %q, want %q", c, got, want)
		}
	}
	seen := map[string]int{}
	for c := 0; c < Known; c++ {
		n := Name(c)
		if !strings.HasPrefix(n, "CAP_") || n != strings.ToUpper(n) {
			t.Errorf("Name(%d) = %q, want an upper-case CAP_ name", c, n)
		}
		if prev, dup := seen[n]; dup {
			t.Errorf("%s is both %d and %d", n, prev, c)
		}
		seen[n] = c
	}
	for _, c := range []int{-1, Known, 63, 64} {
		if n := Name(c); n != "" {
			t.Errorf("Name(%d) = %q, want none", c, n)
		}
	}
}

func TestLookup(t *testing.T) {
	for c := 0; c < Known; c++ {
		for _, n := range []string{Name(c), strings.ToLower(Name(c))} {
			if got, ok := Lookup(n); !ok || got != c {
				t.Errorf("Lookup(%q) = %d, %v, want %d", n, got, ok, c)
			}
		}
	}
	if got, ok := Lookup("Cap_Net_Bind_Service"); !ok || got != 10 {
		t.Errorf("mixed case: %d, %v", got, ok)
	}
	for _, n := range []string{"", "CHOWN", "chown", "CAP_", "CAP_CHOWN ", "CAP_FROM_THE_FUTURE"} {
		if got, ok := Lookup(n); ok {
			t.Errorf("Lookup(%q) = %d, want unknown", n, got)
		}
	}
}

func TestMask(t *testing.T) {
	var unknown []string
	collect := func(n string) error { unknown = append(unknown, n); return nil }

	m, err := Mask([]string{"CAP_CHOWN", "cap_kill", "CAP_FROM_THE_FUTURE", "CAP_CHECKPOINT_RESTORE", "CAP_KILL"}, 40, collect)
	if err != nil || m != 1|1<<5|1<<40 {
		t.Errorf("Mask = %#x, %v", m, err)
	}
	if strings.Join(unknown, ",") != "CAP_FROM_THE_FUTURE" {
		t.Errorf("unknown %q", unknown)
	}

	// A capability this package knows but the running kernel does not (an
	// older kernel: last 39) counts as unknown.
	unknown = nil
	m, _ = Mask([]string{"CAP_BPF", "CAP_CHECKPOINT_RESTORE"}, 39, collect)
	if m != 1<<39 || strings.Join(unknown, ",") != "CAP_CHECKPOINT_RESTORE" {
		t.Errorf("last 39: %#x, unknown %q", m, unknown)
	}

	if m, err := Mask(nil, 40, collect); m != 0 || err != nil {
		t.Errorf("empty: %#x, %v", m, err)
	}

	refuse := errors.New("refused")
	if _, err := Mask([]string{"CAP_CHOWN", "CAP_NOPE", "CAP_KILL"}, 40, func(string) error { return refuse }); err != refuse {
		t.Errorf("refusing unknown: %v", err)
	}
}
