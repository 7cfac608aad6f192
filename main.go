// pcr: a container runtime and engine. Called as pcr-oci it is the
// runc-compatible runtime alone.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"pcr/cli"
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
	app := cli.NewApp(v)
	// Docker's convention: 125 when pcr itself fails; runc's: 1.
	failure := 125
	if filepath.Base(os.Args[0]) == "pcr-oci" {
		app = cli.NewOCIApp(v)
		failure = 1
	} else if cli.IsOCIInvocation(os.Args[1:]) {
		failure = 1
	}
	app.Metadata = map[string]any{}
	err := app.Run(os.Args)
	if code, ok := cli.ExitCode(err); ok {
		os.Exit(code)
	}
	if err != nil {
		cli.LogError(app, err)
		fmt.Fprintf(os.Stderr, "pcr: %v\n", err)
		os.Exit(failure)
	}
}
