package pipeline_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/marketplace/settle/io/cursorstore"
	"github.com/marketplace/settle/pipeline"
)

func TestRangeHonoursExplicitBoundsExactly(t *testing.T) {
	cursors, err := cursorstore.OpenFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 1, 6, 30, 42, 123_000_000, time.UTC)
	at := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		name             string
		from, to         string
		wantFrom, wantTo string
	}{
		{"sub-minute bounds are kept to the nanosecond", "2026-12-01T05:00:17.25Z", "2026-12-01T05:00:56Z", "2026-12-01T05:00:17.25Z", "2026-12-01T05:00:56Z"},
		{"a --to of exactly now minus the lag is allowed", "2026-12-01T05:00:00Z", "2026-12-01T06:20:42.123Z", "2026-12-01T05:00:00Z", "2026-12-01T06:20:42.123Z"},
		{"without --to, now minus the lag is rounded down to the minute", "2026-12-01T05:00:17.25Z", "", "2026-12-01T05:00:17.25Z", "2026-12-01T06:20:00Z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := pipeline.DefaultConfig(t.TempDir())
			cfg.From = at(tc.from)
			if tc.to != "" {
				cfg.To = at(tc.to)
			}
			from, to, err := pipeline.Range(t.Context(), cfg, cursors, now)
			if err != nil {
				t.Fatalf("Range = %v", err)
			}
			if !from.Equal(at(tc.wantFrom)) || !to.Equal(at(tc.wantTo)) {
				t.Errorf("Range = %s .. %s, want %s .. %s", from.Format(time.RFC3339Nano), to.Format(time.RFC3339Nano), tc.wantFrom, tc.wantTo)
			}
		})
	}
}

func TestRangeRefusesAToInsideTheVisibilityLag(t *testing.T) {
	cursors, err := cursorstore.OpenFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 1, 6, 30, 42, 123_000_000, time.UTC)
	for _, tc := range []struct {
		name string
		to   time.Time
	}{
		{"5 minutes ahead of now", now.Add(5 * time.Minute)},
		{"a nanosecond past now minus the lag", now.Add(-10*time.Minute + 1)},
		{"the year 2099", time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := pipeline.DefaultConfig(t.TempDir())
			cfg.From, cfg.To = now.Add(-2*time.Hour), tc.to
			_, _, err := pipeline.Range(t.Context(), cfg, cursors, now)
			if !errors.Is(err, pipeline.ErrInvalidRange) {
				t.Fatalf("Range(--to %s) = %v, want ErrInvalidRange", tc.to, err)
			}
			if want := "latest allowed --to is 2026-12-01T06:20:42Z"; !strings.Contains(err.Error(), want) {
				t.Errorf("Range error %q does not say %q", err, want)
			}
		})
	}
	cfg := pipeline.DefaultConfig(t.TempDir())
	cfg.From, cfg.To = now.Add(-time.Hour), now.Add(-2*time.Hour)
	if _, _, err := pipeline.Range(t.Context(), cfg, cursors, now); !errors.Is(err, pipeline.ErrInvalidRange) {
		t.Errorf("Range(--from after --to) = %v, want ErrInvalidRange", err)
	}
}

func TestWindowsClipOnlyTheFirstAndLastToExactBounds(t *testing.T) {
	from := time.Date(2026, 12, 1, 5, 0, 17, 250_000_000, time.UTC)
	to := time.Date(2026, 12, 1, 7, 0, 56, 0, time.UTC)
	got := pipeline.Windows(from, to, time.Hour)
	want := [][2]time.Time{
		{from, time.Date(2026, 12, 1, 6, 0, 0, 0, time.UTC)},
		{time.Date(2026, 12, 1, 6, 0, 0, 0, time.UTC), time.Date(2026, 12, 1, 7, 0, 0, 0, time.UTC)},
		{time.Date(2026, 12, 1, 7, 0, 0, 0, time.UTC), to},
	}
	if len(got) != len(want) {
		t.Fatalf("Windows = %v, want %v", got, want)
	}
	for i := range want {
		if !got[i][0].Equal(want[i][0]) || !got[i][1].Equal(want[i][1]) {
			t.Errorf("window %d = %s .. %s, want %s .. %s", i, got[i][0].Format(time.RFC3339Nano), got[i][1].Format(time.RFC3339Nano),
				want[i][0].Format(time.RFC3339Nano), want[i][1].Format(time.RFC3339Nano))
		}
	}
}
