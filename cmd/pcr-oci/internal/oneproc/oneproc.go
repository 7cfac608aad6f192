// Package oneproc gives pcr-oci one P (GOMAXPROCS=1) from its first package
// init on: an OCI runtime command does one thing at a time, and each P the
// Go scheduler runs keeps its own cache of heap spans, a page or more of
// each size class in use, so allocations spread over two Ps touch about
// twice the pages. Exact peak RSS of `pcr-oci run /bin/true`, mean of 15
// interleaved runs: 3481 -> 3414 KiB, start time unchanged (GOMAXPROCS=1
// in the environment, which acts before the runtime's own init, gives
// 3325).
//
// It must be imported by pcr-oci's main package and by nothing else; it
// imports only the runtime, so that it initialises before almost every
// other package. The one thing a runtime command does beside its work is
// proxy a terminal, and pcr/runtime raises GOMAXPROCS again for that.
package oneproc

import "runtime"

func init() { runtime.GOMAXPROCS(1) }
