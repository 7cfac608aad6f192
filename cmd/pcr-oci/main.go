// pcr-oci is pcr's runc-compatible OCI runtime alone, under any name: what
// podman --runtime and the OCI validation suite run. It links only the
// runtime, not the engine, so each invocation starts as fast as a runtime
// binary can.
package main

import (
	"os"

	"pcr/cli/ocicli"
	"pcr/runtime"
)

// Set by the Makefile.
var (
	version = "dev"
	commit  = ""
)

func main() {
	// The fallback container init re-execs /proc/self/exe, this binary when
	// no pcr-init sits beside it; it must act before anything parses argv.
	if runtime.IsInit() {
		runtime.Init()
	}
	v := version
	if commit != "" {
		v += "\ncommit: " + commit
	}
	// runc's convention: 1 when the runtime itself fails.
	os.Exit(ocicli.New("pcr-oci", v).Main(os.Args[1:], 1))
}
