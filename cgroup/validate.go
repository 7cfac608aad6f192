package cgroup

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"pcr/internal/fmtlite"
)

// The kernel accepts some nonsense silently (a 1-byte memory limit rounds
// to a page and OOM-kills the payload at its first allocation; cpu.shares
// are clamped), so these checks turn it into an error that names the file.

func checkMemory(dir string, m *specs.LinuxMemory, limitFile, swapFile, reservationFile string) error {
	if m.Limit != nil {
		if l := *m.Limit; l < -1 || (l > 0 && l < int64(os.Getpagesize())) {
			return invalid(filepath.Join(dir, limitFile), strconv.FormatInt(l, 10),
				"memory limit must be -1 (unlimited) or at least one page (%d bytes)", os.Getpagesize())
		}
	}
	if m.Reservation != nil && *m.Reservation < -1 {
		return invalid(filepath.Join(dir, reservationFile), strconv.FormatInt(*m.Reservation, 10), "memory reservation must be -1 or positive")
	}
	if m.Swap != nil && *m.Swap != 0 {
		s := *m.Swap
		if s < -1 {
			return invalid(filepath.Join(dir, swapFile), strconv.FormatInt(s, 10), "memory+swap limit must be -1 or positive")
		}
		if s > 0 && (m.Limit == nil || *m.Limit <= 0) {
			return invalid(filepath.Join(dir, swapFile), strconv.FormatInt(s, 10), "a memory+swap limit needs a memory limit too")
		}
		if s > 0 && s < *m.Limit {
			return invalid(filepath.Join(dir, swapFile), strconv.FormatInt(s, 10),
				"memory+swap limit is below the memory limit %d", *m.Limit)
		}
	}
	if m.Swappiness != nil && *m.Swappiness > 100 {
		return invalid(filepath.Join(dir, "memory.swappiness"), strconv.FormatUint(*m.Swappiness, 10), "must be 0..100")
	}
	return nil
}

func checkCPU(dir string, c *specs.LinuxCPU, sharesFile, quotaFile, periodFile string) error {
	if c.Shares != nil && *c.Shares != 0 && (*c.Shares < 2 || *c.Shares > 262144) {
		return invalid(filepath.Join(dir, sharesFile), strconv.FormatUint(*c.Shares, 10), "cpu shares must be 2..262144")
	}
	if c.Quota != nil && (*c.Quota < -1 || (*c.Quota > 0 && *c.Quota < 1000)) {
		return invalid(filepath.Join(dir, quotaFile), strconv.FormatInt(*c.Quota, 10), "cpu quota must be -1 (unlimited) or at least 1000 microseconds")
	}
	if c.Period != nil && *c.Period != 0 && (*c.Period < 1000 || *c.Period > 1000000) {
		return invalid(filepath.Join(dir, periodFile), strconv.FormatUint(*c.Period, 10), "cpu period must be 1000..1000000 microseconds")
	}
	return nil
}

// pidsMax renders a spec pids limit for pids.max: -1 is unlimited, and the
// kernel would take any other negative number as "max" too, hiding a typo.
func pidsMax(dir string, limit int64) (string, error) {
	switch {
	case limit == -1:
		return "max", nil
	case limit < 0:
		return "", invalid(filepath.Join(dir, "pids.max"), strconv.FormatInt(limit, 10), "pids limit must be -1 (unlimited) or positive")
	}
	return strconv.FormatInt(limit, 10), nil
}

// checkCPUList verifies a cpuset list's syntax and that every member is
// within what the parent offers, so "99-100" on a 2-CPU box names the
// problem instead of surfacing as EINVAL.
func checkCPUList(path, value, available string) error {
	want, err := parseList(value)
	if err != nil {
		return invalid(path, value, "%v", err)
	}
	if available == "" {
		return nil
	}
	have, err := parseList(available)
	if err != nil {
		return nil // let the kernel judge what we cannot parse
	}
	// Name the lowest missing member, so the message is the same every time.
	for _, n := range slices.Sorted(maps.Keys(want)) {
		if !have[n] {
			return invalid(path, value, "%d is not available (parent offers %q)", n, available)
		}
	}
	return nil
}

// parseList parses the kernel's list format "0-3,5,7-8".
func parseList(s string) (map[int]bool, error) {
	out := make(map[int]bool)
	s = strings.TrimSpace(s)
	if s == "" {
		return out, nil
	}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return nil, fmtlite.Errorf("bad list element %q", part)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil, fmtlite.Errorf("bad list range %q", part)
			}
		}
		if b-a > 1<<16 {
			return nil, fmtlite.Errorf("list range %q is too large", part)
		}
		for i := a; i <= b; i++ {
			out[i] = true
		}
	}
	return out, nil
}

// deviceRule renders a spec device rule in the v1 devices.allow syntax.
func deviceRule(d specs.LinuxDeviceCgroup) (string, error) {
	typ := d.Type
	if typ == "" {
		typ = "a"
	}
	if typ != "a" && typ != "b" && typ != "c" {
		return "", fmtlite.Errorf("device rule type %q: want a, b or c", d.Type)
	}
	num := func(p *int64) string {
		if p == nil || *p < 0 {
			return "*"
		}
		return strconv.FormatInt(*p, 10)
	}
	access := d.Access
	if access == "" {
		access = "rwm"
	}
	if strings.Trim(access, "rwm") != "" {
		return "", fmtlite.Errorf("device rule access %q: want letters of rwm", d.Access)
	}
	return fmtlite.Sprintf("%s %s:%s %s", typ, num(d.Major), num(d.Minor), access), nil
}

// hasLimits reports whether res asks for anything to be written.
func hasLimits(res *specs.LinuxResources) bool {
	if res == nil {
		return false
	}
	return res.Memory != nil || res.CPU != nil || res.Pids != nil || res.BlockIO != nil ||
		len(res.Devices) > 0 || len(res.HugepageLimits) > 0 || len(res.Unified) > 0 ||
		res.Network != nil || len(res.Rdma) > 0
}
