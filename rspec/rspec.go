// Package rspec is what a slice asks of a node, PlanetLab's resource
// specification, and the names and expiries that go with it: shared by
// the node side (vserver) and the slice authority (slices), below both.
package rspec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"

	"strconv"
	"strings"

	"pcr/internal/units"
)

// Rspec is a slice's resource specification on one node, as PlanetLab
// named it; zero fields are not limited. Each field is enforced by the
// kernel: cgroups for CPU, memory and pids, a per-vserver filesystem
// image for disk, tc for the network, rlimits for nofile.
type Rspec struct {
	// CPUShare is a relative weight (PlanetLab's fair share): 1024 is one
	// default share; cgroup v1 cpu.shares, v2 cpu.weight.
	CPUShare uint64 `json:"cpu_share,omitempty"`
	// CPUCores caps CPU time at this many cores (a CFS quota).
	CPUCores float64 `json:"cpu_cores,omitempty"`
	// Memory is a hard limit; an OOM kills inside the vserver only.
	Memory Bytes `json:"memory,omitempty"`
	// Disk caps what the vserver can write.
	Disk Bytes `json:"disk,omitempty"`
	Pids int64 `json:"pids,omitempty"`
	// NetRate shapes egress, in bytes per second.
	NetRate Rate   `json:"net_rate,omitempty"`
	Nofile  uint64 `json:"nofile,omitempty"`
}

// Bytes is a size: a number of bytes in JSON output, and a number or a
// string with a unit ("512M") in what people write.
type Bytes int64

// UnmarshalJSON takes 1048576 or "1M".
func (b *Bytes) UnmarshalJSON(data []byte) error {
	if n, err := strconv.ParseInt(string(data), 10, 64); err == nil {
		*b = Bytes(n)
		return nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("size %s: want a number of bytes or a string such as \"512M\"", data)
	}
	n, err := units.ParseSize(s)
	if err != nil {
		return err
	}
	*b = Bytes(n)
	return nil
}

// String is the size in the largest binary unit that divides it.
func (b Bytes) String() string {
	for _, u := range []struct {
		s string
		n int64
	}{{"T", 1 << 40}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}} {
		if b != 0 && int64(b)%u.n == 0 {
			return strconv.FormatInt(int64(b)/u.n, 10) + u.s
		}
	}
	return strconv.FormatInt(int64(b), 10)
}

// Rate is a network rate in bytes per second. People write it as tc
// does, in bits: "10mbit", "500kbit", "1gbit"; a bare number is bytes/s.
type Rate int64

// ParseRate reads "10mbit" (decimal bits per second, as tc) or a plain
// number of bytes per second.
func ParseRate(s string) (Rate, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := float64(1)
	for _, u := range []struct {
		suffix string
		bits   float64
	}{{"gbit", 1e9}, {"mbit", 1e6}, {"kbit", 1e3}, {"bit", 1}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSuffix(t, u.suffix), u.bits/8
			break
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("invalid rate %q: want bits per second such as 10mbit, 500kbit, 1gbit", s)
	}
	if v < 0 {
		return 0, fmt.Errorf("invalid rate %q: must not be negative", s)
	}
	if v*mult > math.MaxInt64/2 {
		return 0, fmt.Errorf("invalid rate %q: too large", s)
	}
	return Rate(v * mult), nil
}

