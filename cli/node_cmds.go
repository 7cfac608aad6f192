package cli

import (
	"fmt"
	"log/slog"
	"os"

	ucli "github.com/urfave/cli/v2"

	"pcr/vserver/node"
)

// nodeCommands are `pcr node …`: the node manager daemon.
func nodeCommands() []*ucli.Command {
	return []*ucli.Command{{
		Name:        "node",
		Usage:       "the node manager: keeps this node's vservers matching their slices",
		Subcommands: []*ucli.Command{nodeServeCommand()},
	}}
}

func nodeServeCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "serve",
		Usage: "run the node manager daemon in the foreground (logs on stderr)",
		Description: "Reconciles the vservers of --root with the slices assigned to the node (--slices FILE) under the\n" +
			"node owner's policy (--policy FILE, re-read on SIGHUP), restarts crashed vservers, removes expired ones\n" +
			"and serves `pcr vserver` on a unix socket. SIGTERM or SIGINT stops it; the vservers keep running.",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "slices", Usage: "JSON file of the slices assigned to this node: {\"slices\":[{\"slice\":…,\"image\":…,\"rspec\":{…},\"expires\":…}]}"},
			&ucli.StringFlag{Name: "policy", Usage: "the node owner's policy (JSON): allowed/denied sites and slices, max_vservers, caps, reserve"},
			&ucli.StringFlag{Name: "socket", Usage: "the API's unix socket (default <state>/node.sock)"},
			&ucli.DurationFlag{Name: "interval", Value: node.DefaultInterval, Usage: "time between periodic reconcile passes"},
			&ucli.DurationFlag{Name: "stats-interval", Value: node.DefaultStatsInterval, Usage: "time between usage samples"},
			&ucli.StringFlag{Name: "metrics-addr", Usage: "serve Prometheus /metrics on HOST:PORT (:PORT is loopback only)"},
			&ucli.StringFlag{Name: "log-format", Value: "text", Usage: "text or json"},
		},
		Action: func(c *ucli.Context) error {
			if c.NArg() > 0 {
				return usageErr(c, "pcr node serve takes no arguments")
			}
			if os.Geteuid() != 0 {
				return fmt.Errorf("pcr node serve must run as root: it makes vservers' namespaces, cgroups and disks")
			}
			var h slog.Handler
			switch f := c.String("log-format"); f {
			case "text":
				h = slog.NewTextHandler(os.Stderr, nil)
			case "json":
				h = slog.NewJSONHandler(os.Stderr, nil)
			default:
				return usageErr(c, fmt.Sprintf("unsupported --log-format %q: want text or json", f))
			}
			if c.Duration("interval") <= 0 || c.Duration("stats-interval") <= 0 {
				return usageErr(c, "--interval and --stats-interval must be positive")
			}
			return node.Serve(c.Context, node.Config{
				Root: c.String("root"), State: c.String("state"),
				SlicesFile: c.String("slices"), PolicyFile: c.String("policy"), Socket: c.String("socket"),
				Interval: c.Duration("interval"), StatsInterval: c.Duration("stats-interval"),
				MetricsAddr: c.String("metrics-addr"), Log: slog.New(h),
			})
		},
	}
}
