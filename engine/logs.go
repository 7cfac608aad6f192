package engine

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"pcr/engine/internal/monitor"
)

// LogsOptions are `pcr logs`'s flags.
type LogsOptions struct {
	Follow     bool
	Tail       int // lines from the end; < 0 for all
	Timestamps bool
}

// Logs writes a detached container's logged output to stdout and stderr,
// each line to the stream it came from. With Follow it keeps reading
// until the container has exited and the log is drained.
func (e *Engine) Logs(ref string, o LogsOptions, stdout, stderr io.Writer) error {
	c, err := e.Inspect(ref)
	if err != nil {
		return err
	}
	f, err := os.Open(monitor.LogPath(c.Dir))
	if errors.Is(err, os.ErrNotExist) {
		if !o.Follow {
			return nil // never ran detached: nothing logged
		}
	} else if err != nil {
		return fmt.Errorf("logs of %s: %w", ref, err)
	}
	var r *bufio.Reader
	if f != nil {
		defer f.Close()
		r = bufio.NewReaderSize(f, 64<<10)
	}
	write := func(line []byte) error {
		ent, err := monitor.ParseLogLine(line)
		if err != nil {
			return nil // a torn line at a crash: skip it
		}
		w := stdout
		if ent.Stream == "stderr" {
			w = stderr
		}
		var b bytes.Buffer
		if o.Timestamps {
			b.WriteString(ent.Time.Format(time.RFC3339Nano))
			b.WriteByte(' ')
		}
		b.Write(ent.Text)
		if !ent.Partial {
			b.WriteByte('\n')
		}
		_, err = w.Write(b.Bytes())
		return err
	}
	var partial []byte
	if r != nil && o.Tail >= 0 {
		var lines [][]byte
		lines, partial, err = tailLines(r, o.Tail)
		if err != nil {
			return err
		}
		for _, l := range lines {
			if err := write(l); err != nil {
				return err
			}
		}
	}
	for {
		if r == nil {
			if f, err = os.Open(monitor.LogPath(c.Dir)); err == nil {
				defer f.Close()
				r = bufio.NewReaderSize(f, 64<<10)
			}
		}
		if r != nil {
			line, err := r.ReadBytes('\n')
			if len(line) > 0 && line[len(line)-1] == '\n' {
				if err := write(append(partial, line...)); err != nil {
					return err
				}
				partial = nil
				continue
			}
			partial = append(partial, line...)
			if err != nil && err != io.EOF {
				return err
			}
		}
		if !o.Follow {
			return nil
		}
		// At the end of the log: done once the run is over (its monitor
		// writes the exit record after the last output).
		if cur, err := e.load(c.ID); err != nil || !cur.State.Running {
			if r != nil {
				rest, _ := io.ReadAll(r)
				for _, l := range bytes.SplitAfter(append(partial, rest...), []byte("\n")) {
					if len(l) > 0 {
						write(l)
					}
				}
			}
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// tailLines reads r to its end and returns the last n log lines, and an
// unfinished last line (the monitor is writing it) for the follow loop.
func tailLines(r *bufio.Reader, n int) ([][]byte, []byte, error) {
	ring := make([][]byte, 0, n)
	for {
		line, err := r.ReadBytes('\n')
		if len(line) > 0 && line[len(line)-1] == '\n' {
			if n > 0 {
				if len(ring) == n {
					ring = append(ring[1:], line)
				} else {
					ring = append(ring, line)
				}
			}
		} else if len(line) > 0 {
			return ring, line, nil
		}
		if err == io.EOF {
			return ring, nil, nil
		}
		if err != nil {
			return nil, nil, err
		}
	}
}
