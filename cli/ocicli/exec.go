package ocicli

import (
	"os"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"pcr/internal/fmtlite"
	"pcr/runtime"
)

func execCommand() *command {
	return &command{
		name: "exec", usage: "run a new process inside a running container", argsUsage: "ID [--] COMMAND [ARG...]",
		flags: []flag{
			{names: []string{"process", "p"}, kind: stringFlag, usage: "process.json with the process to run"},
			{names: []string{"tty", "t"}, kind: boolFlag, usage: "allocate a pseudo-terminal"},
			{names: []string{"detach", "d"}, kind: boolFlag, usage: "do not wait for the process"},
			{names: []string{"pid-file"}, kind: stringFlag, usage: "write the process's pid here"},
			{names: []string{"console-socket"}, kind: stringFlag, usage: "unix socket that receives the pty master"},
			{names: []string{"cwd"}, kind: stringFlag, usage: "working directory in the container"},
			{names: []string{"env", "e"}, kind: listFlag, usage: "KEY=VALUE to add (repeatable)"},
			{names: []string{"user", "u"}, kind: stringFlag, usage: "UID[:GID]"},
			{names: []string{"additional-gids", "g"}, kind: listFlag, usage: "extra group ids (repeatable, or comma-separated)"},
			{names: []string{"cap", "c"}, kind: listFlag, usage: "add a capability (repeatable)"},
			{names: []string{"no-new-privs"}, kind: boolFlag, usage: "set no_new_privs"},
			{names: []string{"apparmor"}, kind: stringFlag, usage: "AppArmor profile (refused where AppArmor is off)"},
			{names: []string{"process-label"}, kind: stringFlag, usage: "SELinux label (ignored where SELinux is off)"},
			{names: []string{"preserve-fds"}, kind: intFlag, usage: "pass this many fds after stdio"},
			{names: []string{"ignore-paused"}, kind: boolFlag, usage: "accepted for runc compatibility"},
		},
		run: func(c *ctx) error {
			if len(c.args) < 1 {
				return c.usageErr("exec: a container id is required")
			}
			id := c.args[0]
			rt, err := c.runtime()
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
				return fmtlite.Errorf("exec: AppArmor profile %q: AppArmor is not enabled on this host", proc.ApparmorProfile)
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
			status, err := runtime.RunForeground(p)
			if err != nil {
				return err
			}
			if status != 0 {
				return ExitStatus(status)
			}
			return nil
		},
	}
}

// execProcess builds the process from --process, or from the container's
// own process with the flags applied on top, as runc does.
func execProcess(c *ctx, st *runtime.State) (*specs.Process, error) {
	if path := c.String("process"); path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmtlite.Errorf("exec: %w", err)
		}
		p, err := runtime.DecodeProcess(data)
		if err != nil {
			return nil, fmtlite.Errorf("exec: parse %s: %w", path, err)
		}
		if len(p.Args) == 0 {
			return nil, fmtlite.Errorf("exec: %s has no args", path)
		}
		return p, nil
	}
	args := c.args[1:]
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		return nil, c.usageErr("exec: a command is required (or --process)")
	}
	cspec, err := st.Spec()
	if err != nil {
		return nil, err
	}
	if cspec == nil || cspec.Process == nil {
		return nil, fmtlite.Errorf("exec: container %s has no recorded process to start from", st.ID)
	}
	base := cspec.Process
	p := &specs.Process{
		Args: args, Env: append([]string{}, base.Env...), Cwd: base.Cwd, User: base.User,
		Capabilities: base.Capabilities, Rlimits: base.Rlimits, NoNewPrivileges: base.NoNewPrivileges,
		ApparmorProfile: base.ApparmorProfile, OOMScoreAdj: base.OOMScoreAdj,
		Terminal: c.Bool("tty"),
	}
	p.Env = append(p.Env, c.List("env")...)
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
	for _, list := range c.List("additional-gids") {
		for _, g := range strings.Split(list, ",") {
			n, err := strconv.ParseUint(strings.TrimSpace(g), 10, 32)
			if err != nil {
				return nil, fmtlite.Errorf("--additional-gids %q: want numeric group ids", list)
			}
			p.User.AdditionalGids = append(p.User.AdditionalGids, uint32(n))
		}
	}
	if caps := c.List("cap"); len(caps) > 0 {
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
		return 0, 0, fmtlite.Errorf("--user %q: want numeric UID[:GID]", s)
	}
	gid := uint64(0)
	if hasGID {
		if gid, err = strconv.ParseUint(gidS, 10, 32); err != nil {
			return 0, 0, fmtlite.Errorf("--user %q: want numeric UID[:GID]", s)
		}
	}
	return uint32(uid), uint32(gid), nil
}
