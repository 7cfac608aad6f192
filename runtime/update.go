package runtime

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"pcr/cgroup"
	"pcr/internal/fmtlite"
)

// Update writes new limits into a live container's cgroup, as runc update
// does: only what res sets changes (on v1, memory and memory+swap are
// written in whichever order the kernel accepts). The state's copy of the
// spec is updated too, so exec and inspect see the limits in force.
func (r *Runtime) Update(id string, res *specs.LinuxResources) error {
	st, err := r.Load(id)
	if err != nil {
		return err
	}
	unlock, err := lockDir(st.dir)
	if err != nil {
		return err
	}
	defer unlock()
	// Read again under the lock: the state is saved below, and another
	// update (or the start) may have saved it since the first read.
	if st, err = r.Load(id); err != nil {
		return err
	}
	st.refresh()
	switch st.Status {
	case StatusCreated, StatusRunning, StatusPaused:
	default:
		return fmtlite.Errorf("update container %s: it is %s, not running", id, st.Status)
	}
	m, err := cgroup.Load(st.Cgroup)
	if err != nil {
		return fmtlite.Errorf("update container %s: %w", id, err)
	}
	if err := m.Apply(res); err != nil {
		return fmtlite.Errorf("update container %s: %w", id, err)
	}
	spec, err := st.Spec()
	if err != nil {
		return fmtlite.Errorf("update container %s: %w", id, err)
	}
	if spec != nil && spec.Linux != nil {
		spec.Linux.Resources = mergeResources(spec.Linux.Resources, res)
		if err := st.setSpec(spec); err != nil {
			return fmtlite.Errorf("update container %s: %w", id, err)
		}
	}
	st.Cgroup = m.State()
	return st.save()
}

// mergeResources is old with each part res sets replaced.
func mergeResources(old, res *specs.LinuxResources) *specs.LinuxResources {
	if old == nil {
		old = &specs.LinuxResources{}
	}
	out := *old
	if res.Memory != nil {
		out.Memory = res.Memory
	}
	if res.CPU != nil {
		out.CPU = res.CPU
	}
	if res.Pids != nil {
		out.Pids = res.Pids
	}
	if res.BlockIO != nil {
		out.BlockIO = res.BlockIO
	}
	return &out
}
