// Package specversion is test-only. It holds the check, run by pcr's own
// `go test ./...`, that the patched copy of
// github.com/opencontainers/runtime-spec in third_party/runtime-spec (wired
// in by a replace directive in go.mod) still reports the right specs.Version.
//
// pcr builds against that copy so that specs-go does not call fmt.Sprintf in
// a package-level initializer: that forced fmt into cmd/pcr-oci and ran it at
// every container start. The copy sets Version as a string literal instead,
// and the test here asserts that literal equals what upstream's
// fmt.Sprintf("%d.%d.%d%s", ...) of the version constants would give, so an
// upgrade that bumps the constants without the literal fails. A test inside
// the replaced module is not part of `go list ./...` of module pcr, hence
// this package. See third_party/runtime-spec/PCR-PATCH.md.
package specversion
