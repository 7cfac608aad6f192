// Package ocicli holds the commands of pcr's runc-compatible OCI runtime:
// the bin/pcr-oci binary and `pcr oci`. It links only the runtime, the OCI
// spec and the CLI library, so the runtime binary skips the engine, image,
// network and authority packages' start-up cost on every invocation.
package ocicli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	ucli "github.com/urfave/cli/v2"

	"pcr/runtime"
)

// NewApp is `pcr-oci`: the verbs at the top level, as runc has them.
func NewApp(version string) *ucli.App {
	return &ucli.App{
		Name:     "pcr-oci",
		Usage:    "runc-compatible OCI runtime",
		Version:  version + "\nspec: " + specs.Version,
		Flags:    Flags(),
		Before:   Before,
		Commands: Commands(),
	}
}

// Command is the same runtime as pcr's `oci` command.
func Command(version string) *ucli.Command {
	return &ucli.Command{
		Name:        "oci",
		Usage:       "runc-compatible OCI runtime (also as the pcr-oci binary)",
		Flags:       append(Flags(), &ucli.BoolFlag{Name: "version", Aliases: []string{"v"}, Usage: "print the version"}),
		Before:      Before,
		Subcommands: Commands(),
		Action: func(c *ucli.Context) error {
			if c.Bool("version") {
				fmt.Fprintf(c.App.Writer, "pcr-oci version %s\nspec: %s\n", version, specs.Version)
				return nil
			}
			return ucli.ShowSubcommandHelp(c)
		},
	}
}

// Flags are runc's global flags, the ones podman and the OCI test suite pass.
func Flags() []ucli.Flag {
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

// Commands are the runtime's verbs, one file each group.
func Commands() []*ucli.Command {
	return []*ucli.Command{
		createCommand(), startCommand(), runCommand(), stateCommand(),
		killCommand(), deleteCommand(), listCommand(), execCommand(),
		psCommand(), pauseCommand(), resumeCommand(), specCommand(),
		featuresCommand(), eventsCommand(),
	}
}

// Before validates the global flags before any verb runs and opens the
// --log sink that logError writes to.
func Before(c *ucli.Context) error {
	if c.App.Metadata == nil {
		c.App.Metadata = map[string]any{}
	}
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

// RunApp runs app on args and returns the status to exit with: the
// payload's own status when an action ended with one, else 0, or failure
// when the command itself failed (runc's 1, Docker's 125). The error goes
// to stderr as one line and to the --log file.
func RunApp(app *ucli.App, args []string, failure int) int {
	err := app.Run(args)
	if code, ok := ExitCode(err); ok {
		return code
	}
	if err != nil {
		logError(app, err)
		fmt.Fprintf(os.Stderr, "pcr: %v\n", err)
		return failure
	}
	return 0
}

// ExitStatus is returned by actions that end with a payload's status.
type ExitStatus int

func (e ExitStatus) Error() string { return "exit status " + strconv.Itoa(int(e)) }

// ExitCode extracts a payload status from an action's error.
func ExitCode(err error) (int, bool) {
	if e, ok := err.(ExitStatus); ok {
		return int(e), true
	}
	return 0, false
}

// UsageErr is a misuse of command c, with a pointer to its help.
func UsageErr(c *ucli.Context, msg string) error {
	return fmt.Errorf("%s (see '%s --help')", msg, c.Command.FullName())
}

func isNotExist(err error) bool { return errors.Is(err, runtime.ErrNotExist) }

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

// withContainer is the action of a command on one container: its ID
// argument checked and the runtime opened before act runs.
func withContainer(act func(c *ucli.Context, rt *runtime.Runtime, id string) error) ucli.ActionFunc {
	return func(c *ucli.Context) error {
		id, err := needID(c)
		if err != nil {
			return err
		}
		rt, err := ociRuntime(c)
		if err != nil {
			return err
		}
		return act(c, rt, id)
	}
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
