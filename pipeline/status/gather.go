package status

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"

	"github.com/marketplace/settle/io/cursorstore"
	"github.com/marketplace/settle/io/warehouse"
	"github.com/marketplace/settle/pipeline"
)

// OpenFunc opens the warehouse at uri for reading only: it must create
// nothing, return an error wrapping os.ErrNotExist when there is no
// warehouse yet, and may read a snapshot while a run holds it (snapshot
// true). An error wrapping warehouse.ErrLocked means it could not.
type OpenFunc func(ctx context.Context, uri string) (w warehouse.Warehouse, snapshot bool, err error)

// Gather reads the status inputs of cfg's source: the watermark, parked
// windows and lease, and the webhook channel's (the webhook source's
// watermark and the last sweep's WebhookStatus) from the cursor store
// (a local one opened read-only), and the newest runs ledger and
// run_metrics rows (n of each) from the warehouse opened by open. It
// writes nothing and creates nothing: a local cursor store that does not
// exist is read as empty. A ledger that cannot be read (locked, corrupt)
// is reported in Inputs.LedgerError, not returned as an error; errors are
// those of the cursor store.
func Gather(ctx context.Context, cfg pipeline.Config, open OpenFunc, n int) (Inputs, error) {
	in := Inputs{Source: cfg.Source}
	haveCursors, err := gatherCursors(ctx, cfg, &in)
	if err != nil {
		return in, err
	}
	haveWarehouse := gatherLedger(ctx, cfg, open, n, &in)
	in.NoData = !haveCursors && !haveWarehouse
	return in, nil
}

func gatherCursors(ctx context.Context, cfg pipeline.Config, in *Inputs) (bool, error) {
	uri := cfg.CursorStore
	if u, err := url.Parse(uri); err == nil && u.Scheme == "file" {
		if _, err := os.Stat(u.Path); errors.Is(err, os.ErrNotExist) {
			return false, nil
		}
		// Opened read-write, the file store would take its lock (creating
		// .lock) and remove a crashed writer's temporary files.
		q := u.Query()
		q.Set(cursorstore.AccessModeParam, cursorstore.AccessReadOnly)
		u.RawQuery = q.Encode()
		uri = u.String()
	}
	cursors, err := cursorstore.Open(ctx, uri)
	if err != nil {
		return false, fmt.Errorf("opening cursor store: %w", err)
	}
	defer cursors.Close()
	if in.Watermark, _, err = cursorstore.LoadWatermark(ctx, cursors, cfg.Source); err != nil {
		return true, fmt.Errorf("reading watermark: %w", err)
	}
	parked, err := pipeline.ParkedWindows(ctx, cfg, cursors)
	if err != nil {
		return true, fmt.Errorf("listing parked windows: %w", err)
	}
	for _, p := range parked {
		in.Parked = append(in.Parked, ParkedWindow{Start: p.Start.UTC(), End: p.End.UTC(), Since: p.State.UpdatedAt.UTC(), LastError: p.State.LastError})
	}
	doc, err := cursors.Get(ctx, cursorstore.LeaseKey(cfg.Source))
	switch {
	case errors.Is(err, cursorstore.ErrNotFound):
	case err != nil:
		return true, fmt.Errorf("reading lease: %w", err)
	default:
		var l Lease
		if err := json.Unmarshal(doc.Body, &l); err != nil {
			return true, fmt.Errorf("decoding lease: %w", err)
		}
		in.Lease = &l
	}
	if in.WebhookWatermark, _, err = cursorstore.LoadWatermark(ctx, cursors, pipeline.WebhookSource); err != nil {
		return true, fmt.Errorf("reading the webhook watermark: %w", err)
	}
	switch st, err := pipeline.LoadWebhookStatus(ctx, cursors); {
	case errors.Is(err, cursorstore.ErrNotFound):
	case err != nil:
		return true, err
	default:
		in.Webhook = &st
	}
	return true, nil
}

func gatherLedger(ctx context.Context, cfg pipeline.Config, open OpenFunc, n int, in *Inputs) bool {
	wh, snapshot, err := open(ctx, cfg.Warehouse)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return false
	case errors.Is(err, warehouse.ErrLocked):
		in.LedgerError = "a run holds the warehouse and no snapshot could be read; try again when it ends: " + err.Error()
		return true
	case err != nil:
		in.LedgerError = err.Error()
		return true
	}
	defer wh.Close()
	in.Snapshot = snapshot
	if in.Runs, err = wh.Runs(ctx, n); err != nil {
		in.LedgerError = err.Error()
	}
	if m, ok := wh.(warehouse.MetricsRecorder); ok {
		metrics, err := m.RunMetrics(ctx, n)
		if err != nil && in.LedgerError == "" {
			in.LedgerError = err.Error()
		}
		in.Metrics = metrics
	}
	return true
}
