package vserver

import (
	"fmt"
	"runtime"
	"time"

	"golang.org/x/sys/unix"

	"pcr/engine"
	"pcr/rspec"
)

// The rspec, its units and slice names live in package rspec, shared with
// the slice authority; these names keep the node side's vocabulary.
type (
	Rspec = rspec.Rspec
	Bytes = rspec.Bytes
	Rate  = rspec.Rate
)

// ParseRate reads "10mbit" or a plain number of bytes per second.
func ParseRate(s string) (Rate, error) { return rspec.ParseRate(s) }

// ValidateSlice says why name is not a slice name, or nil.
func ValidateSlice(name string) error { return rspec.ValidateSlice(name) }

// Site is the slice's site, the part before the first underscore.
func Site(slice string) string { return rspec.SiteOf(slice) }

// ParseExpiry reads --expires: a duration from now or a time.
func ParseExpiry(s string, now time.Time) (time.Time, error) { return rspec.ParseExpiry(s, now) }

// validateOnNode is Rspec.Validate and what this node has: its cores,
// its memory and its hard limit of open files.
func validateOnNode(r Rspec) error {
	if err := r.Validate(); err != nil {
		return err
	}
	var lim unix.Rlimit
	nofileMax := uint64(0)
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err == nil {
		nofileMax = lim.Max
	}
	return r.FitsNode(float64(runtime.NumCPU()), hostMemory(), nofileMax)
}

func hostMemory() uint64 {
	var si unix.Sysinfo_t
	if err := unix.Sysinfo(&si); err != nil {
		return 0
	}
	return uint64(si.Totalram) * uint64(si.Unit)
}

// engineOptions maps the rspec onto the engine's container limits.
func engineOptions(r Rspec, o *engine.Options) {
	o.CPUShares = r.CPUShare
	o.NanoCPUs = int64(r.CPUCores * 1e9)
	o.Memory = int64(r.Memory)
	if r.Memory > 0 {
		// No swap beyond the limit: an rspec's memory is a hard cap, and
		// past it the OOM killer acts inside the vserver.
		o.MemorySwap = int64(r.Memory)
	}
	o.StorageSize = int64(r.Disk)
	o.PidsLimit = r.Pids
	o.NetRate = int64(r.NetRate)
	o.Ulimits = nil
	if r.Nofile > 0 {
		o.Ulimits = []string{fmt.Sprintf("nofile=%d:%d", r.Nofile, r.Nofile)}
	}
}
