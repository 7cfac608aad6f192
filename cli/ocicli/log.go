package ocicli

import (
	"io"
	"os"
	"time"

	"pcr/internal/fmtlite"
	"pcr/internal/jsonlite"
)

// logSink writes warnings and errors to stderr and the --log file in runc's formats.
type logSink struct {
	file   io.Writer
	json   bool
	stderr io.Writer
}

func newLogSink(global *values, stderr io.Writer) *logSink {
	s := &logSink{stderr: stderr, json: global.String("log-format") == "json"}
	if path := global.String("log"); path != "" {
		if f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err == nil {
			s.file = f
		}
	}
	return s
}

func (s *logSink) Write(p []byte) (int, error) {
	s.emit("warning", string(trimNL(p)))
	return len(p), nil
}

func (s *logSink) emit(level, msg string) {
	if s.file != nil {
		if s.json {
			line := jsonlite.String([]byte{'{'}, "level", level)
			line = jsonlite.String(line, "msg", msg)
			line = append(jsonlite.String(line, "time", time.Now().Format(time.RFC3339Nano)), '}')
			fmtlite.Fprintf(s.file, "%s\n", line)
		} else {
			fmtlite.Fprintf(s.file, "time=%q level=%s msg=%q\n", time.Now().Format(time.RFC3339Nano), level, msg)
		}
	}
	if level != "error" { // errors reach stderr through RunApp's single line
		fmtlite.Fprintln(s.stderr, msg)
	}
}

func trimNL(p []byte) []byte {
	for len(p) > 0 && p[len(p)-1] == '\n' {
		p = p[:len(p)-1]
	}
	return p
}
