package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"

	ucli "github.com/urfave/cli/v2"

	"pcr/engine"
	"pcr/rspec"
	"pcr/slices/api"
)

// sliceCommands are a slice user's commands: they all go through the
// slice authority, which hands the work to the slice's node managers.
func sliceCommands() []*ucli.Command {
	return []*ucli.Command{{
		Name:  "slice",
		Usage: "slices: a set of vservers across nodes, through the slice authority",
		Subcommands: []*ucli.Command{
			sliceCreateCommand(), sliceListCommand(), sliceStatusCommand(), sliceInspectCommand(),
			sliceNodesCommand("add-nodes", "give a slice vservers on more nodes", true),
			sliceNodesCommand("remove-nodes", "take nodes out of a slice (their vservers are removed)", false),
			sliceRenewCommand(),
			sliceActionCommand("start", "start a slice's vservers on every node"),
			sliceActionCommand("stop", "stop a slice's vservers on every node (they stay stopped)"),
			sliceActionCommand("restart", "restart a slice's vservers on every node"),
			sliceDeleteCommand(), sliceExecCommand(),
		},
	}}
}

// sliceAction is a slice subcommand's action: flags may follow the
// positional arguments, and the client is built before it runs.
func sliceAction(action func(c *ucli.Context, cl *api.Client, args []string) error) ucli.ActionFunc {
	return withInterspersedFlags(func(c *ucli.Context, args []string) error {
		cl, err := authorityClient(c)
		if err != nil {
			return err
		}
		return action(c, cl, args)
	})
}

// splitList reads "n1,n2" and repeated values alike, dropping empties.
func splitList(vals ...string) []string {
	var out []string
	for _, v := range vals {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

func sliceCreateCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "create",
		Usage:     "create a slice: a vserver of IMAGE on each node, limited by the rspec",
		ArgsUsage: "SITE_NAME",
		Flags: append(append([]ucli.Flag{
			&ucli.StringFlag{Name: "image", Usage: "the slice's image (required)"},
			&ucli.StringFlag{Name: "nodes", Usage: "the nodes it runs on, comma-separated"},
			multiFlag("owner", nil, "a user who may manage the slice (repeatable, or comma-separated)"),
			&ucli.StringFlag{Name: "expires", Usage: "when it ends: a duration (14d, 2w) or a time (default: the authority's two weeks)"},
		}, rspecFlags()...), authorityFlags()...),
		Action: withInterspersedFlags(func(c *ucli.Context, args []string) error {
			if len(args) != 1 {
				return usageErr(c, "requires exactly one slice name")
			}
			// Checked before any credential or call: a typo is the
			// commonest mistake and needs no authority to find.
			if err := rspec.ValidateSlice(args[0]); err != nil {
				return err
			}
			if c.String("image") == "" {
				return usageErr(c, "requires --image")
			}
			in := api.CreateSlice{Name: args[0], Image: c.String("image"), Nodes: splitList(c.String("nodes")),
				Owners: splitList(multiVals(c, "owner")...)}
			var err error
			if in.Rspec, err = rspecFrom(c); err != nil {
				return err
			}
			if err := in.Rspec.Validate(); err != nil {
				return err
			}
			if v := c.String("expires"); v != "" {
				if in.Expires, err = rspec.ParseExpiry(v, time.Now()); err != nil {
					return err
				}
			}
			cl, err := authorityClient(c)
			if err != nil {
				return err
			}
			ctx, cancel := authorityContext(c)
			defer cancel()
			s, err := cl.CreateSlice(ctx, in)
			if err != nil {
				return err
			}
			fmt.Fprintln(c.App.Writer, s.Name)
			return nil
		}),
	}
}

func sliceListCommand() *ucli.Command {
	return &ucli.Command{
		Name:    "ls",
		Aliases: []string{"list"},
		Usage:   "list the slices you may see, with the state asked of their vservers",
		Flags: append([]ucli.Flag{
			&ucli.StringFlag{Name: "format", Value: "table", Usage: "table, or json: one JSON object per line"},
			&ucli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "only print slice names"},
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
			ss, err := cl.ListSlices(ctx)
			if err != nil {
				return err
			}
			switch {
			case format == "json":
				return jsonLines(c.App.Writer, ss)
			case c.Bool("quiet"):
				for _, s := range ss {
					fmt.Fprintln(c.App.Writer, s.Name)
				}
				return nil
			}
			return renderSliceTable(c.App.Writer, ss)
		}),
	}
}

