package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	beamlog "github.com/apache/beam/sdks/v2/go/pkg/beam/log"
)

// BeamLogHandler is a slog.Handler writing through Beam's logger, so the
// log lines of a run's DoFns on a Dataflow worker reach Cloud Logging with
// their step.
type BeamLogHandler struct {
	Level slog.Level
	attrs string
}

func (h BeamLogHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.Level }

func (h BeamLogHandler) Handle(ctx context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	b.WriteString(h.attrs)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	sev := beamlog.SevInfo
	switch {
	case r.Level >= slog.LevelError:
		sev = beamlog.SevError
	case r.Level >= slog.LevelWarn:
		sev = beamlog.SevWarn
	case r.Level < slog.LevelInfo:
		sev = beamlog.SevDebug
	}
	beamlog.Output(ctx, sev, 1, b.String())
	return nil
}

func (h BeamLogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	for _, a := range as {
		h.attrs += fmt.Sprintf(" %s=%v", a.Key, a.Value)
	}
	return h
}

func (h BeamLogHandler) WithGroup(string) slog.Handler { return h }
