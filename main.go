// pcr: a container runtime and engine. Called as pcr-oci it is the
// runc-compatible runtime alone, as bin/pcr-oci is.
package main

import (
	"os"
	"path/filepath"

	"pcr/cli"
	"pcr/cli/ocicli"
	"pcr/runtime"
)

// Set by the Makefile.
var (
	version = "dev"
	commit  = ""
)

func main() {
	// The re-exec'd container init must act before anything else parses argv.
	if runtime.IsInit() {
		runtime.Init()
	}
	v := version
	if commit != "" {
		v += "\ncommit: " + commit
	}
	// Installs from before bin/pcr-oci was its own binary link pcr-oci to pcr.
	if filepath.Base(os.Args[0]) == "pcr-oci" {
		os.Exit(ocicli.New("pcr-oci", v).Main(os.Args[1:], 1))
	}
	// Docker's convention: 125 when pcr itself fails; runc's: 1.
	failure := 125
	if cli.IsOCIInvocation(os.Args[1:]) {
		failure = 1
	}
	os.Exit(cli.Run(cli.NewApp(v), os.Args, failure))
}
