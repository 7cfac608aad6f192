package cli

import ucli "github.com/urfave/cli/v2"

// containerCommands are Docker's container verbs (run, create, start, ps, exec, logs, stop, kill,
// restart, rm, inspect, stats, wait, top, cp, rename, container prune, commit).
func containerCommands() []*ucli.Command { return nil }
