package pipeline

import (
	"context"
	"fmt"
	"maps"

	"github.com/marketplace/settle/io/cursorstore"
	"github.com/marketplace/settle/io/warehouse"
)

// recordOps writes the run's run_metrics row and its source's freshness
// row, when the warehouse keeps them (warehouse.MetricsRecorder,
// warehouse.FreshnessRecorder). A failure is logged, never fails the run:
// the figures are for operators, and a freshness row left behind only
// understates how complete the data is.
func recordOps(ctx context.Context, b *backends, opts Options, sum Summary) {
	if err := writeOps(ctx, b, opts, sum); err != nil {
		opts.Logger.Error("recording run metrics and freshness", logKeyRun, sum.RunID, "error", err)
	}
}

func writeOps(ctx context.Context, b *backends, opts Options, sum Summary) error {
	mr, hasMetrics := b.wh.(warehouse.MetricsRecorder)
	fr, hasFreshness := b.wh.(warehouse.FreshnessRecorder)
	if (!hasMetrics && !hasFreshness) || b.source == "" {
		return nil
	}
	f, err := SourceFreshness(ctx, b.source, b.cursors)
	if err != nil {
		return err
	}
	now := opts.Now().UTC()
	f.RunID, f.AsOf = sum.RunID, now
	if hasMetrics {
		m := warehouse.RunMetrics{
			RunID: sum.RunID, Source: b.source, Kind: sum.Kind, FinishedAt: now,
			Requests: sum.Requests, RateLimited: sum.RateLimited, Retries: sum.Retries,
			PagesLanded: sum.PagesLanded, RecordsLanded: sum.RecordsLanded, PagesRead: sum.ObjectsRead,
			WindowsParked: int64(sum.WindowsParked), ParkedTotal: f.ParkedWindows,
			QuarantinedBy: maps.Clone(sum.QuarantinedBy), CompleteUpTo: f.CompleteUpTo,
		}
		if err := mr.RecordRunMetrics(ctx, m); err != nil {
			return err
		}
	}
	if hasFreshness && !f.CompleteUpTo.IsZero() {
		if err := fr.SetFreshness(ctx, f); err != nil {
			return err
		}
	}
	return nil
}

// SourceFreshness reads how far source's data is complete: the watermark,
// or the start of the oldest parked window if that is earlier (a parked
// window may hold a newer version of a settlement than the warehouse
// shows). RunID and AsOf are left for the caller.
func SourceFreshness(ctx context.Context, source string, cursors cursorstore.Store) (warehouse.Freshness, error) {
	f := warehouse.Freshness{Source: source}
	wm, _, err := cursorstore.LoadWatermark(ctx, cursors, source)
	if err != nil {
		return f, fmt.Errorf("reading watermark of %s: %w", source, err)
	}
	parked, err := ParkedWindows(ctx, Config{Source: source}, cursors)
	if err != nil {
		return f, err
	}
	f.Watermark, f.CompleteUpTo = wm.UTC(), wm.UTC()
	f.ParkedWindows = int64(len(parked))
	if len(parked) > 0 {
		f.OldestParked = parked[0].Start.UTC()
		if f.CompleteUpTo.IsZero() || f.OldestParked.Before(f.CompleteUpTo) {
			f.CompleteUpTo = f.OldestParked
		}
	}
	return f, nil
}
