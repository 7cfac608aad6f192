package engine

import (
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func updPtr[T any](v T) *T { return &v }

func TestUpdateOptionsApply(t *testing.T) {
	base := Options{Network: NetBridge, Memory: 64 << 20, PidsLimit: 10, Ulimits: []string{"nofile=10"}}
	for _, tc := range []struct {
		name  string
		start Options
		u     UpdateOptions
		check func(o Options) bool
	}{
		{"memory and pids", base, UpdateOptions{Memory: updPtr[int64](128 << 20), PidsLimit: updPtr[int64](20)},
			func(o Options) bool { return o.Memory == 128<<20 && o.PidsLimit == 20 && o.Ulimits[0] == "nofile=10" }},
		{"swap unlimited", base, UpdateOptions{MemorySwap: updPtr[int64](-1)}, func(o Options) bool { return o.MemorySwap == -1 }},
		{"memory with swap", Options{Memory: 64 << 20, MemorySwap: 128 << 20}, UpdateOptions{Memory: updPtr[int64](256 << 20), MemorySwap: updPtr[int64](512 << 20)},
			func(o Options) bool { return o.Memory == 256<<20 && o.MemorySwap == 512<<20 }},
		{"cpus off", Options{NanoCPUs: 5e8}, UpdateOptions{NanoCPUs: updPtr[int64](0)}, func(o Options) bool { return o.NanoCPUs == 0 }},
		{"shares, cpuset", base, UpdateOptions{CPUShares: updPtr[uint64](512), CpusetCPUs: updPtr("0")},
			func(o Options) bool { return o.CPUShares == 512 && o.CpusetCPUs == "0" }},
		{"ulimits cleared", base, UpdateOptions{Ulimits: []string{}}, func(o Options) bool { return len(o.Ulimits) == 0 }},
		{"net rate", base, UpdateOptions{NetRate: updPtr[int64](1 << 20)}, func(o Options) bool { return o.NetRate == 1<<20 }},
		{"storage grows", Options{StorageSize: 1 << 30}, UpdateOptions{StorageSize: updPtr[int64](2 << 30)}, func(o Options) bool { return o.StorageSize == 2<<30 }},
		// -1 takes a limit away (Docker's convention); memory+swap goes with memory.
		{"memory removed", Options{Memory: 64 << 20, MemorySwap: 128 << 20}, UpdateOptions{Memory: updPtr[int64](-1)},
			func(o Options) bool { return o.Memory == 0 && o.MemorySwap == 0 }},
		{"memory removed, swap unlimited", Options{Memory: 64 << 20, MemorySwap: 128 << 20}, UpdateOptions{Memory: updPtr[int64](-1), MemorySwap: updPtr[int64](-1)},
			func(o Options) bool { return o.Memory == 0 && o.MemorySwap == -1 }},
		{"memory removed when there is none", Options{}, UpdateOptions{Memory: updPtr[int64](-1)}, func(o Options) bool { return o.Memory == 0 }},
		{"pids removed", base, UpdateOptions{PidsLimit: updPtr[int64](-1)}, func(o Options) bool { return o.PidsLimit == -1 }},
	} {
		o := tc.start
		if err := tc.u.apply(&o); err != nil || !tc.check(o) {
			t.Errorf("%s: %+v, %v", tc.name, o, err)
		}
	}
	for _, tc := range []struct {
		name  string
		start Options
		u     UpdateOptions
		msg   string
	}{
		{"tiny memory", base, UpdateOptions{Memory: updPtr[int64](1000)}, "minimum allowed is 6MB"},
		{"no memory", base, UpdateOptions{Memory: updPtr[int64](0)}, "needs a limit"},
		{"memory -2", base, UpdateOptions{Memory: updPtr[int64](-2)}, "-1 for unlimited"},
		{"memory removed, swap kept", Options{Memory: 64 << 20, MemorySwap: 128 << 20}, UpdateOptions{Memory: updPtr[int64](-1), MemorySwap: updPtr[int64](128 << 20)}, "needs --memory"},
		{"memory above swap", Options{Memory: 64 << 20, MemorySwap: 128 << 20}, UpdateOptions{Memory: updPtr[int64](256 << 20)}, "update --memory-swap at the same time"},
		{"swap below memory", base, UpdateOptions{MemorySwap: updPtr[int64](32 << 20)}, "must be at least --memory"},
		{"swap without memory", Options{}, UpdateOptions{MemorySwap: updPtr[int64](32 << 20)}, "needs --memory"},
		{"swap negative", base, UpdateOptions{MemorySwap: updPtr[int64](-2)}, "-1 for unlimited"},
		{"cpus negative", base, UpdateOptions{NanoCPUs: updPtr[int64](-1)}, "invalid --cpus"},
		{"shares", base, UpdateOptions{CPUShares: updPtr[uint64](1)}, "2..262144"},
		{"cpuset empty", base, UpdateOptions{CpusetCPUs: updPtr("")}, "give the CPUs"},
		{"cpuset bad", base, UpdateOptions{CpusetCPUs: updPtr("3-1")}, "invalid --cpuset-cpus"},
		{"pids", base, UpdateOptions{PidsLimit: updPtr[int64](-2)}, "invalid --pids-limit"},
		{"net rate on host", Options{Network: NetHost}, UpdateOptions{NetRate: updPtr[int64](1 << 20)}, "bridge network"},
		{"net rate tiny", base, UpdateOptions{NetRate: updPtr[int64](5)}, "at least"},
		{"storage shrinks", Options{StorageSize: 2 << 30}, UpdateOptions{StorageSize: updPtr[int64](1 << 30)}, "only grow"},
		{"storage zero", Options{StorageSize: 2 << 30}, UpdateOptions{StorageSize: updPtr[int64](0)}, "must be positive"},
		{"ulimit", base, UpdateOptions{Ulimits: []string{"nofile=2:1"}}, "soft limit"},
	} {
		o := tc.start
		err := tc.u.apply(&o)
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.msg)
		}
	}
}

