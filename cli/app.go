// Package cli holds pcr's commands: each file one group, each action a
// thin shell that checks arguments and calls a package below.
package cli

import (
	"fmt"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	ucli "github.com/urfave/cli/v2"

	"pcr/cli/ocicli"
)

// NewApp is `pcr`.
func NewApp(version string) *ucli.App {
	return &ucli.App{
		Name:                 "pcr",
		Usage:                "a small container runtime and engine, with PlanetLab-style slices",
		Version:              version,
		EnableBashCompletion: true,
		Flags:                engineFlags(),
		Commands: append(append(append(append(append(append(append(append(append([]*ucli.Command{
			ociCommand(version),
		}, append(containerCommands(), extraContainerCommands()...)...), imageCommands()...), buildCommands()...), networkCommands()...), systemCommands()...), vserverCommands()...), nodeCommands()...), sliceCommands()...), authorityCommands()...),
	}
}

// engineFlags are the engine's global flags: where images, layers and
// container records live, and where live runtime state goes.
func engineFlags() []ucli.Flag {
	return []ucli.Flag{
		&ucli.StringFlag{Name: "root", Value: "/var/lib/pcr", EnvVars: []string{"PCR_ROOT"}, Usage: "images, layers and containers"},
		&ucli.StringFlag{Name: "state", Value: "/run/pcr", EnvVars: []string{"PCR_STATE"}, Usage: "live runtime state (pids, fifos, locks)"},
		&ucli.BoolFlag{Name: "debug", EnvVars: []string{"PCR_TRACE"}, Usage: "print each stage with its duration on stderr"},
	}
}

// IsOCIInvocation tells whether `pcr ARGS` runs the runc-compatible verbs,
// whose failures exit 1 as runc's do rather than Docker's 125.
func IsOCIInvocation(args []string) bool {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--root" || a == "--state":
			i++ // skip the flag's value
		case len(a) > 0 && a[0] == '-':
		default:
			return a == "oci"
		}
	}
	return false
}

// ociCommand is `pcr oci`: the runtime's own command line (package ocicli)
// behind the engine's. The engine's --debug carries over.
func ociCommand(version string) *ucli.Command {
	return &ucli.Command{
		Name:            "oci",
		Usage:           "runc-compatible OCI runtime (also as the pcr-oci binary); pcr oci --help lists its verbs",
		SkipFlagParsing: true,
		Action: func(c *ucli.Context) error {
			args := c.Args().Slice()
			if c.Bool("debug") {
				args = append([]string{"--debug"}, args...)
			}
			app := ocicli.New("pcr oci", version)
			if c.App.Writer != nil {
				app.Stdout = c.App.Writer
			}
			if c.App.ErrWriter != nil {
				app.Stderr = c.App.ErrWriter
			}
			// The runtime has printed and logged its own error: only the status goes up.
			if code := app.Main(args, 1); code != 0 {
				return exitCode(code)
			}
			return nil
		},
	}
}

// Run runs app on args and returns the status to exit with: the payload's
// own status when an action ended with one, else 0, or failure when the
// command itself failed (Docker's 125; runc's 1 for `pcr oci`). The error
// goes to stderr as one line.
func Run(app *ucli.App, args []string, failure int) int {
	err := app.Run(args)
	if code, ok := ocicli.ExitCode(err); ok {
		return code
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "pcr: %v\n", err)
		return failure
	}
	return 0
}

// usageErr is a misuse of command c, with a pointer to its help.
func usageErr(c *ucli.Context, msg string) error {
	return fmt.Errorf("%s (see '%s --help')", msg, c.Command.FullName())
}

// exitCode is the runtime's, so both command sets end with a payload's status alike.
type exitCode = ocicli.ExitStatus

func specVersion() string { return specs.Version }
