package specs

const (
	// VersionMajor is for an API incompatible changes
	VersionMajor = 1
	// VersionMinor is for functionality in a backwards-compatible manner
	VersionMinor = 3
	// VersionPatch is for backwards-compatible bug fixes
	VersionPatch = 0

	// VersionDev indicates development branch. Releases will be empty string.
	VersionDev = ""
)

// pcr patch (see ../PCR-PATCH.md): upstream writes
//
//	var Version = fmt.Sprintf("%d.%d.%d%s", VersionMajor, VersionMinor, VersionPatch, VersionDev)
//
// That package-level initializer runs fmt at every process start and links
// fmt into every binary importing this package, even when Version is unused
// (pcr-oci pays ~170 KB resident on every container start for it). Version is
// therefore a literal here; it stays a string var so no caller breaks.
// version_pcr_test.go checks it against the constants above: update the
// literal whenever they change.

// Version is the specification version that the package types support.
var Version = "1.3.0"
