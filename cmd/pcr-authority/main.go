// Command pcr-authority is the slice authority server: `serve` runs the
// HTTPS API over an embedded or external etcd, `etcd` runs one plain
// member of a static etcd cluster. It is its own binary so that etcd's
// code and start-up cost never enter bin/pcr; `pcr authority serve`
// execs it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

const usage = `usage: pcr-authority COMMAND [flags]

commands:
  serve   serve the slice authority's HTTPS API
  etcd    run one member of a static etcd cluster

pcr-authority COMMAND -h lists a command's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	code := run(ctx, os.Args[1:], os.Stderr)
	stop()
	os.Exit(code)
}

// run runs a command until ctx ends (SIGTERM or SIGINT) and returns the
// exit status: 0, 1 for a failure (one line on stderr), 2 for bad usage.
func run(ctx context.Context, args []string, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = serve(ctx, args[1:], stderr)
	case "etcd":
		err = etcdMember(ctx, args[1:], stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stderr, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "pcr-authority: unknown command %q\n%s", args[0], usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	}
	fmt.Fprintf(stderr, "pcr-authority %s: %s\n", args[0], strings.Join(strings.Fields(err.Error()), " "))
	return 1
}

// errUsage marks a flag error the flag package has already printed.
var errUsage = errors.New("bad usage")

// parseFlags parses args, leaving no positional arguments.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "%s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return errUsage
	}
	return nil
}

// newLogger logs to w in the given format from info level up.
func newLogger(format string, w io.Writer) (*slog.Logger, error) {
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("invalid --log-format %q: want text or json", format)
}
