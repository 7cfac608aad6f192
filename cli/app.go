// Package cli holds pcr's commands: each file one group, each action a
// thin shell that checks arguments and calls a package below.
package cli

import (
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
			ocicli.Command(version),
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

// usageErr and exitCode are the runtime's, so both command sets read the same.
func usageErr(c *ucli.Context, msg string) error { return ocicli.UsageErr(c, msg) }

type exitCode = ocicli.ExitStatus

func specVersion() string { return specs.Version }
