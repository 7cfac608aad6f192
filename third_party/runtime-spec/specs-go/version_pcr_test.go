package specs

import (
	"fmt"
	"testing"
)

// TestVersionMatchesConstants guards pcr's patch in version.go: the literal
// Version must equal what upstream's fmt.Sprintf of the constants gives.
func TestVersionMatchesConstants(t *testing.T) {
	want := fmt.Sprintf("%d.%d.%d%s", VersionMajor, VersionMinor, VersionPatch, VersionDev)
	if Version != want {
		t.Fatalf("specs.Version = %q, want %q (update the literal in version.go)", Version, want)
	}
}
