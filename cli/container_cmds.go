package cli

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	ucli "github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"pcr/engine"
	"pcr/runtime"
)

// containerCommands are Docker's container verbs. stats, top, cp, rename,
// container prune and commit belong here too, each a thin action over an
// engine.Engine method.
func containerCommands() []*ucli.Command {
	return []*ucli.Command{
		runCommand(), createCommand(), startCommand(), psCommand(), execCommand(), logsCommand(),
		stopCommand(), killCommand(), restartCommand(), rmCommand(), inspectCommand(), waitCommand(), updateCommand(),
		helperCommand(engine.HelperStart), helperCommand(engine.HelperCleanup),
	}
}

func newEngine(c *ucli.Context) (*engine.Engine, error) {
	var opts []engine.Option
	if c.Bool("debug") {
		opts = append(opts, engine.WithTrace(os.Stderr))
	}
	return engine.New(c.String("root"), c.String("state"), opts...)
}

// multi is a repeatable string flag that, unlike StringSliceFlag, never
// splits a value on commas (-e A=1,2 is one variable).
type multi struct{ vals []string }

// Set appends v. urfave copies a flag's value between its aliases as
// Set(String()); String is empty so that the copy adds nothing.
func (m *multi) Set(v string) error {
	if v != "" {
		m.vals = append(m.vals, v)
	}
	return nil
}

func (m *multi) String() string { return "" }

func multiFlag(name string, aliases []string, usage string) *ucli.GenericFlag {
	return &ucli.GenericFlag{Name: name, Aliases: aliases, Usage: usage, Value: &multi{}}
}

func multiVals(c *ucli.Context, name string) []string {
	if m, ok := c.Generic(name).(*multi); ok {
		return m.vals
	}
	return nil
}

func containerCreateFlags() []ucli.Flag {
	return []ucli.Flag{
		&ucli.StringFlag{Name: "name", Usage: "assign a name to the container"},
		&ucli.BoolFlag{Name: "rm", Usage: "remove the container when it exits"},
		&ucli.BoolFlag{Name: "interactive", Aliases: []string{"i"}, Usage: "keep stdin open"},
		&ucli.BoolFlag{Name: "tty", Aliases: []string{"t"}, Usage: "allocate a pseudo-terminal"},
		multiFlag("env", []string{"e"}, "set an environment variable (KEY=VALUE, or KEY to take it from pcr's environment)"),
		multiFlag("env-file", nil, "read environment variables from a file"),
		&ucli.StringFlag{Name: "workdir", Aliases: []string{"w"}, Usage: "working directory inside the container"},
		&ucli.StringFlag{Name: "user", Aliases: []string{"u"}, Usage: "USER[:GROUP], names or ids from the image"},
		&ucli.StringFlag{Name: "hostname", Usage: "container host name"},
		&ucli.StringFlag{Name: "entrypoint", Usage: "override the image's ENTRYPOINT (\"\" clears it)"},
		&ucli.StringFlag{Name: "memory", Aliases: []string{"m"}, Usage: "memory limit (e.g. 64m, 1g)"},
		&ucli.StringFlag{Name: "memory-swap", Usage: "memory plus swap limit, -1 for unlimited"},
		&ucli.StringFlag{Name: "cpus", Usage: "number of CPUs (e.g. 1.5)"},
		&ucli.Uint64Flag{Name: "cpu-shares", Usage: "relative CPU weight"},
		&ucli.StringFlag{Name: "cpuset-cpus", Usage: "CPUs to run on (0-2,4)"},
		&ucli.Int64Flag{Name: "pids-limit", Usage: "process limit (0 or -1: unlimited)"},
		multiFlag("ulimit", nil, "a resource limit NAME=SOFT[:HARD] (nofile=1024:2048; -1: unlimited)"),
		multiFlag("volume", []string{"v"}, "bind mount HOST:CONTAINER[:ro]"),
		multiFlag("tmpfs", nil, "mount a tmpfs at PATH[:OPTIONS]"),
		&ucli.BoolFlag{Name: "read-only", Usage: "mount the root filesystem read-only"},
		multiFlag("cap-add", nil, "add a capability"),
		multiFlag("cap-drop", nil, "drop a capability"),
		multiFlag("security-opt", nil, "no-new-privileges, seccomp=unconfined"),
		&ucli.BoolFlag{Name: "init", Usage: "run a minimal init as PID 1 that reaps zombies and forwards signals"},
		&ucli.StringFlag{Name: "cgroup-parent", Usage: "parent cgroup of the container's"},
		&ucli.StringFlag{Name: "stop-signal", Usage: "signal stop sends first (default: the image's STOPSIGNAL, or SIGTERM)"},
		multiFlag("net", []string{"network"}, "bridge (network pcr, the default), a network's name, none (loopback only), host, or container:NAME; repeat to join more networks; NAME:ip=ADDR fixes the address"),
		multiFlag("publish", []string{"p"}, "publish a port: [IP:][HOSTPORT:]CTRPORT[/tcp|udp]"),
		&ucli.BoolFlag{Name: "publish-all", Aliases: []string{"P"}, Usage: "publish every port the image exposes on a random host port"},
		&ucli.StringFlag{Name: "ip", Usage: "the container's address on a user network"},
		multiFlag("dns", nil, "a DNS server for the container's resolv.conf"),
		multiFlag("dns-search", nil, "a DNS search domain"),
		multiFlag("add-host", nil, "add HOST:IP to the container's /etc/hosts"),
		multiFlag("network-alias", nil, "another name the container has on its user network"),
		multiFlag("uidmap", nil, "run in a user namespace mapping container UIDs CONTAINER:HOST:SIZE (repeatable)"),
		multiFlag("gidmap", nil, "map container GIDs CONTAINER:HOST:SIZE (repeatable; default: as --uidmap)"),
		multiFlag("storage-opt", nil, "size=SIZE: cap the writable layer with its own filesystem of that size"),
	}
}

