package engine

import (
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"pcr/runtime"
)

// Remove removes a container: refused while it runs unless force, which
// kills it first. Whatever a killed pcr left half-made (a record without
// a bundle, a mount, runtime state, a name) goes too.
func (e *Engine) Remove(ref string, force bool) error {
	id, err := e.Lookup(ref)
	if err != nil {
		return err
	}
	c, err := e.load(id)
	if err != nil {
		return err
	}
	if c.State.Running && !force {
		return fmt.Errorf("cannot remove container %s: container is %s: stop it first or use rm -f", ref, c.State.Status)
	}
	if force {
		e.kill(id, c.Record)
	}
	return e.remove(id)
}

// kill SIGKILLs everything in the container and waits for its monitor,
// whose cleanup takes the lock that remove is about to take.
func (e *Engine) kill(id string, rec *Record) {
	if st, err := e.rt.Load(id); err == nil && st.Status != runtime.StatusStopped {
		if st.Status == runtime.StatusPaused {
			e.rt.Resume(id)
		}
		e.rt.Kill(id, unix.SIGKILL, true)
	}
	if rec != nil {
		e.waitMonitor(rec, 10*time.Second)
	}
}

// remove tears down and deletes the container under its lock.
func (e *Engine) remove(id string) error {
	dir := e.dir(id)
	unlock, err := lockContainer(dir)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil // an --rm cleanup got there first
		}
		return err
	}
	defer unlock()
	name := ""
	if rec, err := readRecord(dir); err == nil {
		name = rec.Name
	} else if !errors.Is(err, os.ErrNotExist) {
		e.warnf("container %s: unreadable record, removing anyway: %v", ShortID(id), err)
	}
	if err := e.teardown(id); err != nil {
		return fmt.Errorf("remove container %s: %w", ShortID(id), err)
	}
	return e.removeFiles(id, name)
}

// waitMonitor waits until the process waiting for the run (its monitor
// and the cleanup it execs, or a foreground pcr) has exited.
func (e *Engine) waitMonitor(rec *Record, timeout time.Duration) bool {
	if rec.Monitor == 0 {
		// a detached start still in progress: the helper has written the pid
		if data, err := os.ReadFile(e.dir(rec.ID) + "/" + monitorPidFile); err == nil {
			r := *rec
			if _, err := fmt.Sscan(string(data), &r.Monitor); err == nil {
				r.MonitorStart = procStart(r.Monitor)
				rec = &r
			}
		}
	}
	if !monitorAlive(rec) {
		return true
	}
	fd, err := unix.PidfdOpen(rec.Monitor, 0)
	if err != nil {
		return !monitorAlive(rec)
	}
	defer unix.Close(fd)
	if !monitorAlive(rec) { // the pid was reused between the check and the open
		return true
	}
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	deadline := time.Now().Add(timeout)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		n, err := unix.Poll(fds, int(left.Milliseconds())+1)
		if err == unix.EINTR {
			continue
		}
		return err == nil && n > 0
	}
}

func (e *Engine) warnf(format string, args ...any) {
	fmt.Fprintf(e.log, "pcr: warning: "+format+"\n", args...)
}
