package monitor

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"
)

// LogPath is where a detached container's output is logged.
func LogPath(dir string) string { return filepath.Join(dir, "container.log") }

// LogEntry is one line of the log:
// "<RFC3339Nano UTC> <stdout|stderr> <F|P> <text>\n" (F: full line, P:
// partial, a line longer than the monitor's buffer or cut at exit; the CRI
// log format). A line is Text plus "\n" for F; P entries continue in the next
// entry of the same stream.
type LogEntry struct {
	Time    time.Time
	Stream  string
	Partial bool
	Text    []byte
}

// ParseLogLine parses one log line, with or without its trailing newline.
func ParseLogLine(line []byte) (LogEntry, error) {
	var e LogEntry
	line = bytes.TrimSuffix(line, []byte("\n"))
	ts, rest, ok := bytes.Cut(line, []byte(" "))
	if !ok {
		return e, fmt.Errorf("parse log line %.40q: no stream", line)
	}
	t, err := time.Parse(time.RFC3339Nano, string(ts))
	if err != nil {
		return e, fmt.Errorf("parse log line %.40q: %w", line, err)
	}
	stream, rest, ok := bytes.Cut(rest, []byte(" "))
	if !ok || (string(stream) != "stdout" && string(stream) != "stderr") {
		return e, fmt.Errorf("parse log line %.40q: bad stream", line)
	}
	tag, text, _ := bytes.Cut(rest, []byte(" "))
	if string(tag) != "F" && string(tag) != "P" {
		return e, fmt.Errorf("parse log line %.40q: bad tag %q (want F or P)", line, tag)
	}
	return LogEntry{Time: t, Stream: string(stream), Partial: string(tag) == "P", Text: text}, nil
}

// WriteLogLine appends e to w in the log's format, in one Write.
func WriteLogLine(w io.Writer, e LogEntry) error {
	if e.Stream != "stdout" && e.Stream != "stderr" {
		return fmt.Errorf("write log line: bad stream %q", e.Stream)
	}
	if bytes.IndexByte(e.Text, '\n') >= 0 {
		return errors.New("write log line: text contains a newline")
	}
	tag := " F "
	if e.Partial {
		tag = " P "
	}
	b := make([]byte, 0, 48+len(e.Text))
	b = e.Time.UTC().AppendFormat(b, "2006-01-02T15:04:05.000000000Z07:00")
	b = append(append(append(append(append(b, ' '), e.Stream...), tag...), e.Text...), '\n')
	_, err := w.Write(b)
	if err != nil {
		return fmt.Errorf("write log line: %w", err)
	}
	return nil
}