// parseCreate turns the flags and the arguments after them into engine
// options; every bad value is an error here, before anything is made.
func parseCreate(c *ucli.Context) (string, engine.Options, error) {
	var o engine.Options
	if c.NArg() < 1 {
		return "", o, usageErr(c, "requires an image")
	}
	img := c.Args().First()
	o.Cmd = c.Args().Tail()
	o.Name = c.String("name")
	o.Rm, o.OpenStdin, o.Tty = c.Bool("rm"), c.Bool("interactive"), c.Bool("tty")
	o.WorkingDir, o.User, o.Hostname = c.String("workdir"), c.String("user"), c.String("hostname")
	if c.IsSet("entrypoint") {
		o.EntrypointSet = true
		if ep := c.String("entrypoint"); ep != "" {
			o.Entrypoint = []string{ep}
		}
	}
	var err error
	if v := c.String("memory"); v != "" {
		if o.Memory, err = engine.ParseSize(v); err != nil {
			return "", o, fmt.Errorf("invalid argument %q for --memory: %w", v, err)
		}
	}
	if v := c.String("memory-swap"); v != "" {
		if v == "-1" {
			o.MemorySwap = -1
		} else if o.MemorySwap, err = engine.ParseSize(v); err != nil {
			return "", o, fmt.Errorf("invalid argument %q for --memory-swap: %w", v, err)
		}
	}
	if v := c.String("cpus"); v != "" {
		if o.NanoCPUs, err = engine.ParseCPUs(v); err != nil {
			return "", o, err
		}
	}
	o.CPUShares, o.CpusetCPUs, o.PidsLimit = c.Uint64("cpu-shares"), c.String("cpuset-cpus"), c.Int64("pids-limit")
	o.Ulimits = multiVals(c, "ulimit")
	o.Volumes, o.Tmpfs = multiVals(c, "volume"), multiVals(c, "tmpfs")
	o.ReadOnly, o.Init = c.Bool("read-only"), c.Bool("init")
	o.CapAdd, o.CapDrop, o.SecurityOpt = multiVals(c, "cap-add"), multiVals(c, "cap-drop"), multiVals(c, "security-opt")
	o.CgroupParent = c.String("cgroup-parent")
	o.StopSignal = c.String("stop-signal")
	o.Publish, o.PublishAll, o.IP = multiVals(c, "publish"), c.Bool("publish-all"), c.String("ip")
	if err := o.SetNetworks(multiVals(c, "net")); err != nil {
		return "", o, err
	}
	o.DNS, o.DNSSearch, o.AddHost = multiVals(c, "dns"), multiVals(c, "dns-search"), multiVals(c, "add-host")
	o.NetworkAliases = multiVals(c, "network-alias")
	if o.UIDMap, err = engine.ParseIDMaps("uidmap", multiVals(c, "uidmap")); err != nil {
		return "", o, err
	}
	if o.GIDMap, err = engine.ParseIDMaps("gidmap", multiVals(c, "gidmap")); err != nil {
		return "", o, err
	}
	if len(o.GIDMap) == 0 && !c.IsSet("gidmap") {
		o.GIDMap = o.UIDMap // podman's default: the same ranges for groups
	}
	if o.StorageSize, err = engine.ParseStorageOpts(multiVals(c, "storage-opt")); err != nil {
		return "", o, err
	}
	for _, f := range multiVals(c, "env-file") {
		vars, err := readEnvFile(f)
		if err != nil {
			return "", o, err
		}
		o.Env = append(o.Env, vars...)
	}
	for _, kv := range multiVals(c, "env") {
		if !strings.Contains(kv, "=") {
			v, ok := os.LookupEnv(kv)
			if !ok {
				continue // Docker drops a KEY that pcr's environment lacks
			}
			kv += "=" + v
		}
		o.Env = append(o.Env, kv)
	}
	return img, o, o.Validate()
}

