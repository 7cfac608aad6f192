package runtime

import (
	"os"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"pcr/internal/fmtlite"
)

// Start releases a created container's init: opening exec.fifo for reading
// unblocks its write, and removing the fifo marks the container running.
func (r *Runtime) Start(id string) error {
	st, err := r.Load(id)
	if err != nil {
		return err
	}
	return r.start(st)
}

// start is Start on a state already in hand (run has it from create).
func (r *Runtime) start(st *State) error {
	id := st.ID
	unlock, err := lockDir(st.dir)
	if err != nil {
		return err
	}
	defer unlock()
	st.refresh()
	switch st.Status {
	case StatusCreated:
	case StatusStopped:
		return fmtlite.Errorf("cannot start a container that has stopped")
	default:
		return fmtlite.Errorf("cannot start a container in the %s state", st.Status)
	}
	fd, err := unix.Open(st.fifoPath(), unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmtlite.Errorf("start %s: open exec fifo: %w", id, err)
	}
	defer unix.Close(fd)
	// Init is blocked in open(O_WRONLY) and writes one byte once we are here.
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(pfd, 100)
		if err != nil && err != unix.EINTR {
			return fmtlite.Errorf("start %s: wait on exec fifo: %w", id, err)
		}
		if n > 0 {
			var b [1]byte
			if n, _ := unix.Read(fd, b[:]); n == 1 {
				break
			}
		}
		if !processAlive(st.Pid, st.PidStart) {
			return fmtlite.Errorf("start %s: init process %d is gone", id, st.Pid)
		}
	}
	// The init holds its end open through the startContainer hooks until its
	// execve; EOF (or its death) means the payload runs.
	for {
		n, err := unix.Poll(pfd, 100)
		if err != nil && err != unix.EINTR {
			return fmtlite.Errorf("start %s: wait for exec: %w", id, err)
		}
		if n > 0 {
			var b [1]byte
			if n, err := unix.Read(fd, b[:]); n == 0 && err == nil {
				break
			}
		}
		if !processAlive(st.Pid, st.PidStart) {
			break
		}
	}
	if err := os.Remove(st.fifoPath()); err != nil {
		return fmtlite.Errorf("start %s: remove exec fifo: %w", id, err)
	}
	r.Trace.Stage("container started")
	spec, err := st.Spec()
	if err != nil {
		// The container runs; only its poststart hooks are unknown.
		r.warnf("start %s: %v", id, err)
	} else if spec != nil && spec.Hooks != nil && len(spec.Hooks.Poststart) > 0 {
		hs := st.SpecState()
		hs.Status = specs.StateRunning
		if err := runHooks("poststart", spec.Hooks.Poststart, hs); err != nil {
			// The spec says a failing poststart hook is only logged.
			r.warnf("%v", err)
		}
	}
	return nil
}

// waitGone waits (bounded) for a process to disappear after a kill.
func waitGone(pid int, start uint64, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for processAlive(pid, start) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
	return true
}
