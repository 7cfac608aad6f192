package runtime

import (
	"errors"
	"os"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"pcr/cgroup"
	"pcr/internal/fmtlite"
)

// Delete removes a stopped container (or any, with force): its processes,
// cgroup and state. Poststop hooks run last; their failure is reported but
// does not keep the container.
func (r *Runtime) Delete(id string, force bool) error {
	st, err := r.Load(id)
	if err != nil {
		return err
	}
	return r.delete(st, force)
}

// delete is Delete on a state already in hand: run has it from create and
// need not read and parse state.json (the whole spec) again.
func (r *Runtime) delete(st *State, force bool) error {
	id := st.ID
	unlock, err := lockDir(st.dir)
	if errors.Is(err, os.ErrNotExist) {
		return fmtlite.Errorf("container %s: %w", id, ErrNotExist)
	}
	if err != nil {
		return err
	}
	defer unlock()
	st.refresh()
	if st.Status != StatusStopped && st.Status != StatusCreating && !force {
		if st.Status == StatusCreated {
			// runc deletes a created container without --force: it never ran.
			force = true
		} else {
			return fmtlite.Errorf("cannot delete container %s that is not stopped: %s (use --force)", id, st.Status)
		}
	}
	var cg cgroup.Manager
	if len(st.Cgroup.Paths) > 0 {
		cg, err = cgroup.Load(st.Cgroup)
		if err != nil {
			return fmtlite.Errorf("delete %s: %w", id, err)
		}
	}
	if st.Pid > 0 && processAlive(st.Pid, st.PidStart) {
		if cg != nil {
			cg.Thaw()
		}
		unix.Kill(st.Pid, unix.SIGKILL)
		if !waitGone(st.Pid, st.PidStart, 10*time.Second) {
			return fmtlite.Errorf("delete %s: init %d did not die", id, st.Pid)
		}
	}
	if cg != nil {
		// Without its own pid namespace the init's death leaves the rest.
		cg.Thaw()
		if pids, _ := cg.Pids(); len(pids) > 0 {
			cg.Kill(unix.SIGKILL)
		}
		if err := cg.Delete(); err != nil {
			return fmtlite.Errorf("delete %s: %w", id, err)
		}
	}
	var hookErr error
	if spec, err := st.Spec(); err != nil {
		hookErr = err
	} else if spec != nil && spec.Hooks != nil && len(spec.Hooks.Poststop) > 0 {
		hs := st.SpecState()
		hs.Status = specs.StateStopped
		hookErr = runHooks("poststop", spec.Hooks.Poststop, hs)
	}
	if err := os.RemoveAll(st.dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmtlite.Errorf("delete %s: remove state: %w", id, err)
	}
	if hookErr != nil {
		r.warnf("%v", hookErr)
	}
	return nil
}