// readEnvFile reads KEY=VALUE lines; # comments and blank lines are skipped,
// a bare KEY is taken from pcr's environment, as Docker's --env-file does.
func readEnvFile(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--env-file: %w", err)
	}
	defer f.Close()
	var out []string
	s := bufio.NewScanner(f)
	for n := 1; s.Scan(); n++ {
		l := strings.TrimLeft(s.Text(), " \t")
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if strings.HasPrefix(l, "=") {
			return nil, fmt.Errorf("--env-file %s:%d: variable without a name", path, n)
		}
		if !strings.Contains(l, "=") {
			if v, ok := os.LookupEnv(l); ok {
				out = append(out, l+"="+v)
			}
			continue
		}
		out = append(out, l)
	}
	return out, s.Err()
}

func stdio(interactive bool) (engine.Stdio, func(), error) {
	in := os.Stdin
	closer := func() {}
	if !interactive {
		f, err := os.Open(os.DevNull)
		if err != nil {
			return engine.Stdio{}, nil, err
		}
		in, closer = f, func() { f.Close() }
	}
	return engine.Stdio{In: in, Out: os.Stdout, Err: os.Stderr}, closer, nil
}

// runResult turns a foreground run's outcome into pcr's exit: the
// container's status, 126/127 when its command could not be run (with
// the message), 125 for anything else.
func runResult(status int, err error) error {
	if err != nil {
		if code := engine.ExitStatus(err); code != 125 {
			fmt.Fprintf(os.Stderr, "pcr: %v\n", err)
			return exitCode(code)
		}
		return err
	}
	if status != 0 {
		return exitCode(status)
	}
	return nil
}

