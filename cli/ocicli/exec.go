package ocicli

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	ucli "github.com/urfave/cli/v2"

	"pcr/runtime"
)

func execCommand() *ucli.Command {
	return &ucli.Command{
		Name: "exec", Usage: "run a new process inside a running container", ArgsUsage: "ID [--] COMMAND [ARG...]",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "process", Aliases: []string{"p"}, Usage: "process.json with the process to run"},
			&ucli.BoolFlag{Name: "tty", Aliases: []string{"t"}, Usage: "allocate a pseudo-terminal"},
			&ucli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "do not wait for the process"},
			&ucli.StringFlag{Name: "pid-file", Usage: "write the process's pid here"},
			&ucli.StringFlag{Name: "console-socket", Usage: "unix socket that receives the pty master"},
			&ucli.StringFlag{Name: "cwd", Usage: "working directory in the container"},
			&ucli.StringSliceFlag{Name: "env", Aliases: []string{"e"}, Usage: "KEY=VALUE to add"},
			&ucli.StringFlag{Name: "user", Aliases: []string{"u"}, Usage: "UID[:GID]"},
			&ucli.Int64SliceFlag{Name: "additional-gids", Aliases: []string{"g"}, Usage: "extra group ids"},
			&ucli.StringSliceFlag{Name: "cap", Aliases: []string{"c"}, Usage: "add a capability"},
			&ucli.BoolFlag{Name: "no-new-privs", Usage: "set no_new_privs"},
			&ucli.StringFlag{Name: "apparmor", Usage: "AppArmor profile (refused where AppArmor is off)"},
			&ucli.StringFlag{Name: "process-label", Usage: "SELinux label (ignored where SELinux is off)"},
			&ucli.IntFlag{Name: "preserve-fds", Usage: "pass this many fds after stdio"},
			&ucli.BoolFlag{Name: "ignore-paused", Usage: "accepted for runc compatibility"},
		},
		Action: func(c *ucli.Context) error {
			if c.NArg() < 1 {
				return UsageErr(c, "exec: a container id is required")
			}
			id := c.Args().First()
			rt, err := ociRuntime(c)
			if err != nil {
				return err
			}
			st, err := rt.Load(id)
			if err != nil {
				return err
			}
			proc, err := execProcess(c, st)
			if err != nil {
				return err
			}
			if proc.ApparmorProfile != "" {
				return fmt.Errorf("exec: AppArmor profile %q: AppArmor is not enabled on this host", proc.ApparmorProfile)
			}
			p, err := rt.Exec(id, runtime.ExecOpts{
				Process: proc, PidFile: c.String("pid-file"), ConsoleSocket: c.String("console-socket"),
				KeepTerminal: !c.Bool("detach"), PreserveFDs: c.Int("preserve-fds"),
				Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
			})
			if err != nil {
				return err
			}
			if c.Bool("detach") {
				return nil
			}
			if status := runtime.RunForeground(p); status != 0 {
				return ExitStatus(status)
			}
			return nil
		},
	}
}

// execProcess builds the process from --process, or from the container's
// own process with the flags applied on top, as runc does.
func execProcess(c *ucli.Context, st *runtime.State) (*specs.Process, error) {
	if path := c.String("process"); path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("exec: %w", err)
		}
		p := &specs.Process{}
		if err := json.Unmarshal(data, p); err != nil {
			return nil, fmt.Errorf("exec: parse %s: %w", path, err)
		}
		if len(p.Args) == 0 {
			return nil, fmt.Errorf("exec: %s has no args", path)
		}
		return p, nil
	}
	args := c.Args().Slice()[1:]
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		return nil, UsageErr(c, "exec: a command is required (or --process)")
	}
	base := st.Config.Process
	p := &specs.Process{
		Args: args, Env: append([]string{}, base.Env...), Cwd: base.Cwd, User: base.User,
		Capabilities: base.Capabilities, Rlimits: base.Rlimits, NoNewPrivileges: base.NoNewPrivileges,
		ApparmorProfile: base.ApparmorProfile, OOMScoreAdj: base.OOMScoreAdj,
		Terminal: c.Bool("tty"),
	}
	p.Env = append(p.Env, c.StringSlice("env")...)
	if cwd := c.String("cwd"); cwd != "" {
		p.Cwd = cwd
	}
	if u := c.String("user"); u != "" {
		uid, gid, err := parseUIDGID(u)
		if err != nil {
			return nil, err
		}
		p.User = specs.User{UID: uid, GID: gid}
	}
	for _, g := range c.Int64Slice("additional-gids") {
		p.User.AdditionalGids = append(p.User.AdditionalGids, uint32(g))
	}
	if caps := c.StringSlice("cap"); len(caps) > 0 {
		nc := &specs.LinuxCapabilities{}
		if base.Capabilities != nil {
			*nc = *base.Capabilities
		}
		for _, cp := range caps {
			nc.Bounding = append(nc.Bounding, cp)
			nc.Effective = append(nc.Effective, cp)
			nc.Permitted = append(nc.Permitted, cp)
		}
		p.Capabilities = nc
	}
	if c.Bool("no-new-privs") {
		p.NoNewPrivileges = true
	}
	if a := c.String("apparmor"); a != "" {
		p.ApparmorProfile = a
	}
	return p, nil
}

func parseUIDGID(s string) (uint32, uint32, error) {
	uidS, gidS, hasGID := strings.Cut(s, ":")
	uid, err := strconv.ParseUint(uidS, 10, 32)
	if err != nil {
		return 0, 0, fmt.Errorf("--user %q: want numeric UID[:GID]", s)
	}
	gid := uint64(0)
	if hasGID {
		if gid, err = strconv.ParseUint(gidS, 10, 32); err != nil {
			return 0, 0, fmt.Errorf("--user %q: want numeric UID[:GID]", s)
		}
	}
	return uint32(uid), uint32(gid), nil
}
