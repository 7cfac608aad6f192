package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	ucli "github.com/urfave/cli/v2"

	"pcr/runtime"
)

// ociFlags are runc's global flags, the ones podman and the OCI test suite pass.
func ociFlags() []ucli.Flag {
	return []ucli.Flag{
		&ucli.StringFlag{Name: "root", Value: "/run/pcr/oci", EnvVars: []string{"PCR_OCI_ROOT"}, Usage: "directory for the containers' live state"},
		&ucli.StringFlag{Name: "log", Usage: "also write errors and warnings to this file"},
		&ucli.StringFlag{Name: "log-format", Value: "text", Usage: "text or json"},
		&ucli.BoolFlag{Name: "debug", EnvVars: []string{"PCR_TRACE"}, Usage: "print each stage of creation with its duration on stderr"},
		&ucli.BoolFlag{Name: "systemd-cgroup", Usage: "use systemd for cgroups (not supported: pcr writes cgroupfs)"},
		&ucli.StringFlag{Name: "rootless", Value: "auto", Usage: "ignored; pcr decides from the spec"},
		&ucli.StringFlag{Name: "criu", Hidden: true},
	}
}

// ociCommands are the verbs of `pcr oci` / `pcr-oci`, one file each group.
func ociCommands() []*ucli.Command {
	return []*ucli.Command{
		ociCreateCommand(), ociStartCommand(), ociRunCommand(), ociStateCommand(),
		ociKillCommand(), ociDeleteCommand(), ociListCommand(), ociExecCommand(),
		ociPsCommand(), ociPauseCommand(), ociResumeCommand(), ociSpecCommand(),
		ociFeaturesCommand(), ociEventsCommand(),
	}
}

// ociBefore validates global flags before any verb runs.
func ociBefore(c *ucli.Context) error {
	c.App.Metadata["log"] = newLogSink(c)
	if c.Bool("systemd-cgroup") {
		return errors.New("--systemd-cgroup is not supported: pcr manages cgroupfs directly; drop the flag (podman: --cgroup-manager=cgroupfs)")
	}
	switch f := c.String("log-format"); f {
	case "text", "json":
	default:
		return fmt.Errorf("--log-format %q: use text or json", f)
	}
	return nil
}

// logSink writes warnings and errors to stderr and the --log file in runc's formats.
type logSink struct {
	file   io.Writer
	json   bool
	stderr io.Writer
}

func newLogSink(c *ucli.Context) *logSink {
	s := &logSink{stderr: os.Stderr, json: rootFlag(c, "log-format") == "json"}
	if path := rootFlag(c, "log"); path != "" {
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
			line, _ := json.Marshal(map[string]string{"level": level, "msg": msg, "time": time.Now().Format(time.RFC3339Nano)})
			fmt.Fprintf(s.file, "%s\n", line)
		} else {
			fmt.Fprintf(s.file, "time=%q level=%s msg=%q\n", time.Now().Format(time.RFC3339Nano), level, msg)
		}
	}
	if level != "error" { // errors reach stderr through main's single line
		fmt.Fprintln(s.stderr, msg)
	}
}

func trimNL(p []byte) []byte {
	for len(p) > 0 && p[len(p)-1] == '\n' {
		p = p[:len(p)-1]
	}
	return p
}

// rootFlag finds a global flag from any depth of subcommand.
func rootFlag(c *ucli.Context, name string) string {
	for _, ctx := range c.Lineage() {
		if ctx.IsSet(name) {
			return ctx.String(name)
		}
	}
	for _, ctx := range c.Lineage() {
		if v := ctx.String(name); v != "" {
			return v
		}
	}
	return ""
}

func rootBool(c *ucli.Context, name string) bool {
	for _, ctx := range c.Lineage() {
		if ctx.Bool(name) {
			return true
		}
	}
	return false
}

func ociRuntime(c *ucli.Context) (*runtime.Runtime, error) {
	var trace *runtime.Tracer
	if rootBool(c, "debug") {
		trace = runtime.NewTracer(os.Stderr)
	}
	sink, _ := c.App.Metadata["log"].(*logSink)
	if sink == nil {
		sink = newLogSink(c)
	}
	return runtime.New(rootFlag(c, "root"), trace, sink)
}

// needID returns the single container id argument.
func needID(c *ucli.Context) (string, error) {
	if c.NArg() < 1 {
		return "", fmt.Errorf("%s: a container id is required", c.Command.Name)
	}
	if c.NArg() > 1 {
		return "", fmt.Errorf("%s: expected one container id, got %d arguments", c.Command.Name, c.NArg())
	}
	return c.Args().First(), nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