func runCommand() *ucli.Command {
	return &ucli.Command{
		Name:                   "run",
		Usage:                  "create and run a container from an image",
		ArgsUsage:              "IMAGE [COMMAND [ARG...]]",
		UseShortOptionHandling: true,
		Flags:                  append(containerCreateFlags(), &ucli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "run in the background and print the container id"}),
		Action: func(c *ucli.Context) error {
			img, o, err := parseCreate(c)
			if err != nil {
				return err
			}
			e, err := newEngine(c)
			if err != nil {
				return err
			}
			io, done, err := stdio(o.OpenStdin)
			if err != nil {
				return err
			}
			defer done()
			rec, status, err := e.Run(img, o, c.Bool("detach"), io)
			if c.Bool("detach") {
				if err != nil {
					return runResult(0, err)
				}
				fmt.Println(rec.ID)
				return nil
			}
			return runResult(status, err)
		},
	}
}

func createCommand() *ucli.Command {
	return &ucli.Command{
		Name:                   "create",
		Usage:                  "create a container from an image without starting it",
		ArgsUsage:              "IMAGE [COMMAND [ARG...]]",
		UseShortOptionHandling: true,
		Flags:                  containerCreateFlags(),
		Action: func(c *ucli.Context) error {
			img, o, err := parseCreate(c)
			if err != nil {
				return err
			}
			e, err := newEngine(c)
			if err != nil {
				return err
			}
			rec, err := e.Create(img, o)
			if err != nil {
				return err
			}
			fmt.Println(rec.ID)
			return nil
		},
	}
}

func startCommand() *ucli.Command {
	return &ucli.Command{
		Name:                   "start",
		Usage:                  "start created or stopped containers",
		ArgsUsage:              "CONTAINER...",
		UseShortOptionHandling: true,
		Flags: []ucli.Flag{
			&ucli.BoolFlag{Name: "attach", Aliases: []string{"a"}, Usage: "run in the foreground with pcr's output and exit status"},
			&ucli.BoolFlag{Name: "interactive", Aliases: []string{"i"}, Usage: "attach stdin"},
		},
		Action: func(c *ucli.Context) error {
			if c.NArg() < 1 {
				return usageErr(c, "requires at least one container")
			}
			e, err := newEngine(c)
			if err != nil {
				return err
			}
			if c.Bool("attach") || c.Bool("interactive") {
				if c.NArg() != 1 {
					return usageErr(c, "start -a takes one container")
				}
				io, done, err := stdio(c.Bool("interactive"))
				if err != nil {
					return err
				}
				defer done()
				_, status, err := e.StartAttached(c.Args().First(), io)
				return runResult(status, err)
			}
			return eachContainer(c, func(ref string) error {
				_, err := e.Start(ref)
				return err
			})
		},
	}
}

// eachContainer applies fn to every argument, printing each that worked
// as Docker does, and fails (after trying all) if any failed.
func eachContainer(c *ucli.Context, fn func(ref string) error) error {
	var failed []string
	for _, ref := range c.Args().Slice() {
		if err := fn(ref); err != nil {
			failed = append(failed, err.Error())
			continue
		}
		fmt.Println(ref)
	}
	if len(failed) > 0 {
		return errors.New(strings.Join(failed, "; "))
	}
	return nil
}

