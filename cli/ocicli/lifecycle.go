package ocicli

import (
	"os"

	"pcr/runtime"
)

func createFlags() []flag {
	return []flag{
		{names: []string{"bundle", "b"}, kind: stringFlag, value: ".", usage: "path to the bundle (holds config.json)"},
		{names: []string{"pid-file"}, kind: stringFlag, usage: "write the init's pid here"},
		{names: []string{"console-socket"}, kind: stringFlag, usage: "unix socket that receives the pty master"},
		{names: []string{"no-pivot"}, kind: boolFlag, usage: "move the root and chroot instead of pivot_root (ramfs roots)"},
		{names: []string{"no-new-keyring"}, kind: boolFlag, usage: "accepted for runc compatibility"},
		{names: []string{"preserve-fds"}, kind: intFlag, usage: "pass this many fds after stdio to the container"},
	}
}

func createOpts(c *ctx, id string) runtime.CreateOpts {
	return runtime.CreateOpts{
		ID: id, Bundle: c.String("bundle"), PidFile: c.String("pid-file"),
		ConsoleSocket: c.String("console-socket"), NoPivot: c.Bool("no-pivot"),
		PreserveFDs: c.Int("preserve-fds"),
		Stdin:       os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
	}
}

func createCommand() *command {
	return &command{
		name: "create", usage: "create a container and leave it waiting for start", argsUsage: "ID",
		flags: createFlags(),
		run: withContainer(func(c *ctx, rt *runtime.Runtime, id string) error {
			_, err := rt.Create(createOpts(c, id))
			return err
		}),
	}
}

func startCommand() *command {
	return &command{
		name: "start", usage: "run the process of a created container", argsUsage: "ID",
		run: withContainer(func(c *ctx, rt *runtime.Runtime, id string) error {
			return rt.Start(id)
		}),
	}
}

func runCommand() *command {
	return &command{
		name: "run", usage: "create and start a container; in the foreground wait for it and exit with its status", argsUsage: "ID",
		flags: append(createFlags(),
			flag{names: []string{"detach", "d"}, kind: boolFlag, usage: "do not wait for the container"},
			flag{names: []string{"keep"}, kind: boolFlag, usage: "accepted for runc compatibility"}),
		run: withContainer(func(c *ctx, rt *runtime.Runtime, id string) error {
			status, err := rt.Run(runtime.RunOpts{CreateOpts: createOpts(c, id), Detach: c.Bool("detach")})
			if err != nil {
				return err
			}
			if status != 0 {
				return ExitStatus(status)
			}
			return nil
		}),
	}
}

func killCommand() *command {
	return &command{
		name: "kill", usage: "send a signal (default SIGTERM) to the container's init", argsUsage: "ID [SIGNAL]",
		flags: []flag{{names: []string{"all", "a"}, kind: boolFlag, usage: "signal every process of the container"}},
		run: func(c *ctx) error {
			if len(c.args) < 1 || len(c.args) > 2 {
				return c.usageErr("kill: usage: kill ID [SIGNAL]")
			}
			sigName := "SIGTERM"
			if len(c.args) == 2 {
				sigName = c.args[1]
			}
			sig, err := runtime.ParseSignal(sigName)
			if err != nil {
				return err
			}
			rt, err := c.runtime()
			if err != nil {
				return err
			}
			return rt.Kill(c.args[0], sig, c.Bool("all"))
		},
	}
}

func deleteCommand() *command {
	return &command{
		name: "delete", usage: "delete a stopped container (--force: any)", argsUsage: "ID",
		flags: []flag{{names: []string{"force", "f"}, kind: boolFlag, usage: "kill it first if it runs"}},
		run: withContainer(func(c *ctx, rt *runtime.Runtime, id string) error {
			err := rt.Delete(id, c.Bool("force"))
			if c.Bool("force") && isNotExist(err) {
				return nil // runc: delete --force of a missing container succeeds
			}
			return err
		}),
	}
}

func pauseCommand() *command {
	return &command{
		name: "pause", usage: "freeze every process of the container", argsUsage: "ID",
		run: withContainer(func(c *ctx, rt *runtime.Runtime, id string) error {
			return rt.Pause(id)
		}),
	}
}

func resumeCommand() *command {
	return &command{
		name: "resume", usage: "thaw a paused container", argsUsage: "ID",
		run: withContainer(func(c *ctx, rt *runtime.Runtime, id string) error {
			return rt.Resume(id)
		}),
	}
}
