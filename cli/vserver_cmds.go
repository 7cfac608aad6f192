package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	ucli "github.com/urfave/cli/v2"
	"golang.org/x/term"

	"pcr/engine"
	"pcr/vserver"
	"pcr/vserver/node"
)

// vserverCommands are the node admin's commands for vservers: through the
// node manager when it runs (its policy applies), else on the store.
func vserverCommands() []*ucli.Command {
	return []*ucli.Command{{
		Name:  "vserver",
		Usage: "a slice's persistent container on this node (its own user namespace, limits from an rspec)",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "socket", Usage: "the node manager's socket (default: node.sock under --state)"},
		},
		Subcommands: []*ucli.Command{
			vserverCreateCommand(), vserverListCommand(), vserverInspectCommand(),
			vserverEachCommand("start", "start stopped vservers", vserver.Service.Start),
			vserverEachCommand("stop", "stop vservers (and keep them stopped)", vserver.Service.Stop),
			vserverEachCommand("restart", "restart vservers", vserver.Service.Restart),
			vserverEachCommand("rm", "remove vservers with their files and UID range", vserver.Service.Remove),
			vserverStatsCommand(), vserverExecCommand(), vserverEnterCommand(),
		},
	}}
}

// vserverService is the node manager's API when one answers on the
// socket, and the store itself otherwise.
func vserverService(c *ucli.Context) (vserver.Service, error) {
	sock := c.String("socket")
	if sock == "" {
		sock = node.DefaultSocket(c.String("state"))
	}
	if cl, err := node.Dial(sock); err == nil {
		return cl, nil
	}
	m, err := vserverManager(c)
	if err != nil {
		return nil, err
	}
	return m.Local(), nil
}

func vserverManager(c *ucli.Context) (*vserver.Manager, error) {
	e, err := newEngine(c)
	if err != nil {
		return nil, err
	}
	return vserver.New(e, nil)
}

func rspecFlags() []ucli.Flag {
	return []ucli.Flag{
		&ucli.Uint64Flag{Name: "cpu-share", Usage: "relative CPU weight (1024 = one share)"},
		&ucli.Float64Flag{Name: "cpu-cores", Usage: "cap CPU time at this many cores"},
		&ucli.StringFlag{Name: "memory", Usage: "hard memory limit (e.g. 256M)"},
		&ucli.StringFlag{Name: "disk", Usage: "cap on what the vserver can write (e.g. 1G)"},
		&ucli.Int64Flag{Name: "pids", Usage: "most processes at once"},
		&ucli.StringFlag{Name: "net-rate", Usage: "egress rate (e.g. 10mbit)"},
		&ucli.Uint64Flag{Name: "nofile", Usage: "open files per process"},
	}
}

// rspecFrom reads the rspec flags. A value that does not parse is an
// error here; Rspec.Validate judges the rest.
func rspecFrom(c *ucli.Context) (vserver.Rspec, error) {
	r := vserver.Rspec{CPUShare: c.Uint64("cpu-share"), CPUCores: c.Float64("cpu-cores"), Pids: c.Int64("pids"), Nofile: c.Uint64("nofile")}
	for _, f := range []struct {
		flag string
		dst  *vserver.Bytes
	}{{"memory", &r.Memory}, {"disk", &r.Disk}} {
		if v := c.String(f.flag); v != "" {
			if strings.HasPrefix(strings.TrimSpace(v), "-") {
				return r, fmt.Errorf("invalid --%s %q: must not be negative", f.flag, v)
			}
			n, err := engine.ParseSize(v)
			if err != nil {
				return r, fmt.Errorf("invalid --%s: %w", f.flag, err)
			}
			*f.dst = vserver.Bytes(n)
		}
	}
	if v := c.String("net-rate"); v != "" {
		rate, err := vserver.ParseRate(v)
		if err != nil {
			return r, fmt.Errorf("invalid --net-rate: %w", err)
		}
		r.NetRate = rate
	}
	return r, nil
}

func vserverCreateCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "create",
		Usage:     "create and start a slice's vserver on this node",
		ArgsUsage: "SITE_NAME",
		Flags: append([]ucli.Flag{
			&ucli.StringFlag{Name: "image", Usage: "the slice's image (required)"},
			&ucli.StringFlag{Name: "expires", Usage: "when the node removes it: a duration (2h, 14d) or a time"},
			&ucli.StringFlag{Name: "network", Usage: "the network it joins (default: pcr's bridge)"},
			multiFlag("volume", []string{"v"}, "bind mount HOST:CONTAINER[:ro] from the node"),
		}, rspecFlags()...),
		Action: withInterspersedFlags(func(c *ucli.Context, args []string) error {
			if len(args) != 1 {
				return usageErr(c, "requires exactly one slice name")
			}
			if c.String("image") == "" {
				return usageErr(c, "requires --image")
			}
			spec := vserver.Spec{Slice: args[0], Image: c.String("image"), Network: c.String("network"), Volumes: multiVals(c, "volume")}
			if err := vserver.ValidateSlice(spec.Slice); err != nil {
				return err
			}
			var err error
			if spec.Rspec, err = rspecFrom(c); err != nil {
				return err
			}
			if v := c.String("expires"); v != "" {
				if spec.Expires, err = vserver.ParseExpiry(v, time.Now()); err != nil {
					return err
				}
			}
			if err := spec.Validate(time.Now()); err != nil {
				return err
			}
			svc, err := vserverService(c)
			if err != nil {
				return err
			}
			v, err := svc.Create(c.Context, spec)
			if err != nil {
				return err
			}
			fmt.Fprintln(c.App.Writer, v.Slice)
			if v.Reason != "" {
				fmt.Fprintf(c.App.ErrWriter, "pcr: vserver %s: %s\n", v.Slice, v.Reason)
			}
			return nil
		}),
	}
}