func psCommand() *ucli.Command {
	return &ucli.Command{
		Name:                   "ps",
		Usage:                  "list containers",
		UseShortOptionHandling: true,
		Flags: []ucli.Flag{
			&ucli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "show all containers, not only running ones"},
			&ucli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "only print ids"},
			&ucli.StringFlag{Name: "format", Usage: "json: one JSON object per line"},
			&ucli.BoolFlag{Name: "no-trunc", Usage: "do not truncate ids and commands"},
		},
		Action: func(c *ucli.Context) error {
			if f := c.String("format"); f != "" && f != "json" {
				return fmt.Errorf("unsupported --format %q: want json", f)
			}
			e, err := newEngine(c)
			if err != nil {
				return err
			}
			list, err := e.List(c.Bool("all"))
			if err != nil {
				return err
			}
			now := time.Now()
			trunc := !c.Bool("no-trunc")
			if c.Bool("quiet") {
				for _, ct := range list {
					fmt.Println(shortIf(ct.ID, trunc))
				}
				return nil
			}
			if c.String("format") == "json" {
				enc := json.NewEncoder(os.Stdout)
				for _, ct := range list {
					enc.Encode(map[string]any{
						"ID": shortIf(ct.ID, trunc), "Image": ct.Image, "Command": quoteCommand(ct.Args),
						"CreatedAt": ct.Created, "State": ct.State.Status, "Status": statusText(ct, now),
						"ExitCode": ct.State.ExitCode, "Names": ct.Name,
					})
				}
				return nil
			}
			w := tabwriter.NewWriter(os.Stdout, 0, 8, 3, ' ', 0)
			fmt.Fprintln(w, "CONTAINER ID\tIMAGE\tCOMMAND\tCREATED\tSTATUS\tNAMES")
			for _, ct := range list {
				cmd := quoteCommand(ct.Args)
				if trunc && len(cmd) > 20 {
					cmd = cmd[:19] + "…"
				}
				fmt.Fprintf(w, "%s\t%s\t%q\t%s\t%s\t%s\n", shortIf(ct.ID, trunc), ct.Image, cmd,
					ago(now.Sub(ct.Created)), statusText(ct, now), ct.Name)
			}
			return w.Flush()
		},
	}
}

func shortIf(id string, short bool) string {
	if short {
		return engine.ShortID(id)
	}
	return id
}

func quoteCommand(args []string) string { return strings.Join(args, " ") }

// statusText is ps's STATUS: "Up 3 seconds", "Exited (3) 5 seconds ago".
func statusText(c *engine.Container, now time.Time) string {
	s := c.State
	switch s.Status {
	case engine.StatusRunning:
		return "Up " + human(now.Sub(s.StartedAt))
	case engine.StatusPaused:
		return "Up " + human(now.Sub(s.StartedAt)) + " (Paused)"
	case engine.StatusExited:
		if s.FinishedAt.IsZero() {
			return fmt.Sprintf("Exited (%d)", s.ExitCode)
		}
		return fmt.Sprintf("Exited (%d) %s", s.ExitCode, ago(now.Sub(s.FinishedAt)))
	case engine.StatusCreated:
		return "Created"
	case engine.StatusDead:
		return "Dead"
	}
	return s.Status
}

func ago(d time.Duration) string { return human(d) + " ago" }

// human is Docker's coarse duration: "Less than a second", "5 seconds",
// "3 minutes", "2 hours", "4 days".
func human(d time.Duration) string {
	switch s := int(d.Seconds()); {
	case s < 1:
		return "Less than a second"
	case s == 1:
		return "1 second"
	case s < 60:
		return fmt.Sprintf("%d seconds", s)
	case s < 120:
		return "About a minute"
	case s < 3600:
		return fmt.Sprintf("%d minutes", s/60)
	case s < 7200:
		return "About an hour"
	case s < 48*3600:
		return fmt.Sprintf("%d hours", s/3600)
	default:
		return fmt.Sprintf("%d days", s/86400)
	}
}

func execCommand() *ucli.Command {
	return &ucli.Command{
		Name:                   "exec",
		Usage:                  "run a command in a running container",
		ArgsUsage:              "CONTAINER COMMAND [ARG...]",
		UseShortOptionHandling: true,
		Flags:                  execFlags("USER[:GROUP]"),
		Action: func(c *ucli.Context) error {
			if c.NArg() < 2 {
				return usageErr(c, "requires a container and a command")
			}
			e, err := newEngine(c)
			if err != nil {
				return err
			}
			io, done, err := stdio(c.Bool("interactive"))
			if err != nil {
				return err
			}
			defer done()
			o := execOptions(c, c.Args().Tail())
			o.Stdio = io
			status, err := e.Exec(c.Args().First(), o)
			return runResult(status, err)
		},
	}
}

