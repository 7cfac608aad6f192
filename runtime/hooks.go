package runtime

import (
	"errors"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"pcr/internal/fmtlite"
	"pcr/internal/program"
)

// runHooks runs hooks in order with the state on stdin; the first failure
// (exit status, or its timeout) stops the list.
func runHooks(kind string, hooks []specs.Hook, st specs.State) error {
	if len(hooks) == 0 {
		return nil
	}
	data := appendSpecsState(nil, &st)
	for i, h := range hooks {
		if err := runHook(h, data); err != nil {
			return fmtlite.Errorf("%s hook #%d (%s): %w", kind, i, h.Path, err)
		}
	}
	return nil
}

func runHook(h specs.Hook, state []byte) error {
	c := program.Cmd{Path: h.Path, Args: h.Args, Env: h.Env, Stdin: state}
	if c.Env == nil {
		c.Env = []string{}
	}
	if h.Timeout != nil {
		if *h.Timeout <= 0 {
			return fmtlite.Errorf("timeout %d must be positive", *h.Timeout)
		}
		c.Timeout = time.Duration(*h.Timeout) * time.Second
	}
	out, err := program.Output(c)
	if errors.Is(err, program.ErrTimedOut) {
		return fmtlite.Errorf("timed out after %ds", *h.Timeout)
	}
	if err != nil {
		if msg := strings.TrimSpace(string(out)); msg != "" {
			return fmtlite.Errorf("%w: %s", err, msg)
		}
		return err
	}
	return nil
}
