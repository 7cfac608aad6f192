package runtime

import (
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"pcr/cgroup"
	"pcr/internal/fmtlite"
)

// ParseSignal accepts "KILL", "SIGKILL" or "9".
func ParseSignal(s string) (unix.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, fmtlite.Errorf("invalid signal %q", s)
		}
		return unix.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	sig := unix.SignalNum(name)
	if sig == 0 {
		return 0, fmtlite.Errorf("unknown signal %q", s)
	}
	return sig, nil
}

// Kill signals the init, or with all every process in the container.
func (r *Runtime) Kill(id string, sig unix.Signal, all bool) error {
	st, err := r.Load(id)
	if err != nil {
		return err
	}
	if st.Status == StatusStopped || st.Status == StatusCreating {
		if all && st.Status == StatusStopped {
			// runc allows --all on a stopped container whose processes linger.
			if m, err := cgroup.Load(st.Cgroup); err == nil {
				return m.Kill(sig)
			}
		}
		return fmtlite.Errorf("container %s is not running", id)
	}
	if all {
		m, err := cgroup.Load(st.Cgroup)
		if err != nil {
			return err
		}
		if err := m.Kill(sig); err != nil {
			return fmtlite.Errorf("kill --all %s: %w", id, err)
		}
		return nil
	}
	if err := unix.Kill(st.Pid, sig); err != nil {
		return fmtlite.Errorf("kill %s (pid %d) with %s: %w", id, st.Pid, sig, err)
	}
	return nil
}
