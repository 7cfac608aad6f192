package ocicli

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"pcr/internal/fmtlite"
	"pcr/internal/jsonlite"
	"pcr/internal/program"
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

// appendJSON writes s as json.Marshal would.
func (s runcState) appendJSON(b []byte) []byte {
	created, _ := s.Created.MarshalJSON()
	b = append(b, '{')
	b = jsonlite.String(b, "ociVersion", s.OCIVersion)
	b = jsonlite.String(b, "id", s.ID)
	b = jsonlite.Int(b, "pid", int64(s.Pid))
	b = jsonlite.String(b, "status", s.Status)
	b = jsonlite.String(b, "bundle", s.Bundle)
	b = jsonlite.String(b, "rootfs", s.Rootfs)
	b = jsonlite.Raw(b, "created", created)
	b = jsonlite.String(b, "owner", s.Owner)
	if len(s.Annotations) > 0 {
		b = jsonlite.AppendStringMap(jsonlite.Key(b, "annotations"), s.Annotations)
	}
	return append(b, '}')
}

func toRuncState(st *runtime.State) runcState {
	ss := st.SpecState()
	return runcState{OCIVersion: ss.Version, ID: st.ID, Pid: ss.Pid, Status: st.Status, Bundle: st.Bundle,
		Rootfs: st.Rootfs, Created: st.Created, Owner: st.OwnerName(), Annotations: st.Annotations}
}

func stateCommand() *command {
	return &command{
		name: "state", usage: "print the container's state as JSON", argsUsage: "ID",
		run: withContainer(func(c *ctx, rt *runtime.Runtime, id string) error {
			st, err := rt.Load(id)
			if err != nil {
				return err
			}
			return printJSON(c.app.Stdout, toRuncState(st).appendJSON(nil))
		}),
	}
}

func listCommand() *command {
	return &command{
		name: "list", aliases: []string{"ls"}, usage: "list containers",
		flags: []flag{
			{names: []string{"format", "f"}, kind: stringFlag, value: "table", usage: "table or json"},
			{names: []string{"quiet", "q"}, kind: boolFlag, usage: "ids only"},
		},
		run: func(c *ctx) error {
			if len(c.args) > 0 {
				return c.usageErr("list: takes no arguments")
			}
			rt, err := c.runtime()
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
					fmtlite.Fprintln(c.app.Stdout, st.ID)
				}
			case c.String("format") == "json":
				out := []byte{'['}
				for _, st := range list {
					out = toRuncState(st).appendJSON(jsonlite.Comma(out))
				}
				fmtlite.Fprintln(c.app.Stdout, string(append(out, ']')))
			case c.String("format") == "table":
				rows := [][]string{{"ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"}}
				for _, st := range list {
					s := toRuncState(st)
					rows = append(rows, []string{s.ID, strconv.Itoa(s.Pid), s.Status, s.Bundle, s.Created.Format(time.RFC3339Nano), s.Owner})
				}
				printTable(c.app.Stdout, rows)
			default:
				return fmtlite.Errorf("list: --format %q: use table or json", c.String("format"))
			}
			return nil
		},
	}
}

func psCommand() *command {
	return &command{
		name: "ps", usage: "show the container's processes (ps options may follow)", argsUsage: "ID [ps options]",
		flags: []flag{{names: []string{"format", "f"}, kind: stringFlag, value: "table", usage: "table or json"}},
		run: func(c *ctx) error {
			if len(c.args) < 1 {
				return c.usageErr("ps: a container id is required")
			}
			rt, err := c.runtime()
			if err != nil {
				return err
			}
			pids, err := rt.Pids(c.args[0])
			if err != nil {
				return err
			}
			if c.String("format") == "json" {
				out := []byte{'['}
				for _, p := range pids {
					out = strconv.AppendInt(jsonlite.Comma(out), int64(p), 10)
				}
				fmtlite.Fprintln(c.app.Stdout, string(append(out, ']')))
				return nil
			}
			psArgs := c.args[1:]
			if len(psArgs) == 0 {
				psArgs = []string{"-ef"}
			}
			return printPs(c.app.Stdout, psArgs, pids)
		},
	}
}

// printPs runs the host's ps and keeps the header and the container's rows.
func printPs(w io.Writer, args []string, pids []int) error {
	ps, err := program.LookPath("ps")
	if err != nil {
		return err
	}
	out, err := program.Output(program.Cmd{Path: ps, Args: append([]string{"ps"}, args...), Stderr: os.Stderr})
	if err != nil {
		return fmtlite.Errorf("ps %s: %w", strings.Join(args, " "), err)
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
	fmtlite.Fprintln(w, lines[0])
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) > pidCol {
			if p, err := strconv.Atoi(f[pidCol]); err == nil && want[p] {
				fmtlite.Fprintln(w, l)
			}
		}
	}
	return nil
}

func eventsCommand() *command {
	return &command{
		name: "events", usage: "print container statistics as JSON (--stats once, else every --interval)", argsUsage: "ID",
		flags: []flag{
			{names: []string{"stats"}, kind: boolFlag, usage: "print one stats event and exit"},
			{names: []string{"interval"}, kind: durationFlag, value: "5s", usage: "time between stats events"},
		},
		run: withContainer(func(c *ctx, rt *runtime.Runtime, id string) error {
			if c.Duration("interval") <= 0 {
				return errors.New("events: --interval must be positive")
			}
			for {
				s, err := rt.Stats(id)
				if err != nil {
					return err
				}
				ev := jsonlite.String([]byte{'{'}, "type", "stats")
				ev = jsonlite.String(ev, "id", id)
				ev = append(s.AppendRuncEvent(jsonlite.Key(ev, "data")), '}')
				fmtlite.Fprintln(c.app.Stdout, string(ev))
				if c.Bool("stats") {
					return nil
				}
				time.Sleep(c.Duration("interval"))
			}
		}),
	}
}

func featuresCommand() *command {
	return &command{
		name: "features", usage: "print what this runtime supports as JSON",
		run: func(c *ctx) error { return printJSON(c.app.Stdout, runtime.FeaturesJSON(runtime.Features())) },
	}
}

func specCommand() *command {
	return &command{
		name: "spec", usage: "write a starter config.json into the bundle",
		flags: []flag{
			{names: []string{"bundle", "b"}, kind: stringFlag, value: ".", usage: "where to write config.json"},
			{names: []string{"rootless"}, kind: boolFlag, usage: "a spec for a rootless container"},
		},
		run: func(c *ctx) error {
			path := filepath.Join(c.String("bundle"), "config.json")
			if _, err := os.Stat(path); err == nil {
				return fmtlite.Errorf("spec: %s already exists; remove it first", path)
			}
			data := jsonlite.Indent(nil, runtime.SpecJSON(runtime.DefaultSpec(c.Bool("rootless"))), "", "\t")
			if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
				return fmtlite.Errorf("spec: %w", err)
			}
			return nil
		},
	}
}

// printTable writes rows as left-aligned columns three spaces apart, as
// runc's list does.
func printTable(w io.Writer, rows [][]string) {
	widths := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, cell := range r {
			widths[i] = max(widths[i], len(cell))
		}
	}
	for _, r := range rows {
		var line strings.Builder
		for i, cell := range r {
			if i == len(r)-1 {
				line.WriteString(cell)
				break
			}
			line.WriteString(cell)
			line.WriteString(strings.Repeat(" ", widths[i]-len(cell)+3))
		}
		fmtlite.Fprintln(w, line.String())
	}
}
