package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"pcr/engine/build"
	"pcr/image"
)

// buildCommands is `pcr build` (also `pcr image build`).
func buildCommands() []*ucli.Command {
	return []*ucli.Command{buildCommand()}
}

func buildCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "build",
		Usage:     "build an image from a Dockerfile",
		ArgsUsage: "DIR",
		Flags: []ucli.Flag{
			&ucli.StringSliceFlag{Name: "tag", Aliases: []string{"t"}, Usage: "name the image NAME[:TAG] (repeatable)"},
			&ucli.StringFlag{Name: "file", Aliases: []string{"f"}, Usage: "the Dockerfile (default DIR/Dockerfile)"},
			&ucli.StringSliceFlag{Name: "build-arg", Usage: "set an ARG: KEY=VALUE, or KEY to take it from the environment (repeatable)"},
			&ucli.BoolFlag{Name: "no-cache", Usage: "run every step, ignoring the build cache"},
			&ucli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only the image ID"},
		},
		Action: func(c *ucli.Context) error {
			if c.NArg() != 1 {
				return usageErr(c, "build needs exactly one DIR: the build context")
			}
			dir := c.Args().First()
			if dir == "-" || strings.Contains(dir, "://") {
				return usageErr(c, "the build context must be a local directory")
			}
			args := map[string]string{}
			for _, a := range c.StringSlice("build-arg") {
				k, v, ok := strings.Cut(a, "=")
				if k == "" {
					return usageErr(c, fmt.Sprintf("--build-arg %q: want KEY=VALUE", a))
				}
				if !ok {
					// Docker's habit: a bare KEY takes the caller's environment, or is skipped.
					if v, ok = os.LookupEnv(k); !ok {
						continue
					}
				}
				args[k] = v
			}
			store, err := image.Open(c.String("root"))
			if err != nil {
				return err
			}
			_, err = build.Build(build.Options{
				Store:      store,
				WorkRoot:   filepath.Join(c.String("root"), "build"),
				StateRoot:  filepath.Join(c.String("state"), "build"),
				ContextDir: dir,
				Dockerfile: c.String("file"),
				Tags:       c.StringSlice("tag"),
				BuildArgs:  args,
				NoCache:    c.Bool("no-cache"),
				Quiet:      c.Bool("quiet"),
				Stdout:     os.Stdout,
				Stderr:     os.Stderr,
			})
			return err
		},
	}
}
