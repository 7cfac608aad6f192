package cli

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	ucli "github.com/urfave/cli/v2"

	"pcr/engine"
	"pcr/netns"
)

// networkCommands are `pcr network …` (Docker's network verbs) and
// `pcr port`.
func networkCommands() []*ucli.Command {
	return []*ucli.Command{
		{
			Name:  "network",
			Usage: "manage pcr's networks",
			Subcommands: []*ucli.Command{
				networkCreateCommand(), networkLsCommand(), networkInspectCommand(), networkRmCommand(),
				networkConnectCommand(), networkDisconnectCommand(), networkPruneCommand(),
			},
		},
		portCommand(),
	}
}

func networkCreateCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "create",
		Usage:     "create a user network (its own bridge; containers on it resolve each other by name)",
		ArgsUsage: "NETWORK",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "subnet", Usage: "the network's subnet in CIDR form (default: a free one; required for overlay)"},
			&ucli.StringFlag{Name: "driver", Aliases: []string{"d"}, Value: engine.DriverBridge, Usage: "bridge (this node), or overlay (a VXLAN segment across nodes)"},
			multiFlag("opt", []string{"o"}, "overlay settings: vni=N, local=IP (this node's underlay address), peers=IP,IP (the other nodes')"),
		},
		Action: func(c *ucli.Context) error {
			if c.NArg() != 1 {
				return usageErr(c, "requires exactly one network name")
			}
			driver, opts := c.String("driver"), multiVals(c, "opt")
			if driver != engine.DriverBridge && driver != engine.DriverOverlay {
				return fmt.Errorf("invalid --driver %q: want bridge or overlay", driver)
			}
			if driver == engine.DriverBridge && len(opts) > 0 {
				return fmt.Errorf("--opt is for --driver overlay only")
			}
			e, err := newEngine(c)
			if err != nil {
				return err
			}
			create := e.CreateNetwork
			if driver == engine.DriverOverlay {
				create = func(name, subnet string) (*netns.Network, error) { return e.CreateOverlayNetwork(name, subnet, opts) }
			}
			n, err := create(c.Args().First(), c.String("subnet"))
			if err != nil {
				return err
			}
			fmt.Fprintln(c.App.Writer, n.ID)
			return nil
		},
	}
}

func networkLsCommand() *ucli.Command {
	return &ucli.Command{
		Name:    "ls",
		Aliases: []string{"list"},
		Usage:   "list networks",
		Flags:   []ucli.Flag{&ucli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "only names"}},
		Action: func(c *ucli.Context) error {
			e, err := newEngine(c)
			if err != nil {
				return err
			}
			nets, err := e.ListNetworks()
			if err != nil {
				return err
			}
			if c.Bool("quiet") {
				for _, n := range nets {
					fmt.Fprintln(c.App.Writer, n.Name)
				}
				return nil
			}
			w := tabwriter.NewWriter(c.App.Writer, 0, 8, 3, ' ', 0)
			fmt.Fprintln(w, "NETWORK ID\tNAME\tDRIVER\tSUBNET\tBRIDGE")
			for _, n := range nets {
				driver := engine.DriverBridge
				if n.IsOverlay() {
					driver = engine.DriverOverlay
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", shortNetID(n.ID), n.Name, driver, n.Subnet, n.Bridge)
			}
			return w.Flush()
		},
	}
}

func shortNetID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func networkInspectCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "inspect",
		Usage:     "print networks as JSON",
		ArgsUsage: "NETWORK...",
		Action: func(c *ucli.Context) error {
			if c.NArg() < 1 {
				return usageErr(c, "requires at least one network")
			}
			e, err := newEngine(c)
			if err != nil {
				return err
			}
			out := []*engine.NetworkInspect{}
			for _, name := range c.Args().Slice() {
				n, err := e.InspectNetwork(name)
				if err != nil {
					return err
				}
				out = append(out, n)
			}
			data, err := json.MarshalIndent(out, "", "    ")
			if err != nil {
				return err
			}
			fmt.Fprintln(c.App.Writer, string(data))
			return nil
		},
	}
}

func networkRmCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "rm",
		Aliases:   []string{"remove"},
		Usage:     "remove networks (refused while a container uses one)",
		ArgsUsage: "NETWORK...",
		Action: func(c *ucli.Context) error {
			if c.NArg() < 1 {
				return usageErr(c, "requires at least one network")
			}
			e, err := newEngine(c)
			if err != nil {
				return err
			}
			var errs []error
			for _, name := range c.Args().Slice() {
				if err := e.RemoveNetwork(name); err != nil {
					errs = append(errs, err)
					continue
				}
				fmt.Fprintln(c.App.Writer, name)
			}
			return errors.Join(errs...)
		},
	}
}

func networkConnectCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "connect",
		Usage:     "connect a container to a user network",
		ArgsUsage: "NETWORK CONTAINER",
		Flags:     []ucli.Flag{multiFlag("alias", nil, "another name for the container on this network")},
		Action: func(c *ucli.Context) error {
			if c.NArg() != 2 {
				return usageErr(c, "requires a network and a container")
			}
			e, err := newEngine(c)
			if err != nil {
				return err
			}
			return e.ConnectNetwork(c.Args().Get(0), c.Args().Get(1), multiVals(c, "alias"))
		},
	}
}

func networkDisconnectCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "disconnect",
		Usage:     "disconnect a container from a network it was connected to",
		ArgsUsage: "NETWORK CONTAINER",
		Action: func(c *ucli.Context) error {
			if c.NArg() != 2 {
				return usageErr(c, "requires a network and a container")
			}
			e, err := newEngine(c)
			if err != nil {
				return err
			}
			return e.DisconnectNetwork(c.Args().Get(0), c.Args().Get(1))
		},
	}
}

func networkPruneCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "prune",
		Usage: "remove all user networks no container uses",
		Flags: []ucli.Flag{&ucli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "do not ask for confirmation"}},
		Action: func(c *ucli.Context) error {
			if c.NArg() != 0 {
				return usageErr(c, "takes no arguments")
			}
			if !c.Bool("force") {
				fmt.Fprint(c.App.Writer, "WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue? [y/N] ")
				answer, _ := bufio.NewReader(os.Stdin).ReadString('\n')
				if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
					return nil
				}
			}
			e, err := newEngine(c)
			if err != nil {
				return err
			}
			names, err := e.PruneNetworks()
			if len(names) > 0 {
				fmt.Fprintln(c.App.Writer, "Deleted Networks:")
				for _, n := range names {
					fmt.Fprintln(c.App.Writer, n)
				}
			}
			return err
		},
	}
}

// portCommand is `pcr port CONTAINER [PRIVATE[/PROTO]]`, in Docker's
// format: "80/tcp -> 0.0.0.0:8080", or only the host side when a port is
// asked for.
func portCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "port",
		Usage:     "list a container's published ports",
		ArgsUsage: "CONTAINER [PRIVATE_PORT[/PROTO]]",
		Action: func(c *ucli.Context) error {
			if c.NArg() < 1 || c.NArg() > 2 {
				return usageErr(c, "requires a container and at most one port")
			}
			var want uint16
			wantProto := ""
			if c.NArg() == 2 {
				port, proto, _ := strings.Cut(c.Args().Get(1), "/")
				n, err := strconv.ParseUint(port, 10, 16)
				if err != nil || n == 0 || (proto != "" && proto != "tcp" && proto != "udp") {
					return fmt.Errorf("invalid port %q: want PORT[/tcp|udp]", c.Args().Get(1))
				}
				want, wantProto = uint16(n), proto
				if wantProto == "" {
					wantProto = "tcp"
				}
			}
			e, err := newEngine(c)
			if err != nil {
				return err
			}
			ports, err := e.Ports(c.Args().First())
			if err != nil {
				return err
			}
			found := false
			for _, p := range ports {
				if want == 0 {
					fmt.Fprintln(c.App.Writer, p.String())
					continue
				}
				if p.ContainerPort == want && p.Proto == wantProto {
					found = true
					_, host, _ := strings.Cut(p.String(), " -> ")
					fmt.Fprintln(c.App.Writer, host)
				}
			}
			if want != 0 && !found {
				return fmt.Errorf("no public port '%d/%s' published for %s", want, wantProto, c.Args().First())
			}
			return nil
		},
	}
}
