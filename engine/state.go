package engine

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"pcr/engine/internal/monitor"
	"pcr/runtime"
)

// Container statuses, as Docker names them.
const (
	StatusCreated = "created"
	StatusRunning = "running"
	StatusPaused  = "paused"
	StatusExited  = "exited"
	// StatusDead is a directory without a readable record: a create that
	// was killed before writing it. Only rm -f applies.
	StatusDead = "dead"
)

// State is a container's live state, derived each time from the runtime
// and the exit record, never trusted from the record alone.
type State struct {
	Status     string    `json:"Status"`
	Running    bool      `json:"Running"`
	Paused     bool      `json:"Paused"`
	Pid        int       `json:"Pid"`
	ExitCode   int       `json:"ExitCode"`
	StartedAt  time.Time `json:"StartedAt"`
	FinishedAt time.Time `json:"FinishedAt"`
}

// Container is a record with its current state.
type Container struct {
	*Record
	State State
	Dir   string
}

func (e *Engine) stateOf(rec *Record) State {
	dir := e.dir(rec.ID)
	st := State{StartedAt: rec.StartedAt}
	if rst, err := e.rt.Load(rec.ID); err == nil {
		switch rst.Status {
		case runtime.StatusRunning:
			st.Status, st.Running, st.Pid = StatusRunning, true, rst.Pid
			return st
		case runtime.StatusPaused:
			st.Status, st.Running, st.Paused, st.Pid = StatusPaused, true, true, rst.Pid
			return st
		case runtime.StatusCreated, runtime.StatusCreating:
			// Being started: the runtime create runs before start, and start
			// removed the last exit record first. With an exit record back,
			// the container ran and exited, and what reads as "creating" is
			// its runtime record half deleted by the monitor's cleanup.
			if _, err := monitor.ReadExit(dir); !rec.StartedAt.IsZero() && errors.Is(err, os.ErrNotExist) {
				st.Status, st.Running, st.Pid = StatusRunning, true, rst.Pid
				return st
			}
		}
	}
	if ex, err := monitor.ReadExit(dir); err == nil {
		st.Status, st.ExitCode, st.FinishedAt = StatusExited, ex.Code, ex.FinishedAt
		return st
	}
	if rec.StartedAt.IsZero() {
		st.Status = StatusCreated
		return st
	}
	// Started, not running, no exit record: the pcr that ran it in the
	// foreground was killed, or its monitor is about to write the record.
	if monitorAlive(rec) {
		st.Status, st.Running = StatusRunning, true
		return st
	}
	st.Status, st.ExitCode = StatusExited, 255
	return st
}

// Inspect returns one container by id, name or id prefix.
func (e *Engine) Inspect(ref string) (*Container, error) {
	id, err := e.Lookup(ref)
	if err != nil {
		return nil, err
	}
	return e.load(id)
}

func (e *Engine) load(id string) (*Container, error) {
	dir := e.dir(id)
	rec, err := readRecord(dir)
	if errors.Is(err, os.ErrNotExist) {
		if !exists(dir) {
			return nil, fmt.Errorf("%w: %s", ErrNoSuchContainer, id)
		}
		return &Container{Record: &Record{ID: id}, State: State{Status: StatusDead}, Dir: dir}, nil
	}
	if err != nil {
		return &Container{Record: &Record{ID: id}, State: State{Status: StatusDead}, Dir: dir}, nil
	}
	return &Container{Record: rec, State: e.stateOf(rec), Dir: dir}, nil
}

// List returns the containers, newest first; all=false keeps the running.
func (e *Engine) List(all bool) ([]*Container, error) {
	entries, err := os.ReadDir(e.containersDir())
	if err != nil {
		return nil, err
	}
	var out []*Container
	for _, en := range entries {
		if !en.IsDir() || !isFullID(en.Name()) {
			continue
		}
		c, err := e.load(en.Name())
		if err != nil {
			continue // removed meanwhile
		}
		if !all && !c.State.Running {
			continue
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out, nil
}

// monitorAlive says whether the process waiting for the current run
// (its monitor, or the pcr running it in the foreground) is still there.
func monitorAlive(rec *Record) bool {
	return rec.Monitor > 0 && procStart(rec.Monitor) == rec.MonitorStart
}

// procStart is a process's start time (field 22 of /proc/PID/stat), 0 when
// it is gone.
func procStart(pid int) uint64 {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0
	}
	// The command name may hold spaces and parentheses; fields count from
	// after its last ")".
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0
	}
	fields := strings.Fields(string(data[i+1:]))
	if len(fields) < 20 {
		return 0
	}
	v, _ := strconv.ParseUint(fields[19], 10, 64)
	return v
}
