package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	ucli "github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"pcr/engine"
)

// extraContainerCommands are the container verbs beyond the lifecycle:
// stats, top, cp, rename, commit and `container prune`.
func extraContainerCommands() []*ucli.Command {
	return []*ucli.Command{
		statsCommand(), topCommand(), cpCommand(), renameCommand(), commitCommand(),
		{
			Name:        "container",
			Usage:       "manage containers",
			Subcommands: []*ucli.Command{containerPruneCommand()},
		},
	}
}

func statsCommand() *ucli.Command {
	return &ucli.Command{
		Name:                   "stats",
		Usage:                  "show containers' CPU, memory, block I/O and process counts (refreshed every second until Ctrl-C)",
		ArgsUsage:              "[CONTAINER...]",
		UseShortOptionHandling: true,
		Flags: []ucli.Flag{
			&ucli.BoolFlag{Name: "no-stream", Usage: "print one sample and exit"},
			&ucli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "show all containers, not only running ones"},
			&ucli.StringFlag{Name: "format", Usage: "json: one JSON object per container and sample"},
			&ucli.BoolFlag{Name: "no-trunc", Usage: "do not truncate ids"},
		},
		Action: func(c *ucli.Context) error {
			if f := c.String("format"); f != "" && f != "json" && f != "table" {
				return fmt.Errorf("unsupported --format %q: want json or table", f)
			}
			e, err := newEngine(c)
			if err != nil {
				return err
			}
			refs := c.Args().Slice()
			// Unknown names fail at once, before any sampling.
			for _, r := range refs {
				if _, err := e.Lookup(r); err != nil {
					return err
				}
			}
			ctx, stop := interruptible()
			defer stop()
			s := statsPrinter{e: e, refs: refs, all: c.Bool("all"), json: c.String("format") == "json",
				trunc: !c.Bool("no-trunc"), out: os.Stdout, clear: isTerminal(os.Stdout) && !c.Bool("no-stream")}
			return s.run(ctx, c.Bool("no-stream"))
		},
	}
}

// statsPrinter samples the containers and prints a frame per refresh;
// the CPU percentage of a frame comes from the previous sample of the
// same container.
type statsPrinter struct {
	e     *engine.Engine
	refs  []string
	all   bool
	json  bool
	trunc bool
	clear bool
	out   io.Writer
	prev  map[string]engine.StatsSample
}

func (s *statsPrinter) run(ctx context.Context, once bool) error {
	if _, err := s.sample(); err != nil {
		return err
	}
	// Docker's --no-stream also takes two samples: a percentage needs an
	// interval.
	wait := 500 * time.Millisecond
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		rows, err := s.sample()
		if err != nil {
			return err
		}
		if err := s.print(rows); err != nil {
			return err
		}
		if once {
			return nil
		}
		wait = time.Second
	}
}

type statsRow struct {
	cur engine.StatsSample
	cpu float64
}

