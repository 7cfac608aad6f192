// Package cli holds pcr's commands: each file one group, each action a
// thin shell that checks arguments and calls a package below.
package cli

import (
	"errors"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	ucli "github.com/urfave/cli/v2"

	"pcr/runtime"
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
			{
				Name:        "oci",
				Usage:       "runc-compatible OCI runtime (also as the pcr-oci binary)",
				Flags:       append(ociFlags(), &ucli.BoolFlag{Name: "version", Aliases: []string{"v"}, Usage: "print the version"}),
				Before:      ociBefore,
				Subcommands: ociCommands(),
				Action: func(c *ucli.Context) error {
					if c.Bool("version") {
						fmt.Printf("pcr-oci version %s\nspec: %s\n", version, specVersion())
						return nil
					}
					return ucli.ShowSubcommandHelp(c)
				},
			},
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

// NewOCIApp is `pcr-oci`: the oci verbs at the top level, as runc has them.
func NewOCIApp(version string) *ucli.App {
	return &ucli.App{
		Name:     "pcr-oci",
		Usage:    "runc-compatible OCI runtime",
		Version:  version + "\nspec: " + specVersion(),
		Flags:    ociFlags(),
		Before:   ociBefore,
		Commands: ociCommands(),
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

func usageErr(c *ucli.Context, msg string) error {
	return fmt.Errorf("%s (see '%s --help')", msg, c.Command.FullName())
}

func isNotExist(err error) bool { return errors.Is(err, runtime.ErrNotExist) }

func specVersion() string { return specs.Version }

// LogError writes a failed command's error to the --log file too, so tools
// that read runc's log (podman) see the cause.
func LogError(app *ucli.App, err error) {
	if s, ok := app.Metadata["log"].(*logSink); ok {
		s.emit("error", err.Error())
	}
}
