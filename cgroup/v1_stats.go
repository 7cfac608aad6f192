package cgroup

import (
	"errors"

	"golang.org/x/sys/unix"

	"pcr/internal/fmtlite"
)

// statReader collects the first real error and treats a missing file as
// "this kernel does not offer it", so one absent counter does not hide the
// rest of the sample.
type statReader struct{ err error }

func (r *statReader) uint(dir, name string) uint64 {
	v, err := readUint(dir, name)
	r.note(err)
	return v
}

func (r *statReader) kv(dir, name string) map[string]uint64 {
	v, err := readKV(dir, name)
	r.note(err)
	return v
}

func (r *statReader) raw(dir, name string) []byte {
	v, err := readFile(dir, name)
	r.note(err)
	return v
}

func (r *statReader) note(err error) {
	if err != nil && r.err == nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EOPNOTSUPP) {
		r.err = err
	}
}

func (m *v1Manager) Stats() (*Stats, error) {
	s := &Stats{}
	var r statReader
	if dir, ok := m.paths["cpuacct"]; ok {
		if !exists(dir) {
			return nil, fmtlite.Errorf("cgroup stats: %s does not exist", dir)
		}
		s.CPU.UsageNS = r.uint(dir, "cpuacct.usage")
		s.CPU.PerCPUNS = parseUintList(r.raw(dir, "cpuacct.usage_percpu"))
		if exists(dir + "/cpuacct.usage_user") {
			s.CPU.UserNS = r.uint(dir, "cpuacct.usage_user")
			s.CPU.SystemNS = r.uint(dir, "cpuacct.usage_sys")
		} else {
			// cpuacct.stat counts USER_HZ (100 Hz on every Linux ABI) ticks.
			st := r.kv(dir, "cpuacct.stat")
			s.CPU.UserNS = st["user"] * 10_000_000
			s.CPU.SystemNS = st["system"] * 10_000_000
		}
	}
	if dir, ok := m.paths["cpu"]; ok {
		st := r.kv(dir, "cpu.stat")
		s.CPU.Periods = st["nr_periods"]
		s.CPU.Throttled = st["nr_throttled"]
		s.CPU.ThrottledNS = st["throttled_time"]
	}
	if dir, ok := m.paths["memory"]; ok {
		s.Memory.Usage = r.uint(dir, "memory.usage_in_bytes")
		s.Memory.Limit = r.uint(dir, "memory.limit_in_bytes")
		s.Memory.MaxUsage = r.uint(dir, "memory.max_usage_in_bytes")
		s.Memory.Failcnt = r.uint(dir, "memory.failcnt")
		if exists(dir + "/memory.memsw.usage_in_bytes") {
			if sw := r.uint(dir, "memory.memsw.usage_in_bytes"); sw > s.Memory.Usage {
				s.Memory.Swap = sw - s.Memory.Usage
			}
			s.Memory.SwapLimit = r.uint(dir, "memory.memsw.limit_in_bytes")
		}
		s.Memory.Raw = r.kv(dir, "memory.stat")
		s.Memory.Cache = s.Memory.Raw["total_cache"]
		s.Memory.OOMKills = r.kv(dir, "memory.oom_control")["oom_kill"]
	}
	if dir, ok := m.paths["pids"]; ok {
		s.Pids.Current = r.uint(dir, "pids.current")
		s.Pids.Limit = r.uint(dir, "pids.max")
	}
	if dir, ok := m.paths["blkio"]; ok {
		s.Blkio.ServiceBytes = parseBlkioV1(r.raw(dir, "blkio.throttle.io_service_bytes_recursive"))
		s.Blkio.Serviced = parseBlkioV1(r.raw(dir, "blkio.throttle.io_serviced_recursive"))
	}
	if r.err != nil {
		return nil, fmtlite.Errorf("cgroup stats: %w", r.err)
	}
	return s, nil
}
