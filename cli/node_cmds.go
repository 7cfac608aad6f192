package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	ucli "github.com/urfave/cli/v2"

	"pcr/engine"
	"pcr/slices/api"
	"pcr/slices/follow"
	"pcr/vserver/node"
)

// nodeCommands are `pcr node …`: the node manager daemon.
func nodeCommands() []*ucli.Command {
	return []*ucli.Command{{
		Name:        "node",
		Usage:       "the node manager: keeps this node's vservers matching their slices",
		Subcommands: []*ucli.Command{nodeServeCommand(), nodeListCommand()},
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
			&ucli.StringFlag{Name: "authority", Usage: "follow the slice authority at https://HOST:PORT instead of --slices"},
			&ucli.StringFlag{Name: "name", Usage: "this node's name at the authority"},
			&ucli.StringFlag{Name: "ca", Usage: "the authority's CA certificate (PEM)"},
			&ucli.StringFlag{Name: "cert", Usage: "this node's certificate (written on joining)"},
			&ucli.StringFlag{Name: "key", Usage: "this node's private key (written on joining)"},
			&ucli.StringFlag{Name: "join-token", Usage: "the one-time token of pcr authority add-node, for the first start"},
			&ucli.StringFlag{Name: "address", Usage: "this node's underlay address, reported to the authority (default: the default route's interface)"},
			&ucli.DurationFlag{Name: "report-interval", Value: follow.DefaultReportInterval, Usage: "time between status reports to the authority"},
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
			log := slog.New(h)
			ctx, cancel := context.WithCancel(c.Context)
			defer cancel()
			var src node.Source
			if c.String("authority") != "" {
				if c.String("slices") != "" {
					return usageErr(c, "--slices and --authority are exclusive: a node follows one source")
				}
				if c.Duration("report-interval") <= 0 {
					return usageErr(c, "--report-interval must be positive")
				}
				f, err := follow.New(ctx, follow.Config{Authority: c.String("authority"), Name: c.String("name"),
					CAFile: c.String("ca"), CertFile: c.String("cert"), KeyFile: c.String("key"),
					JoinToken: c.String("join-token"), Address: c.String("address"),
					ReportInterval: c.Duration("report-interval"), Log: log})
				if err != nil {
					return err
				}
				src = f
			}
			return node.Serve(ctx, node.Config{
				Root: c.String("root"), State: c.String("state"), Source: src,
				SlicesFile: c.String("slices"), PolicyFile: c.String("policy"), Socket: c.String("socket"),
				Interval: c.Duration("interval"), StatsInterval: c.Duration("stats-interval"),
				MetricsAddr: c.String("metrics-addr"), Log: log,
			})
		},
	}
}

// nodeListCommand is `pcr node ls`: every node the authority knows, with
// its health as the authority sees it.
func nodeListCommand() *ucli.Command {
	return &ucli.Command{
		Name:    "ls",
		Aliases: []string{"list"},
		Usage:   "list the authority's nodes: health, address, capacity, vservers, owner's policy",
		Flags: append([]ucli.Flag{
			&ucli.StringFlag{Name: "format", Value: "table", Usage: "table, or json: one JSON object per line"},
		}, authorityFlags()...),
		Action: sliceAction(func(c *ucli.Context, cl *api.Client, args []string) error {
			if len(args) != 0 {
				return usageErr(c, "takes no arguments")
			}
			format, err := tableOrJSON(c)
			if err != nil {
				return err
			}
			ctx, cancel := authorityContext(c)
			defer cancel()
			nodes, err := cl.ListNodes(ctx)
			if err != nil {
				return err
			}
			if format == "json" {
				return jsonLines(c.App.Writer, nodes)
			}
			return renderNodeTable(c.App.Writer, nodes, time.Now())
		}),
	}
}

func renderNodeTable(out io.Writer, nodes []api.Node, now time.Time) error {
	w := tabwriter.NewWriter(out, 0, 8, 3, ' ', 0)
	fmt.Fprintln(w, "NAME\tHEALTH\tADDRESS\tLAST-SEEN\tCPUS\tMEMORY\tVSERVERS\tPOLICY")
	for _, n := range nodes {
		count := 0
		for _, k := range n.Vservers {
			count += k
		}
		cpus, mem := "-", "-"
		if n.Capacity.CPUs > 0 {
			cpus = strconv.FormatFloat(n.Capacity.CPUs, 'f', -1, 64)
		}
		if n.Capacity.Memory > 0 {
			mem = engine.BytesSize(float64(n.Capacity.Memory))
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", n.Name, dash(n.Health), dash(n.Address),
			seenAgo(n.LastSeen, now), cpus, mem, count, dash(n.Policy))
	}
	return w.Flush()
}
