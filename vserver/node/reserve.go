package node

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"pcr/cgroup"
	"pcr/vserver"
)

// vserverParent is the cgroup all the daemon's vservers go in, limited
// to what the node's reserve leaves them. It lies in pcr's own "pcr"
// cgroup below the daemon's cgroup, as every container of pcr does, and
// is named after the root so that two node managers on one machine (the
// multi-node tests) never share it. It outlives the daemon, as the
// vservers in it do; shutdown removes it only when it is empty.
type vserverParent struct {
	path string // relative cgroupsPath, what CreateOptions.CgroupParent takes
	mgr  cgroup.Manager
}

// ParentCgroup is the relative cgroup path of the vservers of root.
func ParentCgroup(root string) string { return vserver.CgroupParent(root) }

// openVserverParent creates (or adopts, after a restart) the parent
// cgroup of root's vservers and sets its limits from pol.
func openVserverParent(root string, pol *Policy) (*vserverParent, error) {
	path := ParentCgroup(root)
	host, err := cgroup.DetectHost()
	if err != nil {
		return nil, err
	}
	m, err := host.New(path, "")
	if err != nil {
		return nil, err
	}
	if err := m.Apply(nil); err != nil {
		return nil, fmt.Errorf("create cgroup %s: %w", path, err)
	}
	// The cgroup is named after this root, so a previous node manager of
	// it made it (one killed before it could remove it): it is ours to
	// limit. "pcr" above it is pcr's shared parent, removed when empty.
	if m, err = vserver.AdoptCgroupParent(path); err != nil {
		return nil, err
	}
	st := m.State()
	if st.Version == cgroup.ModeV2 {
		// cgroup v2 hands a controller to the vservers' cgroups only
		// when their parent enables it in its subtree; v1 needs nothing.
		if err := enableSubtree(st.Paths[""]); err != nil {
			return nil, err
		}
	}
	p := &vserverParent{path: path, mgr: m}
	if err := p.limit(pol); err != nil {
		p.remove()
		return nil, err
	}
	return p, nil
}

// limit gives the vservers together what the node's reserve leaves:
// NumCPU − reserve.cpu_cores cores and total − reserve.memory bytes; no
// reserve lifts the limit.
func (p *vserverParent) limit(pol *Policy) error {
	const period = 100000
	quota, mem := int64(-1), int64(-1)
	if c := pol.VserverCPUs(); c > 0 {
		quota = int64(c * period)
	}
	if m := pol.VserverMemory(); m > 0 {
		mem = m
	}
	per := uint64(period)
	res := &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: &mem},
		CPU:    &specs.LinuxCPU{Quota: &quota, Period: &per},
	}
	if err := p.mgr.Apply(res); err != nil {
		return fmt.Errorf("limit the vservers' cgroup %s to the node's reserve: %w", p.path, err)
	}
	return nil
}

// remove deletes the parent cgroup when no vserver is left in it; while
// one is, it stays, limits and all, for the next node manager.
func (p *vserverParent) remove() (bool, error) { return vserver.RemoveCgroupParentIfEmpty(p.mgr) }

// enableSubtree enables in dir's subtree every controller dir has, as
// the cgroup package does for the parents it makes: dir is the vservers'
// parent, which pcr made.
func enableSubtree(dir string) error {
	have, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
	if err != nil {
		return fmt.Errorf("enable controllers in %s: %w", dir, err)
	}
	ctrls := strings.Fields(string(have))
	if len(ctrls) == 0 {
		return nil
	}
	file := filepath.Join(dir, "cgroup.subtree_control")
	if os.WriteFile(file, []byte("+"+strings.Join(ctrls, " +")), 0) == nil {
		return nil
	}
	var failed []string
	for _, c := range ctrls {
		if err := os.WriteFile(file, []byte("+"+c), 0); err != nil {
			failed = append(failed, c)
		}
	}
	if slices.Contains(failed, "memory") || slices.Contains(failed, "cpu") || slices.Contains(failed, "pids") {
		return fmt.Errorf("enable controllers %s in %s: the kernel refused them", strings.Join(failed, ","), file)
	}
	return nil
}
