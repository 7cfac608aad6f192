package cgroup

import (
	"strconv"
	"strings"
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

// RuncEventData shapes s like runc's events "data" object, so that
// `pcr oci events --stats` prints what tools written for runc parse:
// {"cpu":{"usage":{"total":..,"kernel":..,"user":..}},"memory":{"usage":{..}},"pids":{..},"blkio":{..}}.
func (s *Stats) RuncEventData() any {
	type cpuUsage struct {
		Total  uint64   `json:"total,omitempty"`
		Percpu []uint64 `json:"percpu,omitempty"`
		Kernel uint64   `json:"kernel"`
		User   uint64   `json:"user"`
	}
	type throttling struct {
		Periods          uint64 `json:"periods,omitempty"`
		ThrottledPeriods uint64 `json:"throttledPeriods,omitempty"`
		ThrottledTime    uint64 `json:"throttledTime,omitempty"`
	}
	type cpu struct {
		Usage      cpuUsage   `json:"usage,omitempty"`
		Throttling throttling `json:"throttling,omitempty"`
	}
	type memEntry struct {
		Limit   uint64 `json:"limit"`
		Usage   uint64 `json:"usage,omitempty"`
		Max     uint64 `json:"max,omitempty"`
		Failcnt uint64 `json:"failcnt"`
	}
	type memory struct {
		Cache uint64            `json:"cache,omitempty"`
		Usage memEntry          `json:"usage,omitempty"`
		Swap  memEntry          `json:"swap,omitempty"`
		Raw   map[string]uint64 `json:"raw,omitempty"`
	}
	type pids struct {
		Current uint64 `json:"current,omitempty"`
		Limit   uint64 `json:"limit,omitempty"`
	}
	type blkioEntry struct {
		Major uint64 `json:"major,omitempty"`
		Minor uint64 `json:"minor,omitempty"`
		Op    string `json:"op,omitempty"`
		Value uint64 `json:"value,omitempty"`
	}
	type blkio struct {
		IoServiceBytesRecursive []blkioEntry `json:"ioServiceBytesRecursive,omitempty"`
		IoServicedRecursive     []blkioEntry `json:"ioServicedRecursive,omitempty"`
	}
	type data struct {
		CPU    cpu    `json:"cpu"`
		Memory memory `json:"memory"`
		Pids   pids   `json:"pids"`
		Blkio  blkio  `json:"blkio"`
	}
	conv := func(in []BlkioEntry) []blkioEntry {
		out := make([]blkioEntry, len(in))
		for i, e := range in {
			out[i] = blkioEntry(e)
		}
		return out
	}
	return data{
		CPU: cpu{
			Usage:      cpuUsage{Total: s.CPU.UsageNS, Percpu: s.CPU.PerCPUNS, Kernel: s.CPU.SystemNS, User: s.CPU.UserNS},
			Throttling: throttling{Periods: s.CPU.Periods, ThrottledPeriods: s.CPU.Throttled, ThrottledTime: s.CPU.ThrottledNS},
		},
		Memory: memory{
			Cache: s.Memory.Cache,
			Usage: memEntry{Limit: s.Memory.Limit, Usage: s.Memory.Usage, Max: s.Memory.MaxUsage, Failcnt: s.Memory.Failcnt},
			// runc reports memory+swap here on both versions.
			Swap: memEntry{Limit: s.Memory.SwapLimit, Usage: s.Memory.Usage + s.Memory.Swap},
			Raw:  s.Memory.Raw,
		},
		Pids:  pids{Current: s.Pids.Current, Limit: s.Pids.Limit},
		Blkio: blkio{IoServiceBytesRecursive: conv(s.Blkio.ServiceBytes), IoServicedRecursive: conv(s.Blkio.Serviced)},
	}
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
