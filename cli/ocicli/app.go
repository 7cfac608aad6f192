// Package ocicli holds the commands of pcr's runc-compatible OCI runtime:
// the bin/pcr-oci binary and `pcr oci`. It links only the runtime and the
// OCI spec, and parses its own command line, so that each invocation of the
// runtime binary pays for no engine, image, network or CLI-library package.
package ocicli

import (
	"errors"
	"io"
	"os"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"pcr/internal/fmtlite"
	"pcr/internal/jsonlite"
	"pcr/runtime"
)

// App is the runtime's command line. Name is how it was called, for help and
// messages: "pcr-oci", or "pcr oci" inside the engine's binary.
type App struct {
	Name    string
	Version string
	Stdout  io.Writer
	Stderr  io.Writer
	// NoSelfInit: the binary holds no container init (pcr-oci), and runs
	// the pcr-init beside it for every container (runtime.InitBinaryRequired).
	NoSelfInit bool
}

// New is the runtime's command line writing to the process's stdout and stderr.
func New(name, version string) *App {
	return &App{Name: name, Version: version, Stdout: os.Stdout, Stderr: os.Stderr}
}

// ctx is one invocation of one verb: the global flags, the verb's flags
// (embedded) and its arguments.
type ctx struct {
	app    *App
	global *values
	cmd    *command
	*values
	args []string
	log  *logSink
}

// globalFlags are runc's global flags, the ones podman and the OCI test suite pass.
func globalFlags() []flag {
	return []flag{
		{names: []string{"root"}, kind: stringFlag, value: "/run/pcr/oci", env: "PCR_OCI_ROOT", usage: "directory for the containers' live state"},
		{names: []string{"log"}, kind: stringFlag, usage: "also write errors and warnings to this file"},
		{names: []string{"log-format"}, kind: stringFlag, value: "text", usage: "text or json"},
		{names: []string{"debug"}, kind: boolFlag, env: "PCR_TRACE", usage: "print each stage of creation with its duration on stderr"},
		{names: []string{"systemd-cgroup"}, kind: boolFlag, usage: "use systemd for cgroups (not supported: pcr writes cgroupfs)"},
		{names: []string{"rootless"}, kind: stringFlag, value: "auto", usage: "ignored; pcr decides from the spec"},
		{names: []string{"criu"}, kind: stringFlag, hidden: true},
		{names: []string{"help", "h"}, kind: boolFlag, usage: "show help"},
		{names: []string{"version", "v"}, kind: boolFlag, usage: "print the version"},
	}
}

// commands are the runtime's verbs, one file each group.
func commands() []*command {
	return []*command{
		createCommand(), startCommand(), runCommand(), stateCommand(),
		killCommand(), deleteCommand(), listCommand(), execCommand(),
		psCommand(), pauseCommand(), resumeCommand(), specCommand(),
		featuresCommand(), eventsCommand(),
	}
}

// Main runs the command line args (without the program's name) and returns
// the status to exit with: the payload's own status when a verb ended with
// one, else 0, or failure when the command failed (runc's 1, Docker's 125).
// The error goes to stderr as one line and to the --log file.
func (a *App) Main(args []string, failure int) int {
	log, err := a.run(args)
	if code, ok := ExitCode(err); ok {
		return code
	}
	if err != nil {
		if log != nil {
			log.emit("error", err.Error())
		}
		fmtlite.Fprintf(a.Stderr, "pcr: %v\n", err)
		return failure
	}
	return 0
}

// run parses args and runs the verb they name. It returns the --log sink it
// opened, so that Main writes the error there too.
func (a *App) run(args []string) (*logSink, error) {
	global, rest, err := parseFlags(globalFlags(), args)
	if err != nil {
		return nil, fmtlite.Errorf("%v (see '%s --help')", err, a.Name)
	}
	switch {
	case global.Bool("version"):
		// runc's form, under either name: tools read "<runtime> version X".
		fmtlite.Fprintf(a.Stdout, "pcr-oci version %s\nspec: %s\n", a.Version, specs.Version)
		return nil, nil
	case global.Bool("help") || len(rest) == 0:
		a.printHelp()
		return nil, nil
	case rest[0] == "help":
		if len(rest) > 1 {
			if cmd := findCommand(rest[1]); cmd != nil {
				a.printCommandHelp(cmd)
				return nil, nil
			}
			return nil, fmtlite.Errorf("help: no command %q (see '%s --help')", rest[1], a.Name)
		}
		a.printHelp()
		return nil, nil
	}
	// From here errors go to the --log file too: podman reads the cause there.
	log := newLogSink(global, a.Stderr)
	cmd := findCommand(rest[0])
	if cmd == nil {
		return log, fmtlite.Errorf("no command %q (see '%s --help')", rest[0], a.Name)
	}
	if global.Bool("systemd-cgroup") {
		return log, errors.New("--systemd-cgroup is not supported: pcr manages cgroupfs directly; drop the flag (podman: --cgroup-manager=cgroupfs)")
	}
	switch f := global.String("log-format"); f {
	case "text", "json":
	default:
		return log, fmtlite.Errorf("--log-format %q: use text or json", f)
	}
	flags := append(cmd.flags[:len(cmd.flags):len(cmd.flags)], flag{names: []string{"help", "h"}, kind: boolFlag, usage: "show help"})
	local, cmdArgs, err := parseFlags(flags, rest[1:])
	if err != nil {
		return log, fmtlite.Errorf("%s: %v (see '%s %s --help')", cmd.name, err, a.Name, cmd.name)
	}
	if local.Bool("help") {
		a.printCommandHelp(cmd)
		return log, nil
	}
	return log, cmd.run(&ctx{app: a, global: global, cmd: cmd, values: local, args: cmdArgs, log: log})
}

