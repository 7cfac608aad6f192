package monitor

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"pcr/internal/atomicfile"
)

const exitFile = "exit.json"

// Exit is a container's recorded end.
type Exit struct {
	Code       int       `json:"exitCode"`
	Signal     int       `json:"signal,omitempty"`
	FinishedAt time.Time `json:"finishedAt"`
}

// ReadExit returns dir's exit record; the error wraps os.ErrNotExist when the
// container has not exited yet.
func ReadExit(dir string) (*Exit, error) {
	b, err := os.ReadFile(filepath.Join(dir, exitFile))
	if err != nil {
		return nil, fmt.Errorf("read exit record: %w", err)
	}
	var e Exit
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("read exit record %s: %w", filepath.Join(dir, exitFile), err)
	}
	return &e, nil
}

// WriteExit records e in dir atomically (temp file + rename), as the monitor
// does for detached containers; the engine uses it for foreground ones.
func WriteExit(dir string, e Exit) error {
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("write exit record: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(dir, exitFile), b, 0o644); err != nil {
		return fmt.Errorf("write exit record: %w", err)
	}
	return nil
}