// execFlags are exec's flags, shared by pcr exec and pcr vserver exec.
func execFlags(userUsage string) []ucli.Flag {
	return []ucli.Flag{
		&ucli.BoolFlag{Name: "interactive", Aliases: []string{"i"}, Usage: "keep stdin open"},
		&ucli.BoolFlag{Name: "tty", Aliases: []string{"t"}, Usage: "allocate a pseudo-terminal"},
		multiFlag("env", []string{"e"}, "set an environment variable"),
		&ucli.StringFlag{Name: "workdir", Aliases: []string{"w"}, Usage: "working directory"},
		&ucli.StringFlag{Name: "user", Aliases: []string{"u"}, Usage: userUsage},
	}
}

// execOptions reads execFlags for cmd (stdio is the caller's).
func execOptions(c *ucli.Context, cmd []string) engine.ExecOptions {
	return engine.ExecOptions{Cmd: cmd, Env: multiVals(c, "env"), WorkingDir: c.String("workdir"),
		User: c.String("user"), Tty: c.Bool("tty")}
}

func logsCommand() *ucli.Command {
	return &ucli.Command{
		Name:                   "logs",
		Usage:                  "print a detached container's output",
		ArgsUsage:              "CONTAINER",
		UseShortOptionHandling: true,
		Flags: []ucli.Flag{
			&ucli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "keep printing until the container exits"},
			&ucli.StringFlag{Name: "tail", Aliases: []string{"n"}, Value: "all", Usage: "lines from the end (all: every line)"},
			&ucli.BoolFlag{Name: "timestamps", Aliases: []string{"t"}, Usage: "prefix each line with its time"},
		},
		Action: func(c *ucli.Context) error {
			if c.NArg() != 1 {
				return usageErr(c, "requires exactly one container")
			}
			tail := -1
			if v := c.String("tail"); v != "all" {
				n, err := fmt.Sscanf(v, "%d", &tail)
				if n != 1 || err != nil || tail < 0 || fmt.Sprint(tail) != v {
					return fmt.Errorf("invalid --tail %q: want a number or all", v)
				}
			}
			e, err := newEngine(c)
			if err != nil {
				return err
			}
			return e.Logs(c.Args().First(), engine.LogsOptions{Follow: c.Bool("follow"), Tail: tail, Timestamps: c.Bool("timestamps")}, os.Stdout, os.Stderr)
		},
	}
}

// perContainerCommand is a verb applied to each CONTAINER argument in turn
// (stop, kill, restart, rm): prepare reads the flags once, then act runs
// per container, and every success is printed as Docker does.
func perContainerCommand(name, usage string, flags []ucli.Flag, prepare func(c *ucli.Context) (func(e *engine.Engine, ref string) error, error)) *ucli.Command {
	return &ucli.Command{
		Name:                   name,
		Usage:                  usage,
		ArgsUsage:              "CONTAINER...",
		UseShortOptionHandling: true,
		Flags:                  flags,
		Action: func(c *ucli.Context) error {
			if c.NArg() < 1 {
				return usageErr(c, "requires at least one container")
			}
			act, err := prepare(c)
			if err != nil {
				return err
			}
			e, err := newEngine(c)
			if err != nil {
				return err
			}
			return eachContainer(c, func(ref string) error { return act(e, ref) })
		},
	}
}

func stopTimeoutFlag() ucli.Flag {
	return &ucli.IntFlag{Name: "time", Aliases: []string{"t"}, Value: 10, Usage: "seconds to wait before SIGKILL"}
}

func stopCommand() *ucli.Command {
	return perContainerCommand("stop", "stop running containers (SIGTERM, then SIGKILL after the timeout)",
		[]ucli.Flag{stopTimeoutFlag()},
		func(c *ucli.Context) (func(*engine.Engine, string) error, error) {
			t := time.Duration(c.Int("time")) * time.Second
			return func(e *engine.Engine, ref string) error { return e.Stop(ref, t) }, nil
		})
}

