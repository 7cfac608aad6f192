package cli

import ucli "github.com/urfave/cli/v2"

// systemCommands are `pcr version`, `pcr info` and `pcr system df`.
func systemCommands() []*ucli.Command { return nil }
