package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/marketplace/settle/io/cursorstore"
	"github.com/marketplace/settle/io/vendorapi"
)

// DefaultWindowRetention keeps done and superseded window states for 35
// days behind the watermark (docs/design.md, "Window records").
const DefaultWindowRetention = 35 * 24 * time.Hour

// Log attribute keys of window housekeeping.
const (
	logKeySuperseded = "superseded"
	logKeyPruned     = "pruned"
)

// TidyResult is what TidyWindows did.
type TidyResult struct {
	// Superseded are the keys of parked or open windows marked
	// StatusSuperseded, because later done windows read their whole range.
	Superseded []string
	// Pruned is how many done or superseded window states were deleted
	// for being older than cfg.WindowRetention behind the watermark.
	Pruned int
}

// TidyWindows is the housekeeping of the source's window states, run under
// the lease after every ingest:
//
//  1. A parked (or open) window whose range done windows have read since,
//     from first page to last, is marked StatusSuperseded with their keys
//     (cursorstore.Supersedes): it no longer shows in ParkedWindows, so
//     `settle deadletters`, `settle redrive` and the parked-windows alert
//     stop reporting it. Run edges clip windows differently each run, so a
//     parked clipped window is otherwise never read again under its key.
//  2. Done and superseded windows that ended more than cfg.WindowRetention
//     before the watermark are deleted (cursorstore.Prunable), when the
//     store can delete: the records no longer grow with every run.
//
// Every write is a compare-and-set at the version listed, so a write that
// loses a race changes nothing; TidyWindows then goes on with the others
// and returns the errors joined.
func TidyWindows(ctx context.Context, cfg Config, cursors cursorstore.Store, now time.Time) (TidyResult, error) {
	var res TidyResult
	all, err := cursorstore.ListWindows(ctx, cursors, cfg.Source)
	if err != nil {
		return res, fmt.Errorf("tidying windows: %w", err)
	}
	var errs []error
	for i, w := range all {
		keys := cursorstore.Supersedes(w, all)
		if keys == nil {
			continue
		}
		st := w.State
		st.Status = cursorstore.StatusSuperseded
		st.SupersededBy = strings.Join(keys, " ")
		st.UpdatedAt = now
		v, err := cursorstore.SaveWindow(ctx, cursors, w.Key, w.Version, st)
		if err != nil {
			errs = append(errs, fmt.Errorf("marking window %s superseded: %w", w.Key, err))
			continue
		}
		all[i].State, all[i].Version = st, v
		res.Superseded = append(res.Superseded, w.Key)
	}
	del, ok := cursors.(cursorstore.Deleter)
	if !ok || cfg.WindowRetention <= 0 {
		return res, errors.Join(errs...)
	}
	wm, _, err := cursorstore.LoadWatermark(ctx, cursors, cfg.Source)
	if err != nil {
		return res, errors.Join(append(errs, fmt.Errorf("tidying windows: reading watermark: %w", err))...)
	}
	for _, w := range all {
		if !cursorstore.Prunable(w, wm, cfg.WindowRetention) {
			continue
		}
		if err := del.Delete(ctx, w.Key, w.Version); err != nil {
			errs = append(errs, fmt.Errorf("pruning window %s: %w", w.Key, err))
			continue
		}
		res.Pruned++
	}
	return res, errors.Join(errs...)
}

// ingestAndTidy ingests the tasks, then tidies the source's window states.
// Housekeeping never fails a run: its errors are logged, and the next run
// tries again.
func ingestAndTidy(ctx context.Context, cfg Config, opts Options, b *backends, sum *Summary, tasks []vendorapi.Task) error {
	if err := ingest(ctx, cfg, opts, b, sum, tasks); err != nil {
		return err
	}
	res, err := TidyWindows(ctx, cfg, b.cursors, opts.Now())
	if err != nil {
		opts.Logger.Warn("window housekeeping incomplete; the next run tries again", logKeyRun, sum.RunID, "error", err)
	}
	if len(res.Superseded) > 0 || res.Pruned > 0 {
		opts.Logger.Info("window housekeeping", logKeyRun, sum.RunID, logKeySuperseded, len(res.Superseded), logKeyPruned, res.Pruned)
	}
	return nil
}
