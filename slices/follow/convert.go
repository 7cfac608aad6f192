package follow

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"pcr/slices/api"
	"pcr/vserver"
	"pcr/vserver/node"
)

// specsOf is the slivers as the vservers the node manager keeps; local
// is this node's underlay address, the source of its slices' overlay
// tunnels ("" when the node has none: such a vserver then fails, saying
// so).
func specsOf(slivers []api.Sliver, local string) []vserver.Spec {
	out := make([]vserver.Spec, 0, len(slivers))
	for _, s := range slivers {
		spec := vserver.Spec{Slice: s.Slice, Image: s.Image, Rspec: s.Rspec, Expires: s.Expires,
			Stopped: s.Stopped, RestartGeneration: s.RestartGeneration}
		if n := s.Network; n != nil {
			spec.Overlay = &vserver.Overlay{VNI: n.VNI, Subnet: n.Subnet, Address: n.Address, Local: local,
				Peers: slices.Clone(n.Peers)}
		}
		out = append(out, spec)
	}
	return out
}

// sameSlivers compares two sets as they came over the wire: decoded
// times and pointers compare badly field by field.
func sameSlivers(a, b []api.Sliver) bool {
	ja, erra := json.Marshal(a)
	jb, errb := json.Marshal(b)
	return erra == nil && errb == nil && bytes.Equal(ja, jb)
}

func capacityOf(c node.Capacity) api.Capacity {
	return api.Capacity{CPUs: c.CPUs, Memory: c.Memory, Disk: c.Disk, NofileMax: c.NofileMax, MaxVservers: c.MaxVservers}
}

// policySummary is the node owner's policy in one line, as the authority
// shows it beside the node: what it refuses, caps and keeps back.
func policySummary(p *node.Policy) string {
	if p == nil {
		return "none"
	}
	var parts []string
	list := func(what string, names []string) {
		if len(names) > 0 {
			parts = append(parts, what+" "+strings.Join(names, ","))
		}
	}
	list("allow sites", p.AllowSites)
	list("deny sites", p.DenySites)
	list("allow slices", p.AllowSlices)
	list("deny slices", p.DenySlices)
	if p.MaxVservers > 0 {
		parts = append(parts, fmt.Sprintf("max %d vservers", p.MaxVservers))
	}
	if caps := rspecText(p.Caps); caps != "" {
		parts = append(parts, "caps "+caps)
	}
	var reserve []string
	if p.Reserve.CPUCores > 0 {
		reserve = append(reserve, "cpu_cores="+strconv.FormatFloat(p.Reserve.CPUCores, 'f', -1, 64))
	}
	if p.Reserve.Memory > 0 {
		reserve = append(reserve, "memory="+p.Reserve.Memory.String())
	}
	if len(reserve) > 0 {
		parts = append(parts, "reserve "+strings.Join(reserve, ","))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "; ")
}

// rspecText is the fields of r that are set, as field=value.
func rspecText(r vserver.Rspec) string {
	var out []string
	add := func(field string, set bool, value string) {
		if set {
			out = append(out, field+"="+value)
		}
	}
	add("cpu_share", r.CPUShare > 0, strconv.FormatUint(r.CPUShare, 10))
	add("cpu_cores", r.CPUCores > 0, strconv.FormatFloat(r.CPUCores, 'f', -1, 64))
	add("memory", r.Memory > 0, r.Memory.String())
	add("disk", r.Disk > 0, r.Disk.String())
	add("pids", r.Pids > 0, strconv.FormatInt(r.Pids, 10))
	add("net_rate", r.NetRate > 0, r.NetRate.String())
	add("nofile", r.Nofile > 0, strconv.FormatUint(uint64(r.Nofile), 10))
	return strings.Join(out, ",")
}

// stateSummary is the authority's vservers' states and reasons in one
// string: a report is due when it changes.
func stateSummary(vs []*vserver.VServer) string {
	var b strings.Builder
	for _, v := range vs {
		if v.Origin == SourceName {
			fmt.Fprintf(&b, "%s=%s:%s:%s;", v.Slice, v.State, reasonOf(v), v.IPAddress)
		}
	}
	return b.String()
}

// reasonOf says in plain words why a vserver is not running as asked.
func reasonOf(v *vserver.VServer) string {
	switch {
	case v.State == vserver.StateStopped && v.Held:
		return "stopped by the node's admin"
	case v.State == vserver.StateStopped && v.Stopped:
		return v.Reason // stopped as its slice asks
	case v.State == vserver.StateStopped:
		return fmt.Sprintf("its init exited (code %d); the node manager restarts it", v.ExitCode)
	}
	return v.Reason
}

func usageOf(st *vserver.Stats) *api.Usage {
	return &api.Usage{CPUSeconds: st.CPUSeconds, MemoryBytes: st.MemoryBytes, MemoryLimit: st.MemoryLimit,
		DiskBytes: st.DiskUsed, DiskLimit: st.DiskLimit, NetRxBytes: st.NetRxBytes, NetTxBytes: st.NetTxBytes, Pids: st.Pids}
}

// joinWords is "a", "a and b", "a, b and c".
func joinWords(w []string) string {
	if len(w) <= 1 {
		return strings.Join(w, "")
	}
	return strings.Join(w[:len(w)-1], ", ") + " and " + w[len(w)-1]
}
