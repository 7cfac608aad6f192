package engine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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
		// A removal under way (an --rm container's own cleanup) has already
		// renamed the container away; wait for it, so that what the caller
		// sees after "no such container" is the finished state.
		e.waitRemoval(ref)
		return err
	}
	c, err := e.load(id)
	if err != nil {
		return err
	}
	if c.State.Running && !force {
		return errRunning(ref, c.State.Status)
	}
	if err := e.remove(id, force); err != nil {
		return err
	}
	e.sweepTrash()
	if err := e.sweepNetworks(); err != nil {
		e.warnf("release the networks of removed containers: %v", err)
	}
	return nil
}

func errRunning(ref, status string) error {
	return fmt.Errorf("cannot remove container %s: container is %s: stop it first or use rm -f", ref, status)
}

// remove tears down and deletes the container, all under its lock: a
// start helper creating the runtime's container holds it too, so the
// removal comes wholly before it (the helper then finds nothing to start)
// or after (the runtime's container exists, and goes here). Deleting the
// runtime's container kills what runs in it; the monitor then records an
// exit nobody reads and its cleanup finds the container gone. remove
// returns once that monitor has exited, so nothing of the container is
// left when rm returns.
func (e *Engine) remove(id string, force bool) error {
	dir := e.dir(id)
	unlock, err := lockContainer(dir)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil // an --rm cleanup got there first
		}
		return err
	}
	defer unlock()
	rec, err := readRecord(dir)
	switch {
	case err == nil:
		st := e.stateOf(rec)
		if st.Running && !force {
			return errRunning(ShortID(id), st.Status)
		}
	case errors.Is(err, os.ErrNotExist):
		rec = nil
	default:
		e.warnf("container %s: unreadable record, removing anyway: %v", ShortID(id), err)
		rec = nil
	}
	monitors := e.monitorsOf(id, rec)
	if st, err := e.rt.Load(id); err == nil && st.Status == runtime.StatusPaused {
		e.rt.Resume(id)
	}
	if err := e.teardown(id); err != nil {
		return fmt.Errorf("remove container %s: %w", ShortID(id), err)
	}
	name := ""
	if rec != nil {
		name = rec.Name
	}
	if err := e.removeFiles(id, name); err != nil {
		return err
	}
	unlock()
	for _, m := range monitors {
		e.waitProcess(m, 10*time.Second)
	}
	return nil
}

// proc is a process known by pid and start time, so that a reused pid is
// not taken for it.
type proc struct {
	pid   int
	start uint64
}

func (p proc) alive() bool { return p.pid > 0 && procStart(p.pid) == p.start }

// monitorsOf are the processes that wait for the container's current run
// and act on its end: the recorded monitor (or the pcr starting or
// running it), and the monitor the start helper named, which a pcr killed
// while starting never recorded. This process is left out.
func (e *Engine) monitorsOf(id string, rec *Record) []proc {
	var out []proc
	if rec != nil && rec.Monitor > 0 && rec.Monitor != os.Getpid() {
		out = append(out, proc{rec.Monitor, rec.MonitorStart})
	}
	if data, err := os.ReadFile(filepath.Join(e.dir(id), monitorPidFile)); err == nil {
		if pid, err := strconv.Atoi(string(data)); err == nil && pid != os.Getpid() && (rec == nil || pid != rec.Monitor) {
			out = append(out, proc{pid, procStart(pid)})
		}
	}
	return out
}

// waitMonitor waits until the processes waiting for the run (its monitor
// and the cleanup it execs, or a foreground pcr) have exited.
func (e *Engine) waitMonitor(rec *Record, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for _, p := range e.monitorsOf(rec.ID, rec) {
		if !e.waitProcess(p, time.Until(deadline)) {
			return false
		}
	}
	return true
}

// waitProcess waits until p has exited, or timeout.
func (e *Engine) waitProcess(p proc, timeout time.Duration) bool {
	if !p.alive() {
		return true
	}
	fd, err := unix.PidfdOpen(p.pid, 0)
	if err != nil {
		return !p.alive()
	}
	defer unix.Close(fd)
	if !p.alive() { // the pid was reused between the check and the open
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

// removalWait bounds how long Remove waits for another process's removal.
const removalWait = 10 * time.Second

// waitRemoval waits until a removal of ref that another process started is
// over: its trash directory gone and the process doing it (the monitor's
// cleanup, which is the monitor itself after exec) exited.
func (e *Engine) waitRemoval(ref string) {
	id := strings.TrimPrefix(ref, "/")
	if !isFullID(id) {
		target, err := os.Readlink(e.namePath(id))
		if err != nil || !isFullID(target) {
			return
		}
		id = target
	}
	trash := filepath.Join(e.containersDir(), trashPrefix+id)
	var remover proc // unknown once the record itself was deleted
	if rec, err := readRecord(trash); err == nil {
		remover = proc{rec.Monitor, rec.MonitorStart}
	}
	deadline := time.Now().Add(removalWait)
	for (exists(trash) || remover.alive()) && time.Now().Before(deadline) {
		time.Sleep(pollInterval)
	}
}