// withInterspersedFlags lets a command take its flags after its
// arguments too, as the issue's `pcr vserver create SLICE --image IMG`
// does; urfave/cli v2 stops reading flags at the first argument. The
// flags found later are parsed into a set of their own, looked up before
// the command's (a child context), so values given before the argument
// still count.
func withInterspersedFlags(action func(c *ucli.Context, args []string) error) ucli.ActionFunc {
	return func(c *ucli.Context) error {
		rest := c.Args().Slice()
		set := flag.NewFlagSet(c.Command.Name, flag.ContinueOnError)
		set.SetOutput(io.Discard)
		for _, f := range c.Command.Flags {
			if err := f.Apply(set); err != nil {
				return err
			}
		}
		var args []string
		for len(rest) > 0 {
			switch a := rest[0]; {
			case a == "--":
				args, rest = append(args, rest[1:]...), nil
			case a == "-" || !strings.HasPrefix(a, "-"):
				args, rest = append(args, a), rest[1:]
			default:
				if err := set.Parse(rest); err != nil {
					return usageErr(c, err.Error())
				}
				// Parse eats a "--" that ends the flags: what follows is all arguments.
				if n := len(rest) - len(set.Args()); n > 0 && rest[n-1] == "--" {
					args, rest = append(args, set.Args()...), nil
					continue
				}
				rest = set.Args()
			}
		}
		later := flag.NewFlagSet(c.Command.Name, flag.ContinueOnError)
		set.Visit(func(f *flag.Flag) { later.Var(f.Value, f.Name, f.Usage) })
		nc := ucli.NewContext(c.App, later, c)
		nc.Command = c.Command // usage errors name the command
		return action(nc, args)
	}
}

func vserverListCommand() *ucli.Command {
	return &ucli.Command{
		Name:    "ls",
		Aliases: []string{"list"},
		Usage:   "list this node's vservers, with the reason for any not running",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "format", Usage: "json: one JSON object per line"},
			&ucli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "only print slice names"},
		},
		Action: func(c *ucli.Context) error {
			svc, err := vserverService(c)
			if err != nil {
				return err
			}
			vs, err := svc.List(c.Context)
			if err != nil {
				return err
			}
			switch {
			case c.String("format") == "json":
				enc := json.NewEncoder(c.App.Writer)
				for _, v := range vs {
					if err := enc.Encode(v); err != nil {
						return err
					}
				}
				return nil
			case c.String("format") != "":
				return fmt.Errorf("invalid --format %q: want json", c.String("format"))
			case c.Bool("quiet"):
				for _, v := range vs {
					fmt.Fprintln(c.App.Writer, v.Slice)
				}
				return nil
			}
			w := tabwriter.NewWriter(c.App.Writer, 0, 8, 3, ' ', 0)
			fmt.Fprintln(w, "SLICE\tSTATE\tIMAGE\tHOST UID\tADDRESS\tEXPIRES\tORIGIN\tREASON")
			for _, v := range vs {
				uid := "-"
				if v.HostUID != 0 {
					uid = fmt.Sprint(v.HostUID)
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", v.Slice, v.State, v.Image, uid, dash(v.IPAddress),
					expiresIn(v.Expires), v.Origin, dash(v.Reason))
			}
			return w.Flush()
		},
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func expiresIn(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := time.Until(t)
	if d <= 0 {
		return "expired"
	}
	return "in " + humanDuration(d)
}

// humanDuration rounds to the unit it shows: 71h59m is "3d", not "2d".
func humanDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Round(time.Second).Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Round(time.Minute).Minutes()))
	case d < 47*time.Hour:
		return fmt.Sprintf("%dh", int(d.Round(time.Hour).Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Round(24*time.Hour).Hours()/24))
}

func vserverInspectCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "inspect",
		Usage:     "show vservers as JSON: rspec asked and applied, UID range, state and reason",
		ArgsUsage: "SLICE...",
		Action: func(c *ucli.Context) error {
			if c.NArg() < 1 {
				return usageErr(c, "requires at least one slice")
			}
			svc, err := vserverService(c)
			if err != nil {
				return err
			}
			out := []*vserver.VServer{}
			var failed []string
			for _, s := range c.Args().Slice() {
				v, err := svc.Get(c.Context, s)
				if err != nil {
					failed = append(failed, err.Error())
					continue
				}
				out = append(out, v)
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
		},
	}
}

