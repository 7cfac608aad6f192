package engine

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	digest "github.com/opencontainers/go-digest"

	"pcr/internal/atomicfile"
)

// recordFile is the engine's own description of a container, beside the
// OCI bundle it made: what a user asked for, and what it resolved to.
const recordFile = "record.json"

// Record is a container as the engine made it. It is written before
// anything else of the container exists, so a pcr killed at any point
// leaves something `rm -f` can find and undo.
type Record struct {
	ID      string        `json:"id"`
	Name    string        `json:"name"`
	Image   string        `json:"image"`
	ImageID digest.Digest `json:"imageId"`
	Created time.Time     `json:"created"`
	// Lowers are the image's layer dirs, top first, as mounted.
	Lowers  []string `json:"lowers,omitempty"`
	Options Options  `json:"options"`
	// Args is the resolved process.args (for ps and inspect).
	Args []string `json:"args"`
	// StartedAt is the last start; zero for a container never started.
	StartedAt time.Time `json:"startedAt,omitempty"`
	// Monitor is the process that waits for the current run: the detached
	// monitor, or the pcr running it in the foreground; MonitorStart is its
	// start time, so that a reused pid is not taken for it.
	Monitor      int    `json:"monitor,omitempty"`
	MonitorStart uint64 `json:"monitorStart,omitempty"`
	// RunID names the current run; the cleanup of an older one checks it.
	RunID string `json:"runId,omitempty"`
	// User is the -u flag, or the image's USER: resolved against the
	// container's own /etc/passwd at each start, once its rootfs is there.
	User string `json:"user,omitempty"`
	// StopSignal is what stop sends first: --stop-signal, or the image's
	// STOPSIGNAL; empty is SIGTERM.
	StopSignal string `json:"stopSignal,omitempty"`
}

func readRecord(dir string) (*Record, error) {
	data, err := os.ReadFile(filepath.Join(dir, recordFile))
	if err != nil {
		return nil, err
	}
	r := &Record{}
	if err := json.Unmarshal(data, r); err != nil {
		return nil, fmt.Errorf("parse %s: %w", filepath.Join(dir, recordFile), err)
	}
	return r, nil
}

func writeRecord(dir string, r *Record) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, recordFile), data, 0o600)
}