// tableOrJSON reads --format.
func tableOrJSON(c *ucli.Context) (string, error) {
	switch f := c.String("format"); f {
	case "", "table":
		return "table", nil
	case "json":
		return "json", nil
	default:
		return "", fmt.Errorf("invalid --format %q: want table or json", f)
	}
}

func jsonLines[T any](w io.Writer, items []T) error {
	enc := json.NewEncoder(w)
	for _, it := range items {
		if err := enc.Encode(it); err != nil {
			return err
		}
	}
	return nil
}

// sliceState is the state a slice asks of its vservers; what they are
// doing on each node is `pcr slice status`.
func sliceState(s api.Slice) string {
	if s.Stopped {
		return "stopped"
	}
	return "running-requested"
}

// shortList shows the first few names and how many more, so that a slice
// on a hundred nodes keeps its table row.
func shortList(names []string) string {
	const shown = 3
	if len(names) == 0 {
		return "-"
	}
	if len(names) <= shown {
		return strings.Join(names, ",")
	}
	return fmt.Sprintf("%s,+%d more", strings.Join(names[:shown], ","), len(names)-shown)
}

func renderSliceTable(out io.Writer, ss []api.Slice) error {
	w := tabwriter.NewWriter(out, 0, 8, 3, ' ', 0)
	fmt.Fprintln(w, "NAME\tNODES\tIMAGE\tEXPIRES\tOWNERS\tSTATE")
	for _, s := range ss {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, shortList(s.Nodes), s.Image, expiresIn(s.Expires),
			shortList(s.Owners), sliceState(s))
	}
	return w.Flush()
}

func sliceStatusCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "status",
		Usage:     "show each node's vserver of a slice: state, address, usage, when the node was last seen",
		ArgsUsage: "SITE_NAME",
		Flags: append([]ucli.Flag{
			&ucli.StringFlag{Name: "format", Value: "table", Usage: "table, or json"},
		}, authorityFlags()...),
		Action: sliceAction(func(c *ucli.Context, cl *api.Client, args []string) error {
			if len(args) != 1 {
				return usageErr(c, "requires exactly one slice name")
			}
			format, err := tableOrJSON(c)
			if err != nil {
				return err
			}
			ctx, cancel := authorityContext(c)
			defer cancel()
			st, err := cl.SliceStatus(ctx, args[0])
			if err != nil {
				return err
			}
			if format == "json" {
				return json.NewEncoder(c.App.Writer).Encode(st)
			}
			return renderStatusTable(c.App.Writer, st.Nodes, time.Now())
		}),
	}
}

// renderStatusTable prints a row per node. An unreachable node's row
// keeps the state it last reported out of sight: what the user needs is
// that the node is gone and since when.
func renderStatusTable(out io.Writer, rows []api.SliverRow, now time.Time) error {
	w := tabwriter.NewWriter(out, 0, 8, 3, ' ', 0)
	fmt.Fprintln(w, "NODE\tSTATE\tADDRESS\tCPU\tMEMORY\tDISK\tLAST-SEEN\tREASON")
	for _, r := range rows {
		cpu, mem, disk := "-", "-", "-"
		if u := r.Usage; u != nil {
			cpu = fmt.Sprintf("%.2fs", u.CPUSeconds)
			mem = engine.BytesSize(float64(u.MemoryBytes)) + " / " + limitSize(u.MemoryLimit)
			disk = engine.BytesSize(float64(u.DiskBytes)) + " / " + limitSize(u.DiskLimit)
		}
		reason := r.Reason
		if r.State == api.HealthUnreachable && reason == "" {
			reason = "node not seen for " + sinceOrNever(r.LastSeen, now)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Node, dash(r.State), dash(r.Address), cpu, mem, disk,
			seenAgo(r.LastSeen, now), dash(reason))
	}
	return w.Flush()
}

// seenAgo is "12s ago", or "never" for a node that never reported.
func seenAgo(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return humanDuration(max(now.Sub(t), 0)) + " ago"
}

