package cgroup

import (
	"strconv"
	"strings"

	"pcr/internal/jsonlite"
)

// Stats is one sample of a container's usage. Fields a host cannot provide
// stay zero (for example MaxUsage on v2 kernels before memory.peak).
type Stats struct {
	CPU    CPUStats    `json:"cpu"`
	Memory MemoryStats `json:"memory"`
	Pids   PidsStats   `json:"pids"`
	Blkio  BlkioStats  `json:"blkio"`
}

type CPUStats struct {
	UsageNS  uint64   `json:"usage_ns"`
	UserNS   uint64   `json:"user_ns"`
	SystemNS uint64   `json:"system_ns"`
	PerCPUNS []uint64 `json:"per_cpu_ns,omitempty"`
	// Periods counts CFS enforcement periods, Throttled those in which the
	// cgroup ran out of quota, ThrottledNS the total time it was held back.
	Periods     uint64 `json:"periods"`
	Throttled   uint64 `json:"throttled"`
	ThrottledNS uint64 `json:"throttled_ns"`
}

type MemoryStats struct {
	Usage    uint64 `json:"usage"`
	Limit    uint64 `json:"limit"`
	MaxUsage uint64 `json:"max_usage"`
	// Swap is swap in use alone (not memory+swap); SwapLimit is the
	// memory+swap limit as in the OCI spec.
	Swap      uint64            `json:"swap"`
	SwapLimit uint64            `json:"swap_limit"`
	Cache     uint64            `json:"cache"`
	OOMKills  uint64            `json:"oom_kills"`
	Failcnt   uint64            `json:"failcnt"`
	Raw       map[string]uint64 `json:"raw,omitempty"`
}

type PidsStats struct {
	Current uint64 `json:"current"`
	Limit   uint64 `json:"limit"` // 0: unlimited
}

type BlkioStats struct {
	ServiceBytes []BlkioEntry `json:"service_bytes,omitempty"`
	Serviced     []BlkioEntry `json:"serviced,omitempty"`
}

type BlkioEntry struct {
	Major uint64 `json:"major"`
	Minor uint64 `json:"minor"`
	Op    string `json:"op"`
	Value uint64 `json:"value"`
}

