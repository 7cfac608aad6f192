package cli

import (
	"fmt"

	ucli "github.com/urfave/cli/v2"

	"pcr/engine"
)

// updateCommand is Docker's `update`: new limits for created, running or
// stopped containers, in force at once and kept across restarts.
func updateCommand() *ucli.Command {
	return perContainerCommand("update", "change the resource limits of containers",
		[]ucli.Flag{
			&ucli.StringFlag{Name: "memory", Aliases: []string{"m"}, Usage: "memory limit (e.g. 64m, 1g), -1 for unlimited"},
			&ucli.StringFlag{Name: "memory-swap", Usage: "memory plus swap limit, -1 for unlimited"},
			&ucli.StringFlag{Name: "cpus", Usage: "number of CPUs (e.g. 1.5; 0: unlimited)"},
			&ucli.Uint64Flag{Name: "cpu-shares", Usage: "relative CPU weight (0: the default)"},
			&ucli.StringFlag{Name: "cpuset-cpus", Usage: "CPUs to run on (0-2,4)"},
			&ucli.Int64Flag{Name: "pids-limit", Usage: "process limit (0 or -1: unlimited)"},
		},
		func(c *ucli.Context) (func(*engine.Engine, string) error, error) {
			u, err := parseUpdate(c)
			if err != nil {
				return nil, err
			}
			return func(e *engine.Engine, ref string) error { return e.Update(ref, u) }, nil
		})
}

// parseUpdate reads the flags that were given; the others stay nil, so the
// update leaves those limits as they are.
func parseUpdate(c *ucli.Context) (engine.UpdateOptions, error) {
	var u engine.UpdateOptions
	size := func(name string) (*int64, error) {
		v := c.String(name)
		if v == "-1" { // Docker's "unlimited": the limit is taken away
			n := int64(-1)
			return &n, nil
		}
		n, err := engine.ParseSize(v)
		if err != nil {
			return nil, fmt.Errorf("invalid argument %q for --%s: %w", v, name, err)
		}
		return &n, nil
	}
	var err error
	for _, f := range []struct {
		name string
		dst  **int64
	}{{"memory", &u.Memory}, {"memory-swap", &u.MemorySwap}} {
		if c.IsSet(f.name) {
			if *f.dst, err = size(f.name); err != nil {
				return u, err
			}
		}
	}
	if c.IsSet("cpus") {
		n := int64(0)
		if v := c.String("cpus"); v != "0" {
			if n, err = engine.ParseCPUs(v); err != nil {
				return u, err
			}
		}
		u.NanoCPUs = &n
	}
	if c.IsSet("cpu-shares") {
		n := c.Uint64("cpu-shares")
		u.CPUShares = &n
	}
	if c.IsSet("cpuset-cpus") {
		s := c.String("cpuset-cpus")
		u.CpusetCPUs = &s
	}
	if c.IsSet("pids-limit") {
		n := c.Int64("pids-limit")
		u.PidsLimit = &n
	}
	if u.Memory == nil && u.MemorySwap == nil && u.NanoCPUs == nil && u.CPUShares == nil && u.CpusetCPUs == nil && u.PidsLimit == nil {
		return u, usageErr(c, "you must provide one or more flags when using this command")
	}
	return u, nil
}