func killCommand() *ucli.Command {
	return perContainerCommand("kill", "send a signal to running containers",
		[]ucli.Flag{&ucli.StringFlag{Name: "signal", Aliases: []string{"s"}, Value: "KILL", Usage: "signal name or number"}},
		func(c *ucli.Context) (func(*engine.Engine, string) error, error) {
			sig, err := runtime.ParseSignal(c.String("signal"))
			if err != nil {
				return nil, err
			}
			return func(e *engine.Engine, ref string) error { return e.Kill(ref, unix.Signal(sig)) }, nil
		})
}

func restartCommand() *ucli.Command {
	return perContainerCommand("restart", "stop and start containers",
		[]ucli.Flag{stopTimeoutFlag()},
		func(c *ucli.Context) (func(*engine.Engine, string) error, error) {
			t := time.Duration(c.Int("time")) * time.Second
			return func(e *engine.Engine, ref string) error { return e.Restart(ref, t) }, nil
		})
}

func rmCommand() *ucli.Command {
	return perContainerCommand("rm", "remove containers",
		[]ucli.Flag{
			&ucli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "kill a running container first"},
			&ucli.BoolFlag{Name: "volumes", Aliases: []string{"v"}, Usage: "accepted for Docker compatibility: pcr has no anonymous volumes"},
		},
		func(c *ucli.Context) (func(*engine.Engine, string) error, error) {
			force := c.Bool("force")
			return func(e *engine.Engine, ref string) error { return e.Remove(ref, force) }, nil
		})
}

func inspectCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "inspect",
		Usage:     "print containers' configuration and state as JSON",
		ArgsUsage: "CONTAINER...",
		Flags:     []ucli.Flag{&ucli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "json", Usage: "json (the only format)"}},
		Action: func(c *ucli.Context) error {
			if c.NArg() < 1 {
				return usageErr(c, "requires at least one container")
			}
			if c.String("format") != "json" {
				return fmt.Errorf("unsupported --format %q: want json", c.String("format"))
			}
			e, err := newEngine(c)
			if err != nil {
				return err
			}
			out := []engine.InspectJSON{}
			for _, ref := range c.Args().Slice() {
				ct, err := e.Inspect(ref)
				if err != nil {
					return err
				}
				out = append(out, e.InspectData(ct))
			}
			data, err := json.MarshalIndent(out, "", "    ")
			if err != nil {
				return err
			}
			fmt.Println(string(data))
			return nil
		},
	}
}

func waitCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "wait",
		Usage:     "wait for containers to exit and print their exit codes",
		ArgsUsage: "CONTAINER...",
		Action: func(c *ucli.Context) error {
			if c.NArg() < 1 {
				return usageErr(c, "requires at least one container")
			}
			e, err := newEngine(c)
			if err != nil {
				return err
			}
			for _, ref := range c.Args().Slice() {
				code, err := e.Wait(ref)
				if err != nil {
					return err
				}
				fmt.Println(code)
			}
			return nil
		},
	}
}

// helperCommand is a hidden verb the monitor runs: the start helper
// (create and start the container, report the pid) or the cleanup after
// the container exited. Arguments: ID RUNID.
func helperCommand(name string) *ucli.Command {
	return &ucli.Command{
		Name:   name,
		Hidden: true,
		Action: func(c *ucli.Context) error {
			if c.NArg() != 2 {
				return fmt.Errorf("%s: want ID RUNID", name)
			}
			e, err := newEngine(c)
			if err != nil {
				return err
			}
			id, run := c.Args().Get(0), c.Args().Get(1)
			if name == engine.HelperStart {
				return e.StartHelper(id, run)
			}
			return e.Cleanup(id, run)
		},
	}
}
