package node

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"pcr/vserver"
)

// Policy is the node owner's say over what runs on the node (--policy
// FILE): which sites and slices may have a vserver, how many vservers at
// most, caps on each rspec field, and a share of the node kept for the
// node's own use. Every refusal and cap carries a plain reason that ls
// and inspect show.
type Policy struct {
	AllowSites  []string `json:"allow_sites,omitempty"`
	DenySites   []string `json:"deny_sites,omitempty"`
	AllowSlices []string `json:"allow_slices,omitempty"`
	DenySlices  []string `json:"deny_slices,omitempty"`
	// MaxVservers is the most vservers the node runs; 0 is no limit.
	MaxVservers int `json:"max_vservers,omitempty"`
	// Caps lower each field of a requested rspec; an unlimited request
	// gets the cap. Zero fields cap nothing.
	Caps vserver.Rspec `json:"caps,omitzero"`
	// Reserve is kept for the node itself: the vservers' common cgroup
	// gets the rest, and memory limits beyond the rest are refused.
	Reserve Reserve `json:"reserve,omitzero"`

	node NodeResources
}

// Reserve is what the node keeps for its own use.
type Reserve struct {
	CPUCores float64       `json:"cpu_cores,omitempty"`
	Memory   vserver.Bytes `json:"memory,omitempty"`
}

// NodeResources is what the node has in all.
type NodeResources struct {
	CPUs   float64
	Memory int64
}

// HostResources reads this machine's CPU count and memory.
func HostResources() NodeResources {
	n := NodeResources{CPUs: float64(runtime.NumCPU())}
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) == nil {
		n.Memory = int64(si.Totalram) * int64(si.Unit)
	}
	return n
}

// Refusal is a request the node's policy turns down; its text is the
// plain reason shown to the user.
type Refusal struct{ Reason string }

func (r *Refusal) Error() string { return r.Reason }

// IsRefusal tells a policy refusal from a failure.
func IsRefusal(err error) bool {
	var r *Refusal
	return errors.As(err, &r)
}

func refuse(format string, args ...any) *Refusal {
	return &Refusal{Reason: fmt.Sprintf(format, args...)}
}

var sitePattern = regexp.MustCompile(`^[a-z][a-z0-9]{1,19}$`)

// LoadPolicy reads a policy file for this machine.
func LoadPolicy(path string) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read policy: %w", err)
	}
	p, err := ParsePolicy(data, HostResources())
	if err != nil {
		return nil, fmt.Errorf("policy %s: %w", path, err)
	}
	return p, nil
}

