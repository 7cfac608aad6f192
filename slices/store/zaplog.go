package store

import (
	"context"
	"log/slog"
	"slices"
	"sort"
	"sync/atomic"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// zapToSlog makes the zap logger etcd insists on write into the
// authority's slog logger, from level min up, so that etcd's lines take
// the authority's format and its chatter at info level stays out. While
// quiet is set (the member is being closed) everything goes to debug:
// etcd reports its own listeners closing as errors.
func zapToSlog(log *slog.Logger, min slog.Level, quiet *atomic.Bool) *zap.Logger {
	if quiet == nil {
		quiet = new(atomic.Bool)
	}
	return zap.New(&slogCore{log: log, min: min, quiet: quiet})
}

// harmless says whether an etcd warning does not apply to how pcr runs
// it: one port for gRPC and HTTP (the authority is its only client) and
// simple auth tokens (auth is off; mTLS guards the authority instead).
func harmless(msg string) bool {
	switch msg {
	case "Running http and grpc server on single port. This is not recommended for production.",
		"simple token is not cryptographically signed":
		return true
	}
	return false
}

type slogCore struct {
	log    *slog.Logger
	min    slog.Level
	quiet  *atomic.Bool
	fields []zapcore.Field
}

func slogLevel(l zapcore.Level) slog.Level {
	switch {
	case l <= zapcore.DebugLevel:
		return slog.LevelDebug
	case l == zapcore.InfoLevel:
		return slog.LevelInfo
	case l == zapcore.WarnLevel:
		return slog.LevelWarn
	}
	return slog.LevelError
}

// Enabled is zap's cheap check by level alone; Check then demotes
// entries by message.
func (c *slogCore) Enabled(l zapcore.Level) bool { return slogLevel(l) >= c.min }

// levelOf is the level an entry is logged at.
func (c *slogCore) levelOf(e zapcore.Entry) slog.Level {
	if c.quiet.Load() || harmless(e.Message) {
		return slog.LevelDebug
	}
	return slogLevel(e.Level)
}

func (c *slogCore) With(fields []zapcore.Field) zapcore.Core {
	return &slogCore{log: c.log, min: c.min, quiet: c.quiet, fields: append(slices.Clip(c.fields), fields...)}
}

func (c *slogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.levelOf(e) >= c.min {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *slogCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range c.fields {
		f.AddTo(enc)
	}
	for _, f := range fields {
		f.AddTo(enc)
	}
	keys := make([]string, 0, len(enc.Fields))
	for k := range enc.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	attrs := make([]slog.Attr, 0, len(keys))
	for _, k := range keys {
		attrs = append(attrs, slog.Any(k, enc.Fields[k]))
	}
	c.log.LogAttrs(context.Background(), c.levelOf(e), e.Message, attrs...)
	return nil
}

func (c *slogCore) Sync() error { return nil }