func TestUpdateLiveResources(t *testing.T) {
	o := Options{Memory: 64 << 20, NanoCPUs: 0, PidsLimit: 0, CPUShares: 0}
	res := UpdateOptions{NanoCPUs: updPtr[int64](0), PidsLimit: updPtr[int64](0), CPUShares: updPtr[uint64](0)}.liveResources(&o)
	// Unset is written out: the cgroup still holds the old limits.
	if res.Memory != nil || *res.CPU.Quota != -1 || *res.CPU.Shares != defaultCPUShares || *res.Pids.Limit != -1 || res.CPU.Cpus != "" {
		t.Errorf("unset limits: %+v %+v %+v", res.Memory, res.CPU, res.Pids)
	}
	o.NanoCPUs = 15e8
	res = UpdateOptions{Memory: updPtr[int64](64 << 20), NanoCPUs: updPtr[int64](15e8)}.liveResources(&o)
	if res.Memory == nil || *res.Memory.Limit != 64<<20 || *res.CPU.Quota != 150000 || *res.CPU.Period != 100000 || res.CPU.Shares != nil || res.Pids != nil {
		t.Errorf("set limits: %+v %+v %+v", res.Memory, res.CPU, res.Pids)
	}
	// A memory limit taken away is written out as unlimited, memory+swap
	// too where swap is accounted.
	o = Options{}
	res = UpdateOptions{Memory: updPtr[int64](-1), PidsLimit: updPtr[int64](-1)}.liveResources(&o)
	if res.Memory == nil || res.Memory.Limit == nil || *res.Memory.Limit != -1 || *res.Pids.Limit != -1 {
		t.Fatalf("removed limits: %+v %+v", res.Memory, res.Pids)
	}
	if hasSwapAccounting() && (res.Memory.Swap == nil || *res.Memory.Swap != -1) {
		t.Errorf("removed memory limit: memory+swap %v, want -1", res.Memory.Swap)
	}
}

func TestUpdateSpecKeepsTheRest(t *testing.T) {
	s, err := buildSpec(testInput(t, ocispec.ImageConfig{Cmd: []string{"sh"}}), &Options{Memory: 64 << 20, PidsLimit: 5, Ulimits: []string{"nofile=1:2"}})
	if err != nil {
		t.Fatal(err)
	}
	devices := len(s.Linux.Resources.Devices)
	updateSpec(s, &Options{CPUShares: 100, Ulimits: []string{"nproc=3"}})
	r := s.Linux.Resources
	if r.Memory != nil || r.Pids != nil || r.CPU == nil || *r.CPU.Shares != 100 || len(r.Devices) != devices {
		t.Errorf("resources %+v", r)
	}
	if len(s.Process.Rlimits) != 1 || s.Process.Rlimits[0].Type != "RLIMIT_NPROC" {
		t.Errorf("rlimits %+v", s.Process.Rlimits)
	}
}
