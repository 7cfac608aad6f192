package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	goruntime "runtime"
	"strings"
	"text/tabwriter"

	imagespec "github.com/opencontainers/image-spec/specs-go"
	ucli "github.com/urfave/cli/v2"

	"pcr/engine"
)

// systemCommands are `pcr version`, `pcr info` and `pcr system df`.
func systemCommands() []*ucli.Command {
	return []*ucli.Command{
		versionCommand(), infoCommand(),
		{
			Name:        "system",
			Usage:       "the engine as a whole",
			Subcommands: []*ucli.Command{dfCommand(), infoCommand()},
		},
	}
}

func formatFlag() ucli.Flag {
	return &ucli.StringFlag{Name: "format", Aliases: []string{"f"}, Usage: "json"}
}

func checkFormat(c *ucli.Context) error {
	if f := c.String("format"); f != "" && f != "json" {
		return fmt.Errorf("unsupported --format %q: want json", f)
	}
	return nil
}

// versionInfo is pcr version's data; it needs neither root nor a store.
type versionInfo struct {
	Version      string `json:"Version"`
	GitCommit    string `json:"GitCommit"`
	GoVersion    string `json:"GoVersion"`
	Os           string `json:"Os"`
	Arch         string `json:"Arch"`
	OCIRuntime   string `json:"OCIRuntimeSpec"`
	OCIImageSpec string `json:"OCIImageSpec"`
}

// appVersion splits the app's version ("v1.2\ncommit: abc", as main.go
// sets it) into the version and the commit.
func appVersion(v string) (string, string) {
	ver, commit, _ := strings.Cut(v, "\ncommit: ")
	return ver, commit
}

func versionCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "version",
		Usage: "show pcr's version, Go version and the OCI spec versions it implements",
		Flags: []ucli.Flag{formatFlag()},
		Action: func(c *ucli.Context) error {
			if err := checkFormat(c); err != nil {
				return err
			}
			ver, commit := appVersion(c.App.Version)
			v := versionInfo{Version: ver, GitCommit: commit, GoVersion: goruntime.Version(), Os: goruntime.GOOS,
				Arch: goruntime.GOARCH, OCIRuntime: specVersion(), OCIImageSpec: imagespec.Version}
			if v.GitCommit == "" {
				v.GitCommit = "unknown"
			}
			if c.String("format") == "json" {
				return json.NewEncoder(os.Stdout).Encode(v)
			}
			w := tabwriter.NewWriter(os.Stdout, 0, 8, 1, ' ', 0)
			fmt.Fprintf(w, "Client:\n Version:\t%s\n Go version:\t%s\n Git commit:\t%s\n OS/Arch:\t%s/%s\n\n",
				v.Version, v.GoVersion, v.GitCommit, v.Os, v.Arch)
			fmt.Fprintf(w, "Server: pcr engine (in-process, no daemon)\n Engine:\n  Version:\t%s\n  Git commit:\t%s\n", v.Version, v.GitCommit)
			fmt.Fprintf(w, " Runtime:\n  Name:\tpcr oci (runc-compatible)\n  OCI runtime spec:\t%s\n  OCI image spec:\t%s\n", v.OCIRuntime, v.OCIImageSpec)
			return w.Flush()
		},
	}
}

func infoCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "info",
		Usage: "show containers, images, storage, cgroups and the host's kernel and resources",
		Flags: []ucli.Flag{formatFlag()},
		Action: func(c *ucli.Context) error {
			if err := checkFormat(c); err != nil {
				return err
			}
			e, err := newEngine(c)
			if err != nil {
				return err
			}
			in, err := e.Info()
			if err != nil {
				return err
			}
			if c.String("format") == "json" {
				return json.NewEncoder(os.Stdout).Encode(in)
			}
			ver, _ := appVersion(c.App.Version)
			return printInfo(os.Stdout, ver, in)
		},
	}
}

func printInfo(out io.Writer, version string, in *engine.Info) error {
	// Docker's layout: "Key: value", indented by level, not aligned.
	var b strings.Builder
	p := func(format string, args ...any) {
		fmt.Fprintf(&b, strings.ReplaceAll(format, ":\t", ": ")+"\n", args...)
	}
	p("Client:")
	p(" Version:\t%s", version)
	p("")
	p("Server:")
	p(" Containers:\t%d", in.Containers)
	p("  Running:\t%d", in.ContainersRunning)
	p("  Paused:\t%d", in.ContainersPaused)
	p("  Stopped:\t%d", in.ContainersStopped)
	p(" Images:\t%d", in.Images)
	p(" Storage Driver:\t%s", in.StorageDriver)
	p("  Backing Filesystem:\t%s", in.BackingFilesystem)
	p(" Cgroup Driver:\t%s", in.CgroupDriver)
	p(" Cgroup Version:\t%s", in.CgroupVersion)
	p(" Runtimes:\tpcr (in-process; runc-compatible as pcr oci)")
	p(" Security Options:")
	if in.Seccomp {
		p("  seccomp")
		p("   Profile:\tbuiltin")
	}
	p(" Namespaces:\t%s", strings.Join(in.Namespaces, " "))
	p(" Kernel Version:\t%s", in.KernelVersion)
	p(" Operating System:\t%s", in.OperatingSystem)
	p(" OSType:\t%s", in.OSType)
	p(" Architecture:\t%s", in.Architecture)
	p(" CPUs:\t%d", in.NCPU)
	p(" Total Memory:\t%s", engine.BytesSize(float64(in.MemTotal)))
	p(" Root Dir:\t%s", in.RootDir)
	p(" State Dir:\t%s", in.StateDir)
	if in.Forwarding != "" {
		p(" Network Forwarding:\t%s", in.Forwarding)
	}
	_, err := io.WriteString(out, b.String())
	return err
}

func dfCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "df",
		Usage: "show the disk space images, containers and the build cache take",
		Flags: []ucli.Flag{formatFlag()},
		Action: func(c *ucli.Context) error {
			if err := checkFormat(c); err != nil {
				return err
			}
			e, err := newEngine(c)
			if err != nil {
				return err
			}
			rows, err := e.SystemDiskUsage()
			if err != nil {
				return err
			}
			if c.String("format") == "json" {
				enc := json.NewEncoder(os.Stdout)
				for _, r := range rows {
					if err := enc.Encode(r); err != nil {
						return err
					}
				}
				return nil
			}
			w := tabwriter.NewWriter(os.Stdout, 0, 8, 3, ' ', 0)
			fmt.Fprintln(w, "TYPE\tTOTAL\tACTIVE\tSIZE\tRECLAIMABLE")
			for _, r := range rows {
				fmt.Fprintf(w, "%s\t%d\t%d\t%s\t%s\n", r.Type, r.Total, r.Active, engine.HumanSize(float64(r.Size)), reclaimable(r))
			}
			return w.Flush()
		},
	}
}

// reclaimable is system df's RECLAIMABLE: the size and its share.
func reclaimable(r engine.DiskUsageRow) string {
	s := engine.HumanSize(float64(r.Reclaimable))
	if r.Size > 0 {
		s += fmt.Sprintf(" (%d%%)", r.Reclaimable*100/r.Size)
	}
	return s
}
