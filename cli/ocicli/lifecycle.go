package ocicli

import (
	"os"

	ucli "github.com/urfave/cli/v2"

	"pcr/runtime"
)

func createFlags() []ucli.Flag {
	return []ucli.Flag{
		&ucli.StringFlag{Name: "bundle", Aliases: []string{"b"}, Value: ".", Usage: "path to the bundle (holds config.json)"},
		&ucli.StringFlag{Name: "pid-file", Usage: "write the init's pid here"},
		&ucli.StringFlag{Name: "console-socket", Usage: "unix socket that receives the pty master"},
		&ucli.BoolFlag{Name: "no-pivot", Usage: "move the root and chroot instead of pivot_root (ramfs roots)"},
		&ucli.BoolFlag{Name: "no-new-keyring", Usage: "accepted for runc compatibility"},
		&ucli.IntFlag{Name: "preserve-fds", Usage: "pass this many fds after stdio to the container"},
	}
}

func createOpts(c *ucli.Context, id string) runtime.CreateOpts {
	return runtime.CreateOpts{
		ID: id, Bundle: c.String("bundle"), PidFile: c.String("pid-file"),
		ConsoleSocket: c.String("console-socket"), NoPivot: c.Bool("no-pivot"),
		PreserveFDs: c.Int("preserve-fds"),
		Stdin:       os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
	}
}

func createCommand() *ucli.Command {
	return &ucli.Command{
		Name: "create", Usage: "create a container and leave it waiting for start", ArgsUsage: "ID",
		Flags: createFlags(),
		Action: withContainer(func(c *ucli.Context, rt *runtime.Runtime, id string) error {
			_, err := rt.Create(createOpts(c, id))
			return err
		}),
	}
}

func startCommand() *ucli.Command {
	return &ucli.Command{
		Name: "start", Usage: "run the process of a created container", ArgsUsage: "ID",
		Action: withContainer(func(c *ucli.Context, rt *runtime.Runtime, id string) error {
			return rt.Start(id)
		}),
	}
}

func runCommand() *ucli.Command {
	return &ucli.Command{
		Name: "run", Usage: "create and start a container; in the foreground wait for it and exit with its status", ArgsUsage: "ID",
		Flags: append(createFlags(), &ucli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "do not wait for the container"},
			&ucli.BoolFlag{Name: "keep", Usage: "accepted for runc compatibility"}),
		Action: withContainer(func(c *ucli.Context, rt *runtime.Runtime, id string) error {
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

func killCommand() *ucli.Command {
	return &ucli.Command{
		Name: "kill", Usage: "send a signal (default SIGTERM) to the container's init", ArgsUsage: "ID [SIGNAL]",
		Flags: []ucli.Flag{&ucli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "signal every process of the container"}},
		Action: func(c *ucli.Context) error {
			if c.NArg() < 1 || c.NArg() > 2 {
				return UsageErr(c, "kill: usage: kill ID [SIGNAL]")
			}
			sigName := "SIGTERM"
			if c.NArg() == 2 {
				sigName = c.Args().Get(1)
			}
			sig, err := runtime.ParseSignal(sigName)
			if err != nil {
				return err
			}
			rt, err := ociRuntime(c)
			if err != nil {
				return err
			}
			return rt.Kill(c.Args().First(), sig, c.Bool("all"))
		},
	}
}

func deleteCommand() *ucli.Command {
	return &ucli.Command{
		Name: "delete", Usage: "delete a stopped container (--force: any)", ArgsUsage: "ID",
		Flags: []ucli.Flag{&ucli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "kill it first if it runs"}},
		Action: withContainer(func(c *ucli.Context, rt *runtime.Runtime, id string) error {
			err := rt.Delete(id, c.Bool("force"))
			if c.Bool("force") && isNotExist(err) {
				return nil // runc: delete --force of a missing container succeeds
			}
			return err
		}),
	}
}

func pauseCommand() *ucli.Command {
	return &ucli.Command{
		Name: "pause", Usage: "freeze every process of the container", ArgsUsage: "ID",
		Action: withContainer(func(c *ucli.Context, rt *runtime.Runtime, id string) error {
			return rt.Pause(id)
		}),
	}
}

func resumeCommand() *ucli.Command {
	return &ucli.Command{
		Name: "resume", Usage: "thaw a paused container", ArgsUsage: "ID",
		Action: withContainer(func(c *ucli.Context, rt *runtime.Runtime, id string) error {
			return rt.Resume(id)
		}),
	}
}