func findCommand(name string) *command {
	for _, c := range commands() {
		if c.name == name {
			return c
		}
		for _, al := range c.aliases {
			if al == name {
				return c
			}
		}
	}
	return nil
}

func (a *App) printHelp() {
	w := a.Stdout
	fmtlite.Fprintf(w, "NAME:\n   %s - runc-compatible OCI runtime\n\nUSAGE:\n   %s [global options] command [command options] [arguments...]\n\n", a.Name, a.Name)
	fmtlite.Fprintf(w, "VERSION:\n   %s\n   spec: %s\n\nCOMMANDS:\n", a.Version, specs.Version)
	width := 0
	for _, c := range commands() {
		width = max(width, len(c.name))
	}
	for _, c := range commands() {
		fmtlite.Fprintf(w, "   %-*s  %s\n", width, c.name, c.usage)
	}
	fmtlite.Fprintf(w, "   %-*s  %s\n\nGLOBAL OPTIONS:\n", width, "help", "show the commands, or one command's options")
	printFlags(w, globalFlags())
}

func (a *App) printCommandHelp(c *command) {
	w := a.Stdout
	fmtlite.Fprintf(w, "NAME:\n   %s %s - %s\n\nUSAGE:\n   %s %s [command options] %s\n", a.Name, c.name, c.usage, a.Name, c.name, c.argsUsage)
	if len(c.flags) > 0 {
		fmtlite.Fprintf(w, "\nOPTIONS:\n")
		printFlags(w, c.flags)
	}
}

// ExitStatus is returned by actions that end with a payload's status.
type ExitStatus int

func (e ExitStatus) Error() string { return "exit status " + strconv.Itoa(int(e)) }

// ExitCode extracts a payload status from an action's error.
func ExitCode(err error) (int, bool) {
	var e ExitStatus
	if errors.As(err, &e) {
		return int(e), true
	}
	return 0, false
}

// usageErr is a misuse of the verb, with a pointer to its help.
func (c *ctx) usageErr(msg string) error {
	return fmtlite.Errorf("%s (see '%s %s --help')", msg, c.app.Name, c.cmd.name)
}

func isNotExist(err error) bool { return errors.Is(err, runtime.ErrNotExist) }

// withContainer is the action of a command on one container: its ID
// argument checked and the runtime opened before act runs.
func withContainer(act func(c *ctx, rt *runtime.Runtime, id string) error) func(*ctx) error {
	return func(c *ctx) error {
		id, err := c.needID()
		if err != nil {
			return err
		}
		rt, err := c.runtime()
		if err != nil {
			return err
		}
		return act(c, rt, id)
	}
}

func (c *ctx) runtime() (*runtime.Runtime, error) {
	var trace *runtime.Tracer
	if c.global.Bool("debug") {
		trace = runtime.NewTracer(c.app.Stderr)
	}
	rt, err := runtime.New(c.global.String("root"), trace, c.log)
	if err != nil {
		return nil, err
	}
	rt.InitBinaryRequired = c.app.NoSelfInit
	return rt, nil
}

// needID returns the single container id argument.
func (c *ctx) needID() (string, error) {
	if len(c.args) < 1 {
		return "", c.usageErr(c.cmd.name + ": a container id is required")
	}
	if len(c.args) > 1 {
		return "", c.usageErr(fmtlite.Sprintf("%s: expected one container id, got %d arguments", c.cmd.name, len(c.args)))
	}
	return c.args[0], nil
}

// printJSON prints data, compact JSON, laid out as runc prints it.
func printJSON(w io.Writer, data []byte) error {
	_, err := w.Write(append(jsonlite.Indent(nil, data, "", "  "), '\n'))
	return err
}
