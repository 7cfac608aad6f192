package cli

import ucli "github.com/urfave/cli/v2"

// imageCommands are Docker's image verbs (images, image inspect/ls/prune/rm, import, load, save,
// pull, push, tag, rmi, history).
func imageCommands() []*ucli.Command { return nil }
