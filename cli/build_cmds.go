package cli

import ucli "github.com/urfave/cli/v2"

// buildCommands is `pcr build`.
func buildCommands() []*ucli.Command { return nil }
