package engine

import (
	"testing"
	"time"

	"pcr/cgroup"
)

func TestSizeFormats(t *testing.T) {
	for _, c := range []struct {
		n          float64
		bin, human string
	}{
		{0, "0B", "0B"},
		{999, "999B", "999B"},
		{1000, "1000B", "1kB"},
		{1024, "1KiB", "1.024kB"},
		{64 << 20, "64MiB", "67.11MB"},
		{1.5 * (1 << 30), "1.5GiB", "1.611GB"},
		{1887436.8, "1.8MiB", "1.887MB"},
		{4390000, "4.187MiB", "4.39MB"},
	} {
		if got := BytesSize(c.n); got != c.bin {
			t.Errorf("BytesSize(%v) = %q, want %q", c.n, got, c.bin)
		}
		if got := HumanSize(c.n); got != c.human {
			t.Errorf("HumanSize(%v) = %q, want %q", c.n, got, c.human)
		}
	}
}

func TestCPUAndMemPercent(t *testing.T) {
	t0 := time.Unix(1000, 0)
	a := StatsSample{Running: true, Read: t0, CPUNS: 1e9}
	b := StatsSample{Running: true, Read: t0.Add(500 * time.Millisecond), CPUNS: 1e9 + 250e6}
	if got := CPUPercent(a, b); got != 50 {
		t.Errorf("a quarter second of CPU in half a second: %v%%, want 50%%", got)
	}
	c := StatsSample{Running: true, Read: t0.Add(time.Second), CPUNS: 1e9 + 2e9}
	if got := CPUPercent(a, c); got != 200 {
		t.Errorf("two CPUs busy: %v%%, want 200%%", got)
	}
	for name, pair := range map[string][2]StatsSample{
		"no interval":   {a, a},
		"stopped":       {a, {Read: t0.Add(time.Second)}},
		"counter reset": {b, {Running: true, Read: t0.Add(time.Second), CPUNS: 5}},
	} {
		if got := CPUPercent(pair[0], pair[1]); got != 0 {
			t.Errorf("%s: %v%%, want 0", name, got)
		}
	}
	if got := MemPercent(StatsSample{MemUsage: 16 << 20, MemLimit: 64 << 20}); got != 25 {
		t.Errorf("MemPercent 16/64 MiB = %v, want 25", got)
	}
	if got := MemPercent(StatsSample{MemUsage: 5}); got != 0 {
		t.Errorf("MemPercent without a limit = %v, want 0", got)
	}
}

func TestSampleOfDockerMemory(t *testing.T) {
	const host = 8 << 30
	st := &cgroup.Stats{}
	st.CPU.UsageNS = 42
	st.Memory.Usage, st.Memory.Limit = 10<<20, 64<<20
	st.Memory.Raw = map[string]uint64{"total_inactive_file": 4 << 20}
	st.Pids.Current = 3
	st.Blkio.ServiceBytes = []cgroup.BlkioEntry{{Op: "Read", Value: 100}, {Op: "Write", Value: 7}, {Op: "Read", Value: 1}, {Op: "Total", Value: 108}}
	s := sampleOf(StatsSample{}, st, host)
	if !s.Running || s.CPUNS != 42 || s.MemUsage != 6<<20 || s.MemLimit != 64<<20 || s.Pids != 3 || s.BlockRead != 101 || s.BlockWrite != 7 {
		t.Errorf("v1 sample: %+v", s)
	}
	// v2 names the inactive cache differently; an unlimited cgroup shows
	// the host's memory as its limit.
	st.Memory.Raw = map[string]uint64{"inactive_file": 1 << 20}
	st.Memory.Limit = 1<<63 - 1
	s = sampleOf(StatsSample{}, st, host)
	if s.MemUsage != 9<<20 || s.MemLimit != host {
		t.Errorf("v2 unlimited sample: usage %d limit %d", s.MemUsage, s.MemLimit)
	}
}
