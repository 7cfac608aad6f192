package ocicli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	ucli "github.com/urfave/cli/v2"

	"pcr/runtime"
)

// runcState is runc's `state` output: the spec's state plus rootfs, created, owner.
type runcState struct {
	OCIVersion  string            `json:"ociVersion"`
	ID          string            `json:"id"`
	Pid         int               `json:"pid"`
	Status      string            `json:"status"`
	Bundle      string            `json:"bundle"`
	Rootfs      string            `json:"rootfs"`
	Created     time.Time         `json:"created"`
	Owner       string            `json:"owner"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

func toRuncState(st *runtime.State) runcState {
	ss := st.SpecState()
	return runcState{OCIVersion: ss.Version, ID: st.ID, Pid: ss.Pid, Status: st.Status, Bundle: st.Bundle,
		Rootfs: st.Rootfs, Created: st.Created, Owner: st.Owner, Annotations: st.Annotations}
}

func stateCommand() *ucli.Command {
	return &ucli.Command{
		Name: "state", Usage: "print the container's state as JSON", ArgsUsage: "ID",
		Action: withContainer(func(c *ucli.Context, rt *runtime.Runtime, id string) error {
			st, err := rt.Load(id)
			if err != nil {
				return err
			}
			return printJSON(os.Stdout, toRuncState(st))
		}),
	}
}

func listCommand() *ucli.Command {
	return &ucli.Command{
		Name: "list", Aliases: []string{"ls"}, Usage: "list containers",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "table", Usage: "table or json"},
			&ucli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "ids only"},
		},
		Action: func(c *ucli.Context) error {
			rt, err := ociRuntime(c)
			if err != nil {
				return err
			}
			list, err := rt.List()
			if err != nil {
				return err
			}
			switch {
			case c.Bool("quiet"):
				for _, st := range list {
					fmt.Println(st.ID)
				}
			case c.String("format") == "json":
				out := make([]runcState, 0, len(list))
				for _, st := range list {
					out = append(out, toRuncState(st))
				}
				data, _ := json.Marshal(out)
				fmt.Println(string(data))
			case c.String("format") == "table":
				w := tabwriter.NewWriter(os.Stdout, 12, 1, 3, ' ', 0)
				fmt.Fprint(w, "ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER\n")
				for _, st := range list {
					s := toRuncState(st)
					fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\n", s.ID, s.Pid, s.Status, s.Bundle, s.Created.Format(time.RFC3339Nano), s.Owner)
				}
				return w.Flush()
			default:
				return fmt.Errorf("list: --format %q: use table or json", c.String("format"))
			}
			return nil
		},
	}
}

func psCommand() *ucli.Command {
	return &ucli.Command{
		Name: "ps", Usage: "show the container's processes (ps options may follow)", ArgsUsage: "ID [ps options]",
		Flags: []ucli.Flag{&ucli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "table", Usage: "table or json"}},
		Action: func(c *ucli.Context) error {
			if c.NArg() < 1 {
				return UsageErr(c, "ps: a container id is required")
			}
			rt, err := ociRuntime(c)
			if err != nil {
				return err
			}
			pids, err := rt.Pids(c.Args().First())
			if err != nil {
				return err
			}
			if c.String("format") == "json" {
				if pids == nil {
					pids = []int{}
				}
				data, _ := json.Marshal(pids)
				fmt.Println(string(data))
				return nil
			}
			psArgs := c.Args().Slice()[1:]
			if len(psArgs) == 0 {
				psArgs = []string{"-ef"}
			}
			return printPs(psArgs, pids)
		},
	}
}

// printPs runs the host's ps and keeps the header and the container's rows.
func printPs(args []string, pids []int) error {
	out, err := exec.Command("ps", args...).Output()
	if err != nil {
		return fmt.Errorf("ps %s: %w", strings.Join(args, " "), err)
	}
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	pidCol := -1
	for i, f := range strings.Fields(lines[0]) {
		if f == "PID" {
			pidCol = i
		}
	}
	if pidCol < 0 {
		return errors.New("ps: the output has no PID column")
	}
	want := map[int]bool{}
	for _, p := range pids {
		want[p] = true
	}
	fmt.Println(lines[0])
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) > pidCol {
			if p, err := strconv.Atoi(f[pidCol]); err == nil && want[p] {
				fmt.Println(l)
			}
		}
	}
	return nil
}

func eventsCommand() *ucli.Command {
	return &ucli.Command{
		Name: "events", Usage: "print container statistics as JSON (--stats once, else every --interval)", ArgsUsage: "ID",
		Flags: []ucli.Flag{
			&ucli.BoolFlag{Name: "stats", Usage: "print one stats event and exit"},
			&ucli.DurationFlag{Name: "interval", Value: 5 * time.Second, Usage: "time between stats events"},
		},
		Action: withContainer(func(c *ucli.Context, rt *runtime.Runtime, id string) error {
			if c.Duration("interval") <= 0 {
				return errors.New("events: --interval must be positive")
			}
			for {
				s, err := rt.Stats(id)
				if err != nil {
					return err
				}
				data, _ := json.Marshal(map[string]any{"type": "stats", "id": id, "data": s.RuncEventData()})
				fmt.Println(string(data))
				if c.Bool("stats") {
					return nil
				}
				time.Sleep(c.Duration("interval"))
			}
		}),
	}
}

func featuresCommand() *ucli.Command {
	return &ucli.Command{
		Name: "features", Usage: "print what this runtime supports as JSON",
		Action: func(c *ucli.Context) error { return printJSON(os.Stdout, runtime.Features()) },
	}
}

func specCommand() *ucli.Command {
	return &ucli.Command{
		Name: "spec", Usage: "write a starter config.json into the bundle",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "bundle", Aliases: []string{"b"}, Value: ".", Usage: "where to write config.json"},
			&ucli.BoolFlag{Name: "rootless", Usage: "a spec for a rootless container"},
		},
		Action: func(c *ucli.Context) error {
			path := filepath.Join(c.String("bundle"), "config.json")
			if _, err := os.Stat(path); err == nil {
				return fmt.Errorf("spec: %s already exists; remove it first", path)
			}
			data, err := json.MarshalIndent(runtime.DefaultSpec(c.Bool("rootless")), "", "\t")
			if err != nil {
				return err
			}
			if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
				return fmt.Errorf("spec: %w", err)
			}
			return nil
		},
	}
}