// AppendRuncEvent appends s shaped like runc's events "data" object, so
// that `pcr oci events --stats` prints what tools written for runc parse:
// {"cpu":{"usage":{"total":..,"kernel":..,"user":..}},"memory":{"usage":{..}},"pids":{..},"blkio":{..}}.
// Zero counters are left out where runc leaves them out.
func (s *Stats) AppendRuncEvent(b []byte) []byte {
	uintIf := func(b []byte, k string, v uint64) []byte {
		if v != 0 {
			b = jsonlite.Uint(b, k, v)
		}
		return b
	}
	memEntry := func(b []byte, limit, usage, max, failcnt uint64) []byte {
		b = jsonlite.Uint(append(b, '{'), "limit", limit)
		b = uintIf(uintIf(b, "usage", usage), "max", max)
		return append(jsonlite.Uint(b, "failcnt", failcnt), '}')
	}
	blkio := func(b []byte, k string, es []BlkioEntry) []byte {
		if len(es) == 0 {
			return b
		}
		b = append(jsonlite.Key(b, k), '[')
		for _, e := range es {
			b = append(jsonlite.Comma(b), '{')
			b = uintIf(uintIf(b, "major", e.Major), "minor", e.Minor)
			if e.Op != "" {
				b = jsonlite.String(b, "op", e.Op)
			}
			b = append(uintIf(b, "value", e.Value), '}')
		}
		return append(b, ']')
	}

	b = append(jsonlite.Key(append(b, '{'), "cpu"), '{')
	b = append(jsonlite.Key(b, "usage"), '{')
	b = uintIf(b, "total", s.CPU.UsageNS)
	if len(s.CPU.PerCPUNS) > 0 {
		b = append(jsonlite.Key(b, "percpu"), '[')
		for _, n := range s.CPU.PerCPUNS {
			b = strconv.AppendUint(jsonlite.Comma(b), n, 10)
		}
		b = append(b, ']')
	}
	b = append(jsonlite.Uint(jsonlite.Uint(b, "kernel", s.CPU.SystemNS), "user", s.CPU.UserNS), '}')
	b = append(jsonlite.Key(b, "throttling"), '{')
	b = uintIf(uintIf(uintIf(b, "periods", s.CPU.Periods), "throttledPeriods", s.CPU.Throttled), "throttledTime", s.CPU.ThrottledNS)
	b = append(b, '}', '}')

	b = append(jsonlite.Key(b, "memory"), '{')
	b = uintIf(b, "cache", s.Memory.Cache)
	m := s.Memory
	b = memEntry(jsonlite.Key(b, "usage"), m.Limit, m.Usage, m.MaxUsage, m.Failcnt)
	// runc reports memory+swap here on both versions.
	b = memEntry(jsonlite.Key(b, "swap"), m.SwapLimit, m.Usage+m.Swap, 0, 0)
	if len(m.Raw) > 0 {
		b = append(jsonlite.Key(b, "raw"), '{')
		for _, k := range jsonlite.SortedKeys(m.Raw) {
			b = jsonlite.Uint(b, k, m.Raw[k])
		}
		b = append(b, '}')
	}
	b = append(b, '}')

	b = append(jsonlite.Key(b, "pids"), '{')
	b = append(uintIf(uintIf(b, "current", s.Pids.Current), "limit", s.Pids.Limit), '}')
	b = append(jsonlite.Key(b, "blkio"), '{')
	b = blkio(blkio(b, "ioServiceBytesRecursive", s.Blkio.ServiceBytes), "ioServicedRecursive", s.Blkio.Serviced)
	return append(b, '}', '}')
}

// parseBlkioV1 reads blkio.throttle.io_service* lines "8:0 Read 4096".
func parseBlkioV1(b []byte) []BlkioEntry {
	var out []BlkioEntry
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		maj, min, ok := parseDev(f[0])
		v, err := strconv.ParseUint(f[2], 10, 64)
		if !ok || err != nil {
			continue
		}
		out = append(out, BlkioEntry{Major: maj, Minor: min, Op: f[1], Value: v})
	}
	return out
}

// parseIOStatV2 reads io.stat lines "8:0 rbytes=1 wbytes=2 rios=3 wios=4 …"
// into runc's v1-shaped entries.
func parseIOStatV2(b []byte) (bytes, ios []BlkioEntry) {
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		maj, min, ok := parseDev(f[0])
		if !ok {
			continue
		}
		for _, kv := range f[1:] {
			k, v, _ := strings.Cut(kv, "=")
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				continue
			}
			e := BlkioEntry{Major: maj, Minor: min, Value: n}
			switch k {
			case "rbytes":
				e.Op = "Read"
				bytes = append(bytes, e)
			case "wbytes":
				e.Op = "Write"
				bytes = append(bytes, e)
			case "rios":
				e.Op = "Read"
				ios = append(ios, e)
			case "wios":
				e.Op = "Write"
				ios = append(ios, e)
			}
		}
	}
	return bytes, ios
}

func parseDev(s string) (uint64, uint64, bool) {
	a, b, ok := strings.Cut(s, ":")
	if !ok {
		return 0, 0, false
	}
	maj, err1 := strconv.ParseUint(a, 10, 64)
	min, err2 := strconv.ParseUint(b, 10, 64)
	return maj, min, err1 == nil && err2 == nil
}

func parseUintList(b []byte) []uint64 {
	var out []uint64
	for _, f := range strings.Fields(string(b)) {
		if n, err := strconv.ParseUint(f, 10, 64); err == nil {
			out = append(out, n)
		}
	}
	return out
}
