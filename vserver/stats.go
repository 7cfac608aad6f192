package vserver

import (
	"fmt"
	"time"
)

// Stats is one reading of a vserver's usage, PlanetLab's slicestat: CPU
// seconds, memory, disk and network bytes, from its cgroups, its disk
// and its interfaces' counters.
type Stats struct {
	Slice       string    `json:"slice"`
	Read        time.Time `json:"read"`
	Running     bool      `json:"running"`
	CPUSeconds  float64   `json:"cpuSeconds"`
	MemoryBytes uint64    `json:"memoryBytes"`
	MemoryLimit uint64    `json:"memoryLimit"`
	Pids        uint64    `json:"pids"`
	DiskUsed    uint64    `json:"diskUsedBytes"`
	DiskLimit   uint64    `json:"diskLimitBytes"`
	NetRxBytes  uint64    `json:"netRxBytes"`
	NetTxBytes  uint64    `json:"netTxBytes"`
}

// Stats reads a vserver's usage now. A stopped vserver has zero CPU,
// memory and network figures but still its disk.
func (m *Manager) Stats(slice string) (*Stats, error) {
	v, err := m.Get(slice)
	if err != nil {
		return nil, err
	}
	st := &Stats{Slice: slice, Read: time.Now().UTC()}
	if v.ContainerID == "" {
		return st, nil
	}
	c, err := m.eng.Inspect(v.ContainerID)
	if err != nil {
		return nil, fmt.Errorf("stats of vserver %s: %w", slice, err)
	}
	s, err := m.eng.Stats(c)
	if err != nil {
		return nil, fmt.Errorf("stats of vserver %s: %w", slice, err)
	}
	st.Running = s.Running
	st.CPUSeconds = float64(s.CPUNS) / 1e9
	st.MemoryBytes, st.Pids = s.MemUsage, s.Pids
	if v.Applied.Memory > 0 {
		st.MemoryLimit = uint64(v.Applied.Memory)
	}
	if st.DiskUsed, st.DiskLimit, err = m.eng.DiskUsage(v.ContainerID); err != nil {
		return nil, fmt.Errorf("stats of vserver %s: %w", slice, err)
	}
	if s.Running {
		// A vserver with no network of its own has no counters.
		st.NetRxBytes, st.NetTxBytes, _ = m.eng.NetCounters(v.ContainerID)
	}
	return st, nil
}
