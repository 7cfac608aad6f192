package rspec

import (
	"strings"
	"testing"
)

// The bounds of PlanetLab's naming: a site of 2-20 characters, a name of
// 1-32 that may hold further underscores but not start with one.
func TestValidateSliceBounds(t *testing.T) {
	site20, name32 := "s"+strings.Repeat("1", 19), "n"+strings.Repeat("_", 31)
	for _, ok := range []string{site20 + "_a", "pl_" + name32, "p1_0", "pl_a_", "pl_9x"} {
		if err := ValidateSlice(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{site20 + "1_a", "pl_" + name32 + "x", "pl__a", "pl_A", "p-l_a", "pl_a\n", "pl_é"} {
		if err := ValidateSlice(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
