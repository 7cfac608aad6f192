package engine

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"pcr/cgroup"
)

// StatsSample is one reading of a container's usage, in the units pcr
// stats shows. Two samples give the CPU percentage.
type StatsSample struct {
	ID      string
	Name    string
	Running bool
	Read    time.Time
	// CPUNS is the cgroup's total CPU time so far.
	CPUNS uint64
	// MemUsage leaves out the inactive page cache, as Docker does: memory
	// the kernel takes back before it would OOM-kill the container.
	MemUsage uint64
	// MemLimit is the cgroup's limit, or the host's memory when there is
	// none (or a larger one), as Docker shows it.
	MemLimit   uint64
	Pids       uint64
	BlockRead  uint64
	BlockWrite uint64
}

// Stats reads one sample of a container. A container that is not running
// gives a sample with Running false and zeros, as docker stats shows one.
func (e *Engine) Stats(c *Container) (StatsSample, error) {
	s := StatsSample{ID: c.ID, Name: c.Name, Read: time.Now()}
	if !c.State.Running {
		return s, nil
	}
	st, err := e.rt.Stats(c.ID)
	if err != nil {
		// Exited between the listing and the read.
		if cur, lerr := e.load(c.ID); lerr == nil && !cur.State.Running {
			return s, nil
		}
		return s, fmt.Errorf("stats of container %s: %w", ShortID(c.ID), err)
	}
	return sampleOf(s, st, hostMemory()), nil
}

func sampleOf(s StatsSample, st *cgroup.Stats, hostMem uint64) StatsSample {
	s.Running = true
	s.CPUNS = st.CPU.UsageNS
	s.MemUsage = st.Memory.Usage
	inactive, ok := st.Memory.Raw["total_inactive_file"] // v1
	if !ok {
		inactive = st.Memory.Raw["inactive_file"] // v2
	}
	if inactive < s.MemUsage {
		s.MemUsage -= inactive
	}
	s.MemLimit = st.Memory.Limit
	if hostMem > 0 && (s.MemLimit == 0 || s.MemLimit > hostMem) {
		s.MemLimit = hostMem
	}
	s.Pids = st.Pids.Current
	for _, b := range st.Blkio.ServiceBytes {
		switch strings.ToLower(b.Op) {
		case "read":
			s.BlockRead += b.Value
		case "write":
			s.BlockWrite += b.Value
		}
	}
	return s
}

// CPUPercent is the CPU the container used between two samples, in
// percent of one CPU (200% is two CPUs busy), as docker stats shows it.
func CPUPercent(prev, cur StatsSample) float64 {
	wall := cur.Read.Sub(prev.Read)
	if !prev.Running || !cur.Running || wall <= 0 || cur.CPUNS < prev.CPUNS {
		return 0
	}
	return float64(cur.CPUNS-prev.CPUNS) / float64(wall.Nanoseconds()) * 100
}

// MemPercent is the usage in percent of the limit.
func MemPercent(s StatsSample) float64 {
	if s.MemLimit == 0 {
		return 0
	}
	return float64(s.MemUsage) / float64(s.MemLimit) * 100
}

// hostMemory is MemTotal of /proc/meminfo in bytes, 0 if unreadable.
func hostMemory() uint64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, _ := strconv.ParseUint(fields[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// BytesSize is a size in binary units with four significant digits, as
// docker stats prints memory: "1.887MiB", "64MiB".
func BytesSize(n float64) string {
	return sizeWith(n, 1024, []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"})
}

// HumanSize is a size in decimal units with four significant digits, as
// docker images and system df print sizes: "4.39MB", "0B".
func HumanSize(n float64) string {
	return sizeWith(n, 1000, []string{"B", "kB", "MB", "GB", "TB", "PB", "EB"})
}

func sizeWith(n, base float64, units []string) string {
	i := 0
	for n >= base && i < len(units)-1 {
		n /= base
		i++
	}
	return strconv.FormatFloat(n, 'g', 4, 64) + units[i]
}
