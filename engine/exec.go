package engine

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"pcr/engine/internal/monitor"
	"pcr/runtime"
)

// ExecOptions are `pcr exec`'s flags.
type ExecOptions struct {
	Cmd        []string
	Env        []string
	WorkingDir string
	User       string
	Tty        bool
	Stdio      Stdio
}

// Exec runs a command in a running container with the container's
// process settings (env, user, capabilities, seccomp via the spec),
// changed by the flags, and returns its exit status.
func (e *Engine) Exec(ref string, o ExecOptions) (int, error) {
	c, err := e.Inspect(ref)
	if err != nil {
		return 0, err
	}
	if !c.State.Running {
		return 0, fmt.Errorf("container %s is not running (%s): start it before exec", ref, c.State.Status)
	}
	if c.State.Paused {
		return 0, fmt.Errorf("container %s is paused: unpause it before exec", ref)
	}
	if len(o.Cmd) == 0 {
		return 0, fmt.Errorf("exec: no command given")
	}
	data, err := os.ReadFile(filepath.Join(c.Dir, "config.json"))
	if err != nil {
		return 0, fmt.Errorf("exec in %s: %w", ref, err)
	}
	var spec specs.Spec
	if err := json.Unmarshal(data, &spec); err != nil {
		return 0, fmt.Errorf("exec in %s: parse config.json: %w", ref, err)
	}
	proc := *spec.Process
	proc.Args = o.Cmd
	proc.Terminal = o.Tty
	if o.Tty {
		// The init sizes the pty before exec, so a command that reads its
		// size at once (stty size, a full-screen program) sees the caller's.
		if ws, err := unix.IoctlGetWinsize(int(os.Stdin.Fd()), unix.TIOCGWINSZ); err == nil {
			proc.ConsoleSize = &specs.Box{Height: uint(ws.Row), Width: uint(ws.Col)}
		}
	}
	proc.Env = slices.DeleteFunc(slices.Clone(proc.Env), func(kv string) bool { return strings.HasPrefix(kv, monitor.InitEnv+"=") })
	if o.Tty {
		proc.Env = mergeEnv(proc.Env, []string{"TERM=xterm"})
	}
	proc.Env = mergeEnv(proc.Env, o.Env)
	if o.WorkingDir != "" {
		if !filepath.IsAbs(o.WorkingDir) {
			return 0, fmt.Errorf("invalid working directory %q: must be absolute", o.WorkingDir)
		}
		proc.Cwd = o.WorkingDir
	}
	if o.User != "" {
		// The running container's overlay is mounted on rootfs/: its own
		// /etc/passwd, users it added included.
		if proc.User, err = resolveUser(filepath.Join(c.Dir, "rootfs"), o.User); err != nil {
			return 0, err
		}
	}
	p, err := e.rt.Exec(c.ID, runtime.ExecOpts{
		Process: &proc, KeepTerminal: o.Tty,
		Stdin: o.Stdio.In, Stdout: o.Stdio.Out, Stderr: o.Stdio.Err,
	})
	if err != nil {
		return 0, err
	}
	return runtime.RunForeground(p)
}