// containers are the ones to show now: those named (found again each
// time, so a removed one is an error), or the running (with -a all) ones.
func (s *statsPrinter) containers() ([]*engine.Container, error) {
	if len(s.refs) == 0 {
		return s.e.List(s.all)
	}
	var out []*engine.Container
	for _, r := range s.refs {
		c, err := s.e.Inspect(r)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

func (s *statsPrinter) sample() ([]statsRow, error) {
	list, err := s.containers()
	if err != nil {
		return nil, err
	}
	next := map[string]engine.StatsSample{}
	var rows []statsRow
	for _, c := range list {
		cur, err := s.e.Stats(c)
		if err != nil {
			return nil, err
		}
		next[c.ID] = cur
		row := statsRow{cur: cur}
		if p, ok := s.prev[c.ID]; ok {
			row.cpu = engine.CPUPercent(p, cur)
		}
		rows = append(rows, row)
	}
	s.prev = next
	return rows, nil
}

func (s *statsPrinter) print(rows []statsRow) error {
	if s.json {
		enc := json.NewEncoder(s.out)
		for _, r := range rows {
			f := statsFields(r, s.trunc)
			if err := enc.Encode(map[string]string{
				"ID": f[0], "Container": f[0], "Name": f[1], "CPUPerc": f[2], "MemUsage": f[3], "MemPerc": f[4],
				"BlockIO": f[5], "PIDs": f[6],
			}); err != nil {
				return err
			}
		}
		return nil
	}
	if s.clear {
		fmt.Fprint(s.out, "\033[2J\033[H")
	}
	w := tabwriter.NewWriter(s.out, 0, 8, 3, ' ', 0)
	fmt.Fprintln(w, "CONTAINER ID\tNAME\tCPU %\tMEM USAGE / LIMIT\tMEM %\tBLOCK I/O\tPIDS")
	for _, r := range rows {
		fmt.Fprintln(w, strings.Join(statsFields(r, s.trunc), "\t"))
	}
	return w.Flush()
}

// statsFields are a row's columns as docker stats prints them; a
// container that is not running shows dashes.
func statsFields(r statsRow, trunc bool) []string {
	c := r.cur
	id := shortIf(c.ID, trunc)
	if !c.Running {
		return []string{id, c.Name, "--", "-- / --", "--", "-- / --", "--"}
	}
	return []string{
		id, c.Name,
		fmt.Sprintf("%.2f%%", r.cpu),
		engine.BytesSize(float64(c.MemUsage)) + " / " + engine.BytesSize(float64(c.MemLimit)),
		fmt.Sprintf("%.2f%%", engine.MemPercent(c)),
		engine.HumanSize(float64(c.BlockRead)) + " / " + engine.HumanSize(float64(c.BlockWrite)),
		fmt.Sprint(c.Pids),
	}
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

func topCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "top",
		Usage:     "show the processes of a running container (ps -ef's columns, read from /proc)",
		ArgsUsage: "CONTAINER [-ef]",
		Action: func(c *ucli.Context) error {
			if c.NArg() < 1 {
				return usageErr(c, "requires a container")
			}
			for _, a := range c.Args().Tail() {
				if strings.Trim(a, "-efA") != "" {
					return fmt.Errorf("unsupported ps option %q: pcr top reads /proc itself and prints ps -ef's columns", a)
				}
			}
			e, err := newEngine(c)
			if err != nil {
				return err
			}
			procs, err := e.Top(c.Args().First())
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(os.Stdout, 0, 8, 1, ' ', 0)
			fmt.Fprintln(w, strings.Join(engine.TopColumns(), "\t"))
			for _, p := range procs {
				fmt.Fprintln(w, strings.Join(p.Row(), "\t"))
			}
			return w.Flush()
		},
	}
}

// splitCpArg reads a cp argument: CONTAINER:PATH, or a host path. As in
// Docker, a path that starts with / or . is a host path even with a colon
// in it, as is one with a / before its first colon.
func splitCpArg(arg string) (ctr, path string, inCtr bool) {
	if strings.HasPrefix(arg, "/") || strings.HasPrefix(arg, ".") {
		return "", arg, false
	}
	i := strings.IndexByte(arg, ':')
	if i <= 0 || strings.Contains(arg[:i], "/") {
		return "", arg, false
	}
	return arg[:i], arg[i+1:], true
}

func cpCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "cp",
		Usage: "copy files between a container and the host (- for a tar stream on stdin or stdout)",
		ArgsUsage: "CONTAINER:SRC HOSTDEST|-\n" +
			"   pcr cp [options] HOSTSRC|- CONTAINER:DEST",
		UseShortOptionHandling: true,
		Flags: []ucli.Flag{
			&ucli.BoolFlag{Name: "archive", Aliases: []string{"a"}, Usage: "keep the source's uid/gid"},
			&ucli.BoolFlag{Name: "follow-link", Aliases: []string{"L"}, Usage: "copy what a symlink SRC points to"},
		},
		Action: func(c *ucli.Context) error {
			if c.NArg() != 2 {
				return usageErr(c, "requires exactly two arguments: SRC and DEST, one of them CONTAINER:PATH")
			}
			src, dst := c.Args().Get(0), c.Args().Get(1)
			sctr, spath, sIn := splitCpArg(src)
			dctr, dpath, dIn := splitCpArg(dst)
			switch {
			case sIn && dIn:
				return fmt.Errorf("copying between containers is not supported")
			case !sIn && !dIn:
				return fmt.Errorf("one of SRC and DEST must be CONTAINER:PATH")
			case sIn && spath == "", dIn && dpath == "":
				return fmt.Errorf("the container path must not be empty")
			}
			e, err := newEngine(c)
			if err != nil {
				return err
			}
			o := engine.CopyOptions{Archive: c.Bool("archive"), FollowLink: c.Bool("follow-link")}
			switch {
			case sIn && dst == "-":
				return e.CopyFromContainerTar(sctr, spath, os.Stdout, o)
			case sIn:
				return e.CopyFromContainer(sctr, spath, dpath, o)
			case src == "-":
				return e.CopyToContainerTar(dctr, os.Stdin, dpath, o)
			default:
				return e.CopyToContainer(dctr, spath, dpath, o)
			}
		},
	}
}

func renameCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "rename",
		Usage:     "rename a container",
		ArgsUsage: "CONTAINER NEW_NAME",
		Action: func(c *ucli.Context) error {
			if c.NArg() != 2 {
				return usageErr(c, "requires exactly two arguments: CONTAINER NEW_NAME")
			}
			e, err := newEngine(c)
			if err != nil {
				return err
			}
			return e.Rename(c.Args().Get(0), c.Args().Get(1))
		},
	}
}

func commitCommand() *ucli.Command {
	return &ucli.Command{
		Name:                   "commit",
		Usage:                  "make an image of a container's changes",
		ArgsUsage:              "CONTAINER [NAME[:TAG]]",
		UseShortOptionHandling: true,
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "message", Aliases: []string{"m"}, Usage: "commit message"},
			&ucli.StringFlag{Name: "author", Aliases: []string{"a"}, Usage: "author (\"Name <email>\")"},
			multiFlag("change", []string{"c"}, "apply a Dockerfile instruction to the image config (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR, STOPSIGNAL)"),
			&ucli.BoolFlag{Name: "pause", Aliases: []string{"p"}, Value: true, Usage: "pause a running container while its changes are read"},
		},
		Action: func(c *ucli.Context) error {
			if c.NArg() < 1 || c.NArg() > 2 {
				return usageErr(c, "requires a container and optionally NAME[:TAG]")
			}
			e, err := newEngine(c)
			if err != nil {
				return err
			}
			img, err := e.Commit(c.Args().Get(0), engine.CommitOptions{
				Message: c.String("message"), Author: c.String("author"), Changes: multiVals(c, "change"),
				Name: c.Args().Get(1), NoPause: !c.Bool("pause"),
			})
			if err != nil {
				return err
			}
			fmt.Println(img.ID)
			return nil
		},
	}
}

func containerPruneCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "prune",
		Usage: "remove all stopped containers",
		Flags: []ucli.Flag{
			&ucli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "do not ask for confirmation"},
		},
		Action: func(c *ucli.Context) error {
			if c.NArg() != 0 {
				return usageErr(c, "takes no arguments")
			}
			if !c.Bool("force") {
				fmt.Fprint(c.App.Writer, "WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] ")
				answer, _ := bufio.NewReader(os.Stdin).ReadString('\n')
				if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
					fmt.Fprintln(c.App.Writer, "Total reclaimed space: 0B")
					return nil
				}
			}
			e, err := newEngine(c)
			if err != nil {
				return err
			}
			ids, size, err := e.PruneContainers()
			if len(ids) > 0 {
				fmt.Fprintln(c.App.Writer, "Deleted Containers:")
				for _, id := range ids {
					fmt.Fprintln(c.App.Writer, id)
				}
				fmt.Fprintln(c.App.Writer)
			}
			fmt.Fprintf(c.App.Writer, "Total reclaimed space: %s\n", engine.HumanSize(float64(size)))
			return err
		},
	}
}