func sinceOrNever(t, now time.Time) string {
	if t.IsZero() {
		return "ever"
	}
	return humanDuration(max(now.Sub(t), 0))
}

func sliceInspectCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "inspect",
		Usage:     "show slices as the authority holds them (JSON)",
		ArgsUsage: "SITE_NAME...",
		Flags:     authorityFlags(),
		Action: sliceAction(func(c *ucli.Context, cl *api.Client, args []string) error {
			if len(args) < 1 {
				return usageErr(c, "requires at least one slice name")
			}
			ctx, cancel := authorityContext(c)
			defer cancel()
			out := []*api.Slice{}
			var failed []string
			for _, n := range args {
				s, err := cl.GetSlice(ctx, n)
				if err != nil {
					failed = append(failed, err.Error())
					continue
				}
				out = append(out, s)
			}
			data, err := json.MarshalIndent(out, "", "    ")
			if err != nil {
				return err
			}
			fmt.Fprintln(c.App.Writer, string(data))
			if len(failed) > 0 {
				return errors.New(strings.Join(failed, "; "))
			}
			return nil
		}),
	}
}

// sliceNodesCommand is add-nodes (add) or remove-nodes; it prints the
// slice's nodes after the change.
func sliceNodesCommand(name, usage string, add bool) *ucli.Command {
	return &ucli.Command{
		Name:      name,
		Usage:     usage,
		ArgsUsage: "SITE_NAME NODE[,NODE...]",
		Flags:     authorityFlags(),
		Action: sliceAction(func(c *ucli.Context, cl *api.Client, args []string) error {
			if len(args) < 2 {
				return usageErr(c, "requires a slice name and at least one node")
			}
			nodes := splitList(args[1:]...)
			in := api.ChangeNodes{Remove: nodes}
			if add {
				in = api.ChangeNodes{Add: nodes}
			}
			ctx, cancel := authorityContext(c)
			defer cancel()
			s, err := cl.ChangeNodes(ctx, args[0], in)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "%s: nodes %s\n", s.Name, dash(strings.Join(s.Nodes, ",")))
			return nil
		}),
	}
}

func sliceRenewCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "renew",
		Usage:     "move a slice's expiry (default: two weeks from now; at most eight)",
		ArgsUsage: "SITE_NAME",
		Flags: append([]ucli.Flag{
			&ucli.StringFlag{Name: "expires", Usage: "a duration from now (14d, 2w) or a time"},
		}, authorityFlags()...),
		Action: sliceAction(func(c *ucli.Context, cl *api.Client, args []string) error {
			if len(args) != 1 {
				return usageErr(c, "requires exactly one slice name")
			}
			var in api.Renew
			if v := c.String("expires"); v != "" {
				var err error
				if in.Expires, err = rspec.ParseExpiry(v, time.Now()); err != nil {
					return err
				}
			}
			ctx, cancel := authorityContext(c)
			defer cancel()
			s, err := cl.RenewSlice(ctx, args[0], in)
			if err != nil {
				return err
			}
			fmt.Fprintln(c.App.Writer, s.Expires.UTC().Format(time.RFC3339))
			return nil
		}),
	}
}

// sliceEach runs fn on every SITE_NAME argument, prints each that worked
// and fails (after trying all) if any failed, as Docker's verbs do.
func sliceEach(c *ucli.Context, args []string, fn func(name string) error) error {
	if len(args) < 1 {
		return usageErr(c, "requires at least one slice name")
	}
	var failed []string
	for _, n := range args {
		if err := fn(n); err != nil {
			failed = append(failed, err.Error())
			continue
		}
		fmt.Fprintln(c.App.Writer, n)
	}
	if len(failed) > 0 {
		return errors.New(strings.Join(failed, "; "))
	}
	return nil
}

func sliceActionCommand(action, usage string) *ucli.Command {
	return &ucli.Command{
		Name:      action,
		Usage:     usage,
		ArgsUsage: "SITE_NAME...",
		Flags:     authorityFlags(),
		Action: sliceAction(func(c *ucli.Context, cl *api.Client, args []string) error {
			ctx, cancel := authorityContext(c)
			defer cancel()
			return sliceEach(c, args, func(n string) error {
				_, err := cl.SliceAction(ctx, n, action)
				return err
			})
		}),
	}
}

func sliceDeleteCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "delete",
		Aliases:   []string{"rm"},
		Usage:     "delete slices: every node removes their vservers",
		ArgsUsage: "SITE_NAME...",
		Flags:     authorityFlags(),
		Action: sliceAction(func(c *ucli.Context, cl *api.Client, args []string) error {
			ctx, cancel := authorityContext(c)
			defer cancel()
			return sliceEach(c, args, func(n string) error { return cl.DeleteSlice(ctx, n) })
		}),
	}
}

// maxExecTimeout is the authority's ceiling on a slice exec.
const maxExecTimeout = 600 * time.Second

func sliceExecCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "exec",
		Usage:     "run a command in a slice's vserver on one node or on all of them",
		ArgsUsage: "SITE_NAME (--node NODE | --all) [--timeout 30s] -- COMMAND [ARG...]",
		Description: "Each node's output comes back whole when its command ends, its lines prefixed with the node's name\n" +
			"(stdout to stdout, stderr to stderr), in the slice's node order. The exit status is 0 when every node\n" +
			"ran the command with 0, else the first non-zero status in node order, or 1 when a node could not run it.",
		Flags: append([]ucli.Flag{
			&ucli.StringFlag{Name: "node", Usage: "the node whose vserver runs the command"},
			&ucli.BoolFlag{Name: "all", Usage: "run it on every node of the slice"},
			&ucli.DurationFlag{Name: "timeout", Value: 30 * time.Second, Usage: "how long each node may run it (at most 10m)"},
		}, authorityFlags()...),
		Action: withInterspersedFlags(func(c *ucli.Context, args []string) error {
			if len(args) < 2 {
				return usageErr(c, "requires a slice name and a command")
			}
			node, all := c.String("node"), c.Bool("all")
			if (node == "") == !all {
				return usageErr(c, "requires exactly one of --node NODE and --all")
			}
			timeout := c.Duration("timeout")
			if timeout <= 0 || timeout > maxExecTimeout {
				return usageErr(c, fmt.Sprintf("invalid --timeout %s: want more than 0 and at most %s", timeout, maxExecTimeout))
			}
			cl, err := authorityClient(c)
			if err != nil {
				return err
			}
			// The nodes answer within the timeout; the margin is for the
			// authority to collect and send their results.
			ctx, cancel := context.WithTimeout(c.Context, timeout+authorityCallTimeout)
			defer cancel()
			results, err := cl.Exec(ctx, args[0], api.ExecRequest{Node: node, All: all, Cmd: args[1:],
				Timeout: int(math.Ceil(timeout.Seconds()))})
			if err != nil {
				return err
			}
			printExecResults(c.App.Writer, c.App.ErrWriter, results)
			if code := execExitCode(results); code != 0 {
				return exitCode(code)
			}
			return nil
		}),
	}
}

// printExecResults writes each node's output with its name before every
// line, in the order given, so that the nodes' outputs never interleave
// and each line says where it came from.
func printExecResults(stdout, stderr io.Writer, results []api.ExecResult) {
	for _, r := range results {
		prefixLines(stdout, r.Node, r.Stdout)
		prefixLines(stderr, r.Node, r.Stderr)
		if r.Error != "" {
			fmt.Fprintf(stderr, "%s: error: %s\n", r.Node, r.Error)
		}
	}
}

func prefixLines(w io.Writer, node, text string) {
	if text == "" {
		return
	}
	for _, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		fmt.Fprintf(w, "%s: %s\n", node, line)
	}
}

// execExitCode is 0 when every node ran the command with status 0, else
// the first non-zero status in node order; when no node gave one but some
// node did not run the command (Error), it is 1. No results at all is a
// failure too: nothing ran.
func execExitCode(results []api.ExecResult) int {
	if len(results) == 0 {
		return 1
	}
	notRun := false
	for _, r := range results {
		if r.Error != "" {
			notRun = true
			continue
		}
		if r.ExitCode != 0 {
			return r.ExitCode
		}
	}
	if notRun {
		return 1
	}
	return 0
}
