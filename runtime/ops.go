package runtime

import (
	"pcr/cgroup"
	"pcr/internal/fmtlite"
)

// Pause freezes every process of a running container.
func (r *Runtime) Pause(id string) error {
	st, m, err := r.loadWithCgroup(id)
	if err != nil {
		return err
	}
	if st.Status != StatusRunning && st.Status != StatusCreated {
		return fmtlite.Errorf("cannot pause container %s: it is %s", id, st.Status)
	}
	if err := m.Freeze(); err != nil {
		return fmtlite.Errorf("pause %s: %w", id, err)
	}
	return nil
}

// Resume thaws a paused container.
func (r *Runtime) Resume(id string) error {
	st, m, err := r.loadWithCgroup(id)
	if err != nil {
		return err
	}
	if st.Status != StatusPaused {
		return fmtlite.Errorf("cannot resume container %s: it is %s, not paused", id, st.Status)
	}
	if err := m.Thaw(); err != nil {
		return fmtlite.Errorf("resume %s: %w", id, err)
	}
	return nil
}

// Pids lists the host pids of a container's processes.
func (r *Runtime) Pids(id string) ([]int, error) {
	_, m, err := r.loadWithCgroup(id)
	if err != nil {
		return nil, err
	}
	return m.Pids()
}

// Stats reads a container's cgroup statistics.
func (r *Runtime) Stats(id string) (*cgroup.Stats, error) {
	st, m, err := r.loadWithCgroup(id)
	if err != nil {
		return nil, err
	}
	if st.Status == StatusStopped {
		return nil, fmtlite.Errorf("container %s is stopped", id)
	}
	return m.Stats()
}

func (r *Runtime) loadWithCgroup(id string) (*State, cgroup.Manager, error) {
	st, err := r.Load(id)
	if err != nil {
		return nil, nil, err
	}
	m, err := cgroup.Load(st.Cgroup)
	if err != nil {
		return nil, nil, fmtlite.Errorf("container %s: %w", id, err)
	}
	return st, m, nil
}
