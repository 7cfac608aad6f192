package engine

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"pcr/engine/internal/monitor"
	"pcr/runtime"
)

// pollInterval paces the waits for a container's end that cannot block on
// a child (the container is not ours: its monitor or another pcr waits).
const pollInterval = 10 * time.Millisecond

// Stop sends the container's stop signal (--stop-signal, the image's
// STOPSIGNAL, or SIGTERM) to its init, and SIGKILL to everything in it
// when it is still running after timeout. It returns once the run
// has been cleaned up. Stopping a stopped container does nothing.
func (e *Engine) Stop(ref string, timeout time.Duration) error {
	c, err := e.Inspect(ref)
	if err != nil {
		return err
	}
	if !c.State.Running {
		return nil
	}
	if c.State.Paused {
		e.rt.Resume(c.ID)
	}
	if err := e.rt.Kill(c.ID, e.stopSignal(c.Record), false); err == nil {
		if e.waitStopped(c.Record, timeout) {
			e.waitMonitor(c.Record, 10*time.Second)
			return nil
		}
	}
	e.rt.Kill(c.ID, unix.SIGKILL, true)
	if !e.waitStopped(c.Record, 10*time.Second) {
		return fmt.Errorf("stop container %s: still running 10s after SIGKILL", ShortID(c.ID))
	}
	e.waitMonitor(c.Record, 10*time.Second)
	return nil
}

// stopSignal is the signal stop sends first. One the image got wrong is
// not worth failing the stop for: SIGTERM then, as Docker would.
func (e *Engine) stopSignal(rec *Record) unix.Signal {
	if rec.StopSignal == "" {
		return unix.SIGTERM
	}
	sig, err := runtime.ParseSignal(rec.StopSignal)
	if err != nil {
		e.warnf("container %s: stop signal %q: %v; sending SIGTERM", ShortID(rec.ID), rec.StopSignal, err)
		return unix.SIGTERM
	}
	return sig
}

// waitStopped polls until the container's init is gone.
func (e *Engine) waitStopped(rec *Record, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		st, err := e.rt.Load(rec.ID)
		if err != nil || st.Status == runtime.StatusStopped {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(pollInterval)
	}
}

// Kill sends sig to the container's init.
func (e *Engine) Kill(ref string, sig unix.Signal) error {
	c, err := e.Inspect(ref)
	if err != nil {
		return err
	}
	if !c.State.Running {
		return fmt.Errorf("cannot kill container %s: container is not running", ref)
	}
	if err := e.rt.Kill(c.ID, sig, false); err != nil {
		return fmt.Errorf("kill container %s: %w", ref, err)
	}
	return nil
}

// Restart stops the container (if running) and starts it detached.
func (e *Engine) Restart(ref string, timeout time.Duration) error {
	if err := e.Stop(ref, timeout); err != nil {
		return err
	}
	_, err := e.Start(ref)
	return err
}

// Wait blocks until the container has exited and returns its exit code.
// It needs nothing of the process that started the container: the exit
// record is on disk. A container removed meanwhile (--rm) returns the
// last code seen.
func (e *Engine) Wait(ref string) (int, error) {
	id, err := e.Lookup(ref)
	if err != nil {
		return 0, err
	}
	dir := e.dir(id)
	for {
		c, err := e.load(id)
		if err != nil {
			// An --rm container being removed: its exit record may still be
			// in the directory, or in the trash it was renamed to.
			for _, d := range []string{dir, filepath.Join(e.containersDir(), trashPrefix+id)} {
				if ex, rerr := monitor.ReadExit(d); rerr == nil {
					return ex.Code, nil
				}
			}
			if errors.Is(err, ErrNoSuchContainer) || !exists(dir) {
				return 0, fmt.Errorf("container %s was removed before its exit code was read", ref)
			}
			return 0, err
		}
		if c.State.Status == StatusExited {
			return c.State.ExitCode, nil
		}
		if c.State.Status == StatusDead {
			return 0, fmt.Errorf("container %s is dead", ref)
		}
		time.Sleep(pollInterval)
	}
}
