//go:build amd64 || arm64

package sigrelay

// In assembly, never called from Go: only their addresses are used.
func relayHandler()
func relayRestorer()