// vserverEachCommand applies one Service verb to each SLICE argument and
// prints each that succeeded, as Docker's per-container verbs do.
func vserverEachCommand(name, usage string, act func(vserver.Service, context.Context, string) error) *ucli.Command {
	return &ucli.Command{
		Name:      name,
		Usage:     usage,
		ArgsUsage: "SLICE...",
		Action: func(c *ucli.Context) error {
			if c.NArg() < 1 {
				return usageErr(c, "requires at least one slice")
			}
			svc, err := vserverService(c)
			if err != nil {
				return err
			}
			return eachContainer(c, func(s string) error { return act(svc, c.Context, s) })
		},
	}
}

func vserverStatsCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "stats",
		Usage:     "usage of vservers: CPU seconds, memory, disk, network bytes (PlanetLab's slicestat)",
		ArgsUsage: "[SLICE...]",
		Flags:     []ucli.Flag{&ucli.StringFlag{Name: "format", Usage: "json: one JSON object per line"}},
		Action: func(c *ucli.Context) error {
			svc, err := vserverService(c)
			if err != nil {
				return err
			}
			names := c.Args().Slice()
			if len(names) == 0 {
				vs, err := svc.List(c.Context)
				if err != nil {
					return err
				}
				for _, v := range vs {
					if v.ContainerID != "" {
						names = append(names, v.Slice)
					}
				}
			}
			var stats []*vserver.Stats
			for _, n := range names {
				s, err := svc.Stats(c.Context, n)
				if err != nil {
					return err
				}
				stats = append(stats, s)
			}
			if f := c.String("format"); f == "json" {
				enc := json.NewEncoder(c.App.Writer)
				for _, s := range stats {
					if err := enc.Encode(s); err != nil {
						return err
					}
				}
				return nil
			} else if f != "" {
				return fmt.Errorf("invalid --format %q: want json", f)
			}
			w := tabwriter.NewWriter(c.App.Writer, 0, 8, 3, ' ', 0)
			fmt.Fprintln(w, "SLICE\tCPU SECONDS\tMEM USAGE / LIMIT\tDISK USED / LIMIT\tNET RX / TX\tPIDS")
			for _, s := range stats {
				fmt.Fprintf(w, "%s\t%.2f\t%s / %s\t%s / %s\t%s / %s\t%d\n", s.Slice, s.CPUSeconds,
					engine.BytesSize(float64(s.MemoryBytes)), limitSize(s.MemoryLimit),
					engine.BytesSize(float64(s.DiskUsed)), limitSize(s.DiskLimit),
					engine.HumanSize(float64(s.NetRxBytes)), engine.HumanSize(float64(s.NetTxBytes)), s.Pids)
			}
			return w.Flush()
		},
	}
}

func limitSize(n uint64) string {
	if n == 0 {
		return "unlimited"
	}
	return engine.BytesSize(float64(n))
}

func vserverExecCommand() *ucli.Command {
	return &ucli.Command{
		Name:                   "exec",
		Usage:                  "run a command in a slice's vserver (as its root unless -u)",
		ArgsUsage:              "SLICE [--] COMMAND [ARG...]",
		UseShortOptionHandling: true,
		Flags:                  execFlags("USER[:GROUP] inside the vserver"),
		Action: func(c *ucli.Context) error {
			args := c.Args().Slice()
			if len(args) > 1 && args[1] == "--" {
				args = append(args[:1], args[2:]...)
			}
			if len(args) < 2 {
				return usageErr(c, "requires a slice and a command")
			}
			return vserverExec(c, args[0], execOptions(c, args[1:]), c.Bool("interactive"))
		},
	}
}

// loginShell is bash when the image has it, else sh, as a login shell.
func loginShell() []string {
	return []string{"/bin/sh", "-c", `if [ -x /bin/bash ]; then exec /bin/bash -l; fi; exec /bin/sh -l`}
}

func vserverEnterCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "enter",
		Usage:     "open a shell with a terminal in a slice's vserver",
		ArgsUsage: "SLICE",
		Action: func(c *ucli.Context) error {
			if c.NArg() != 1 {
				return usageErr(c, "requires exactly one slice")
			}
			if !term.IsTerminal(int(os.Stdin.Fd())) {
				return fmt.Errorf("vserver enter needs a terminal on stdin; use pcr vserver exec -i %s -- CMD", c.Args().First())
			}
			env := []string{}
			if t := os.Getenv("TERM"); t != "" {
				env = append(env, "TERM="+t)
			}
			return vserverExec(c, c.Args().First(), engine.ExecOptions{Cmd: loginShell(), Env: env, Tty: true}, true)
		},
	}
}

// vserverExec enters the vserver directly, also when the node manager
// runs: a session's terminal and stdio belong to this process.
func vserverExec(c *ucli.Context, slice string, o engine.ExecOptions, interactive bool) error {
	if err := vserver.ValidateSlice(slice); err != nil {
		return err
	}
	m, err := vserverManager(c)
	if err != nil {
		return err
	}
	io, done, err := stdio(interactive)
	if err != nil {
		return err
	}
	defer done()
	o.Stdio = io
	status, err := m.Exec(slice, o)
	return runResult(status, err)
}
