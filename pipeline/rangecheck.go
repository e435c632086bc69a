package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/marketplace/settle/io/cursorstore"
)

// ErrInvalidRange is wrapped by the errors of a range the operator asked
// for that cannot be read as asked: a --to in the vendor's visibility lag
// or the future, or a --from not before --to. The launcher exits 64
// (usage) on it. A range is never narrowed in silence instead.
var ErrInvalidRange = errors.New("invalid range")

// LatestTo is the latest --to a run may read up to at now: now minus the
// vendor's visibility lag. A version becomes listable up to the lag after
// its updated_at, so a window read past it would be marked done before all
// of its records exist, and those records would never be read.
func LatestTo(now time.Time, lag time.Duration) time.Time { return now.UTC().Add(-lag) }

// Range resolves the run's [from, to).
//
// An explicit bound (cfg.From, cfg.To) is honoured exactly, to the
// nanosecond: the vendor takes RFC 3339 with a fraction, and the raw zone
// and cursor store name sub-minute windows. An explicit To later than
// LatestTo is refused (ErrInvalidRange), naming the latest allowed value.
//
// Without To, To is LatestTo rounded down to the minute: the only bound
// that is ever rounded, and only down, so it never reaches into the lag.
// Without From, From is the stored watermark minus the lookback, exact.
// Returns ErrNoWatermark without From on a source no run has promoted yet.
func Range(ctx context.Context, cfg Config, cursors cursorstore.Store, now time.Time) (from, to time.Time, err error) {
	to = cfg.To.UTC()
	if cfg.To.IsZero() {
		to = LatestTo(now, cfg.VisibilityLag).Truncate(time.Minute)
	} else if err := checkTo(cfg, now); err != nil {
		return time.Time{}, time.Time{}, err
	}
	from = cfg.From.UTC()
	if cfg.From.IsZero() {
		wm, _, err := cursorstore.LoadWatermark(ctx, cursors, cfg.Source)
		if err != nil {
			return time.Time{}, time.Time{}, fmt.Errorf("reading watermark: %w", err)
		}
		if wm.IsZero() {
			return time.Time{}, time.Time{}, fmt.Errorf("source %q: %w: pass --from for the first run (RFC 3339, e.g. --from=%s)",
				cfg.Source, ErrNoWatermark, to.Add(-24*time.Hour).Truncate(time.Hour).Format(time.RFC3339))
		}
		from = wm.UTC().Add(-cfg.Lookback)
	}
	if !from.Before(to) {
		err := fmt.Errorf("nothing to read: from %s is not before to %s (to is now minus the vendor's %s visibility lag unless given)",
			from.Format(time.RFC3339Nano), to.Format(time.RFC3339Nano), cfg.VisibilityLag)
		if !cfg.From.IsZero() {
			err = fmt.Errorf("--from %s is not before --to %s: %w", from.Format(time.RFC3339Nano), to.Format(time.RFC3339Nano), ErrInvalidRange)
		}
		return time.Time{}, time.Time{}, err
	}
	return from, to, nil
}

// checkFromBeforeTo refuses an explicit range whose from is not before its
// to (ErrInvalidRange); cmd names the command in the error.
func checkFromBeforeTo(cmd string, from, to time.Time) error {
	if from.Before(to) {
		return nil
	}
	return fmt.Errorf("%s: --from %s is not before --to %s: %w", cmd, from.UTC().Format(time.RFC3339Nano), to.UTC().Format(time.RFC3339Nano), ErrInvalidRange)
}

// checkTo refuses an explicit cfg.To later than LatestTo (ErrInvalidRange),
// naming the latest allowed value.
func checkTo(cfg Config, now time.Time) error {
	latest := LatestTo(now, cfg.VisibilityLag)
	if to := cfg.To.UTC(); !cfg.To.IsZero() && to.After(latest) {
		return fmt.Errorf("--to %s is later than now minus the vendor's %s visibility lag: "+
			"the latest allowed --to is %s (versions become listable up to %s after their updated_at; "+
			"a window read earlier would be marked done without them, and they would never be read): %w",
			to.Format(time.RFC3339Nano), cfg.VisibilityLag, latest.Truncate(time.Second).Format(time.RFC3339), cfg.VisibilityLag, ErrInvalidRange)
	}
	return nil
}
