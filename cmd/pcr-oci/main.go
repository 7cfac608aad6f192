// The runtime's watch on the CPU limit (Go 1.25's GOMAXPROCS updates) is a
// goroutine, and so a thread, more for a process that lives milliseconds:
// with it off, pcr-oci run peaks 64 KiB lower and starts 5% sooner.
//go:debug updatemaxprocs=0

// Nor does pcr-oci ask its cgroup for a CPU limit at start-up (four files
// opened and read, the runtime's 68 KiB scratch buffer touched): it runs
// with one P whatever the limit (internal/oneproc).
//go:debug containermaxprocs=0

// pcr-oci is pcr's runc-compatible OCI runtime alone, under any name: what
// podman --runtime and the OCI validation suite run. It links only the
// runtime, not the engine, so each invocation starts as fast as a runtime
// binary can.
package main

import (
	"os"

	"pcr/cli/ocicli"
	_ "pcr/cmd/pcr-oci/internal/oneproc" // first: see its doc
	"pcr/runtime"
)

// Set by the Makefile.
var (
	version = "dev"
	commit  = ""
)

func main() {
	presizeStack()
	// pcr-oci holds no container init: it runs the pcr-init beside it for
	// every container (and says so when there is none), which keeps the
	// init's code, 86 KB of this binary, out of every start's resident
	// pages. Only a runtime that fell back to re-exec'ing itself anyway
	// gets here.
	if runtime.IsInit() {
		os.Stderr.WriteString("pcr-oci: this binary holds no container init: " + runtime.InitBinaryName + " does\n")
		os.Exit(1)
	}
	v := version
	if commit != "" {
		v += "\ncommit: " + commit
	}
	app := ocicli.New("pcr-oci", v)
	app.NoSelfInit = true
	// runc's convention: 1 when the runtime itself fails.
	os.Exit(app.Main(os.Args[1:], 1))
}

// presizeStack grows the main goroutine's stack to 32 KiB while it is
// two frames deep. Left to grow on demand, the stack is copied in the
// middle of create, and a copy reads the stack map and pc tables of every
// frame on it: pages spread over the binary's 1.2 MB pclntab, which this
// kernel maps 64 KiB at a time. Peak RSS of `run /bin/true`, median of
// 25: 4.50 -> 4.25 MiB.
//
//go:noinline
func presizeStack() {
	var frame [16 << 10]byte
	keep(frame[:])
}

//go:noinline
func keep(b []byte) { b[len(b)-1] = 1 }