// UnmarshalJSON takes 1250000 or "10mbit".
func (r *Rate) UnmarshalJSON(data []byte) error {
	if n, err := strconv.ParseInt(string(data), 10, 64); err == nil {
		*r = Rate(n)
		return nil
	}
	var s string
	if err := json.Unmarshal(bytes.TrimSpace(data), &s); err != nil {
		return fmt.Errorf("rate %s: want bytes per second or a string such as \"10mbit\"", data)
	}
	v, err := ParseRate(s)
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// String is the rate in tc's bit units.
func (r Rate) String() string {
	bits := float64(r) * 8
	switch {
	case bits >= 1e9:
		return strconv.FormatFloat(bits/1e9, 'f', -1, 64) + "gbit"
	case bits >= 1e6:
		return strconv.FormatFloat(bits/1e6, 'f', -1, 64) + "mbit"
	case bits >= 1e3:
		return strconv.FormatFloat(bits/1e3, 'f', -1, 64) + "kbit"
	}
	return strconv.FormatFloat(bits, 'f', -1, 64) + "bit"
}

// Limits the node can honour at all; above them an rspec is absurd.
const (
	minMemory  = 6 << 20
	minDisk    = 16 << 20
	maxPids    = 4 << 20
	minNetRate = 1024 // the engine's netns.MinEgressRate; a test keeps them equal, without linking netns here
	maxNetRate = 100e9 / 8
	minShare   = 2
	maxShare   = 262144
	// Beyond these no node this software runs on has the resource.
	maxCores  = 4096
	maxBytes  = 1 << 50
	maxNofile = 1 << 30
)

// Validate says why the rspec cannot be enforced on any node: a negative,
// too small or absurd value. The message names the field as rspecs and
// flags name it. FitsNode adds what one node has.
func (r Rspec) Validate() error {
	if r.CPUShare != 0 && (r.CPUShare < minShare || r.CPUShare > maxShare) {
		return fmt.Errorf("invalid rspec: cpu_share %d out of range [%d, %d]", r.CPUShare, minShare, maxShare)
	}
	if r.CPUCores < 0 || math.IsNaN(r.CPUCores) {
		return fmt.Errorf("invalid rspec: cpu_cores %g must not be negative", r.CPUCores)
	}
	if r.CPUCores != 0 && r.CPUCores < 0.01 {
		return fmt.Errorf("invalid rspec: cpu_cores %g is below the smallest quota (0.01)", r.CPUCores)
	}
	if r.Memory < 0 {
		return fmt.Errorf("invalid rspec: memory %d must not be negative", r.Memory)
	}
	if r.Memory != 0 && r.Memory < minMemory {
		return fmt.Errorf("invalid rspec: memory %s is below the %s a vserver needs", r.Memory, Bytes(minMemory))
	}
	if r.Disk < 0 {
		return fmt.Errorf("invalid rspec: disk %d must not be negative", r.Disk)
	}
	if r.Disk != 0 && r.Disk < minDisk {
		return fmt.Errorf("invalid rspec: disk %s is below the smallest filesystem (%s)", r.Disk, Bytes(minDisk))
	}
	if r.Pids < 0 || r.Pids > maxPids {
		return fmt.Errorf("invalid rspec: pids %d out of range [0, %d]", r.Pids, maxPids)
	}
	if r.Pids != 0 && r.Pids < 2 {
		return fmt.Errorf("invalid rspec: pids %d leaves no room for a process beside the vserver's init", r.Pids)
	}
	if r.NetRate < 0 || r.NetRate > maxNetRate {
		return fmt.Errorf("invalid rspec: net_rate %d B/s out of range [0, 100gbit]", r.NetRate)
	}
	if r.NetRate != 0 && r.NetRate < minNetRate {
		return fmt.Errorf("invalid rspec: net_rate %s is below %s", r.NetRate, Rate(minNetRate))
	}
	if r.Nofile != 0 && r.Nofile < 16 {
		return fmt.Errorf("invalid rspec: nofile %d is too few to run anything", r.Nofile)
	}
	if r.CPUCores > maxCores || r.Memory > maxBytes || r.Disk > maxBytes || r.Nofile > maxNofile {
		return fmt.Errorf("invalid rspec: %s is more than any node has", r.absurd())
	}
	return nil
}

// absurd names the first field beyond any node.
func (r Rspec) absurd() string {
	switch {
	case r.CPUCores > maxCores:
		return fmt.Sprintf("cpu_cores %g", r.CPUCores)
	case r.Memory > maxBytes:
		return "memory " + r.Memory.String()
	case r.Disk > maxBytes:
		return "disk " + r.Disk.String()
	}
	return fmt.Sprintf("nofile %d", r.Nofile)
}

// FitsNode says why a node with cpus cores, memory bytes of RAM and a
// hard nofile limit cannot honour r, or nil; zero node figures are not
// checked.
func (r Rspec) FitsNode(cpus float64, memory uint64, nofileMax uint64) error {
	if cpus > 0 && r.CPUCores > cpus {
		return fmt.Errorf("invalid rspec: cpu_cores %g is more than the node's %g cores", r.CPUCores, cpus)
	}
	if memory > 0 && r.Memory > Bytes(memory) {
		return fmt.Errorf("invalid rspec: memory %s is more than the node's %s", r.Memory, Bytes(memory).Rounded())
	}
	if nofileMax > 0 && r.Nofile > nofileMax {
		return fmt.Errorf("invalid rspec: nofile %d is above the node's hard limit %d", r.Nofile, nofileMax)
	}
	return nil
}

// Rounded shows a size in the largest unit, rounded, for messages.
func (b Bytes) Rounded() string {
	switch {
	case b >= 1<<30:
		return strconv.FormatFloat(float64(b)/(1<<30), 'f', 1, 64) + "G"
	case b >= 1<<20:
		return strconv.FormatFloat(float64(b)/(1<<20), 'f', 1, 64) + "M"
	}
	return b.String()
}
