package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestRunnerBundleErrorsAreDemotedBelowTheDefaultLevel(t *testing.T) {
	for _, tc := range []struct {
		name  string
		level slog.Level
		msg   string
		want  bool
	}{
		{name: "prism's bundle failure is hidden at warn", level: slog.LevelError, msg: "Bundle Failed.", want: false},
		{name: "the SDK's plan dump is hidden at warn", level: slog.LevelError, msg: "[SDK] process bundle failed for instruction inst003", want: false},
		{name: "another error is kept", level: slog.LevelError, msg: "recording failed run in the ledger", want: true},
		{name: "a warning is kept", level: slog.LevelWarn, msg: "giving up on page", want: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			l := slog.New(demoteRunnerErrors{slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn})})
			l.Log(t.Context(), tc.level, tc.msg)
			if got := strings.Contains(buf.String(), tc.msg); got != tc.want {
				t.Errorf("logged %q at %v: printed = %v, want %v", tc.msg, tc.level, got, tc.want)
			}
		})
	}
}
