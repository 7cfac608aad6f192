package specversion

import (
	"fmt"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestSpecsVersionMatchesConstants checks the literal specs.Version of pcr's
// patched runtime-spec copy against the version constants, the way upstream
// computes it.
func TestSpecsVersionMatchesConstants(t *testing.T) {
	want := fmt.Sprintf("%d.%d.%d%s", specs.VersionMajor, specs.VersionMinor, specs.VersionPatch, specs.VersionDev)
	if specs.Version != want {
		t.Fatalf("specs.Version = %q, want %q: fix the literal in third_party/runtime-spec/specs-go/version.go", specs.Version, want)
	}
}
