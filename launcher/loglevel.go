package main

import (
	"context"
	"log/slog"
	"strings"
)

// runnerNoise are the beginnings of the messages Beam and prism log at
// ERROR about a failed bundle or job: a plan dump and the same cause up to
// five times. The run returns that error, cut to its first cause, and the
// launcher prints it once; these are demoted to debug.
var runnerNoise = []string{
	"[SDK] process bundle failed",
	"[SDK] bundle ",
	"Prism received bundle error",
	"stage.Execute aborting",
	"Bundle Failed.",
	"job failed",
}

// demoteRunnerErrors is a slog.Handler that logs runnerNoise at debug.
type demoteRunnerErrors struct{ slog.Handler }

func (h demoteRunnerErrors) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelError || h.Handler.Enabled(ctx, l)
}

func (h demoteRunnerErrors) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError && isRunnerNoise(r.Message) {
		r.Level = slog.LevelDebug
	}
	if !h.Handler.Enabled(ctx, r.Level) {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h demoteRunnerErrors) WithAttrs(as []slog.Attr) slog.Handler {
	return demoteRunnerErrors{h.Handler.WithAttrs(as)}
}

func (h demoteRunnerErrors) WithGroup(name string) slog.Handler {
	return demoteRunnerErrors{h.Handler.WithGroup(name)}
}

func isRunnerNoise(msg string) bool {
	for _, p := range runnerNoise {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}