// ParsePolicy reads and checks a policy for a node with the resources of
// node. Unknown fields are errors: a misspelt deny list would allow all.
func ParsePolicy(data []byte, node NodeResources) (*Policy, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	p := &Policy{}
	if err := dec.Decode(p); err != nil {
		return nil, jsonError(data, dec, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%s: unexpected content after the top-level object", position(data, dec.InputOffset()))
	}
	p.node = node
	if err := p.validate(); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *Policy) validate() error {
	for _, l := range []struct {
		name  string
		sites []string
	}{{"allow_sites", p.AllowSites}, {"deny_sites", p.DenySites}} {
		for _, s := range l.sites {
			if !sitePattern.MatchString(s) {
				return fmt.Errorf("%s: invalid site %q: want 2-20 lowercase letters and digits, starting with a letter", l.name, s)
			}
		}
	}
	for _, l := range []struct {
		name   string
		slices []string
	}{{"allow_slices", p.AllowSlices}, {"deny_slices", p.DenySlices}} {
		for _, s := range l.slices {
			if err := vserver.ValidateSlice(s); err != nil {
				return fmt.Errorf("%s: %w", l.name, err)
			}
		}
	}
	if p.MaxVservers < 0 {
		return fmt.Errorf("max_vservers %d must not be negative", p.MaxVservers)
	}
	if err := p.Caps.Validate(); err != nil {
		return fmt.Errorf("caps: %s", strings.TrimPrefix(err.Error(), "invalid rspec: "))
	}
	r := p.Reserve
	if r.CPUCores < 0 || r.CPUCores != r.CPUCores {
		return fmt.Errorf("reserve: cpu_cores %g must not be negative", r.CPUCores)
	}
	if p.node.CPUs > 0 && r.CPUCores > 0 && p.node.CPUs-r.CPUCores < 0.01 {
		return fmt.Errorf("reserve: cpu_cores %g leaves nothing of the node's %g cores for vservers", r.CPUCores, p.node.CPUs)
	}
	if r.Memory < 0 {
		return fmt.Errorf("reserve: memory %d must not be negative", r.Memory)
	}
	if p.node.Memory > 0 && r.Memory > 0 && int64(r.Memory) >= p.node.Memory {
		return fmt.Errorf("reserve: memory %s leaves nothing of the node's %s for vservers", sizeText(int64(r.Memory)), sizeText(p.node.Memory))
	}
	return nil
}

// Node is what the policy takes the node to have.
func (p *Policy) Node() NodeResources { return p.node }

// VserverCPUs is the cores left to all vservers together, 0 when the
// policy keeps none back (no limit).
func (p *Policy) VserverCPUs() float64 {
	if p == nil || p.Reserve.CPUCores == 0 || p.node.CPUs == 0 {
		return 0
	}
	return p.node.CPUs - p.Reserve.CPUCores
}

// VserverMemory is the memory left to all vservers together, 0 when the
// policy keeps none back (no limit).
func (p *Policy) VserverMemory() int64 {
	if p == nil || p.Reserve.Memory == 0 || p.node.Memory == 0 {
		return 0
	}
	return p.node.Memory - int64(p.Reserve.Memory)
}

// Admit decides whether spec may have a vserver beside others (the
// vservers the node holds already, without spec's own) and with which
// limits. A refusal is a *Refusal saying why in plain words; reason lists
// what the caps changed ("" when nothing). A nil policy admits all as is.
func (p *Policy) Admit(spec vserver.Spec, others []*vserver.VServer) (applied vserver.Rspec, reason string, err error) {
	applied = spec.Rspec
	if p == nil {
		return applied, "", nil
	}
	slice, site := spec.Slice, vserver.Site(spec.Slice)
	switch {
	case slices.Contains(p.DenySlices, slice):
		return applied, "", refuse("slice %s is refused by the node's policy", slice)
	case slices.Contains(p.DenySites, site):
		return applied, "", refuse("site %s is refused by the node's policy", site)
	}
	if len(p.AllowSlices) > 0 || len(p.AllowSites) > 0 {
		if !slices.Contains(p.AllowSlices, slice) && !slices.Contains(p.AllowSites, site) {
			switch {
			case len(p.AllowSites) == 0:
				return applied, "", refuse("slice %s is not in the node's allowed slices", slice)
			case len(p.AllowSlices) == 0:
				return applied, "", refuse("site %s is not in the node's allowed sites", site)
			}
			return applied, "", refuse("slice %s is not in the node's allowed slices or sites", slice)
		}
	}
	if p.MaxVservers > 0 && len(others) >= p.MaxVservers {
		return applied, "", refuse("the node's limit of %d vservers is reached", p.MaxVservers)
	}
	var changes []string
	capped := func(field, from, to string) {
		changes = append(changes, fmt.Sprintf("%s capped from %s to %s", field, from, to))
	}
	c := p.Caps
	if share := cmp.Or(applied.CPUShare, 1024); c.CPUShare > 0 && share > c.CPUShare {
		from := strconv.FormatUint(share, 10)
		if applied.CPUShare == 0 {
			from = "the default 1024"
		}
		capped("cpu_share", from, strconv.FormatUint(c.CPUShare, 10))
		applied.CPUShare = c.CPUShare
	}
	if c.CPUCores > 0 && (applied.CPUCores == 0 || applied.CPUCores > c.CPUCores) {
		capped("cpu_cores", coresText(applied.CPUCores), coresText(c.CPUCores))
		applied.CPUCores = c.CPUCores
	}
	if c.Memory > 0 && (applied.Memory == 0 || applied.Memory > c.Memory) {
		capped("memory", bytesText(applied.Memory), bytesText(c.Memory))
		applied.Memory = c.Memory
	}
	if c.Disk > 0 && (applied.Disk == 0 || applied.Disk > c.Disk) {
		capped("disk", bytesText(applied.Disk), bytesText(c.Disk))
		applied.Disk = c.Disk
	}
	if c.Pids > 0 && (applied.Pids == 0 || applied.Pids > c.Pids) {
		capped("pids", countText(applied.Pids), countText(c.Pids))
		applied.Pids = c.Pids
	}
	if c.NetRate > 0 && (applied.NetRate == 0 || applied.NetRate > c.NetRate) {
		from := "unlimited"
		if applied.NetRate != 0 {
			from = applied.NetRate.String()
		}
		capped("net_rate", from, c.NetRate.String())
		applied.NetRate = c.NetRate
	}
	if c.Nofile > 0 && (applied.Nofile == 0 || applied.Nofile > c.Nofile) {
		capped("nofile", countText(int64(applied.Nofile)), countText(int64(c.Nofile)))
		applied.Nofile = c.Nofile
	}
	if byPolicy := len(changes); byPolicy > 0 {
		changes[byPolicy-1] += " by the node's policy"
	}
	if avail := p.VserverCPUs(); avail > 0 && applied.CPUCores > avail {
		capped("cpu_cores", coresText(applied.CPUCores), coresText(avail))
		changes[len(changes)-1] += fmt.Sprintf(" (%s reserved for the node)", coresText(p.Reserve.CPUCores))
		applied.CPUCores = avail
	}
	if avail := p.VserverMemory(); avail > 0 && applied.Memory > 0 {
		var committed int64
		for _, o := range others {
			committed += int64(o.Applied.Memory)
		}
		left := max(avail-committed, 0)
		if int64(applied.Memory) > left {
			return spec.Rspec, "", refuse("memory %s requested but the node has %s left for vservers (%s reserved for the node)",
				sizeText(int64(applied.Memory)), sizeText(left), sizeText(int64(p.Reserve.Memory)))
		}
	}
	return applied, strings.Join(changes, "; "), nil
}

func coresText(c float64) string {
	if c == 0 {
		return "unlimited"
	}
	return strconv.FormatFloat(c, 'f', -1, 64)
}

func bytesText(b vserver.Bytes) string {
	if b == 0 {
		return "unlimited"
	}
	return sizeText(int64(b))
}

func countText(n int64) string {
	if n == 0 {
		return "unlimited"
	}
	return strconv.FormatInt(n, 10)
}

// sizeText is a size as people write it: exact when its unit divides it
// ("512M"), else to one decimal ("1.5G").
func sizeText(n int64) string {
	for _, u := range []struct {
		s string
		n int64
	}{{"T", 1 << 40}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}} {
		if n >= u.n {
			if n%u.n == 0 {
				return strconv.FormatInt(n/u.n, 10) + u.s
			}
			return strconv.FormatFloat(float64(n)/float64(u.n), 'f', 1, 64) + u.s
		}
	}
	return strconv.FormatInt(n, 10)
}
