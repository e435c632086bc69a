package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/marketplace/settle/io/warehouse"
)

// Every optional capability of the warehouse back ends passes through
// openPerCall: a run on a warehouse held only per call still records its
// account, currency totals, run_metrics and freshness. A capability left
// out here would be skipped silently by the type assertions of the
// pipeline, so TestOpenPerCallForwardsEveryCapability checks the list
// against the DuckDB back end.
var (
	_ warehouse.Accounts          = (*openPerCall)(nil)
	_ warehouse.RangeReader       = (*openPerCall)(nil)
	_ warehouse.MetricsRecorder   = (*openPerCall)(nil)
	_ warehouse.FreshnessRecorder = (*openPerCall)(nil)
)

// withCap opens the warehouse for one call of its capability C.
func withCap[C any](ctx context.Context, o *openPerCall, what string, f func(C) error) error {
	return o.with(ctx, func(wh warehouse.Warehouse) error {
		c, ok := wh.(C)
		if !ok {
			return fmt.Errorf("%s: %T lacks %T: %w", what, wh, (*C)(nil), errors.ErrUnsupported)
		}
		return f(c)
	})
}

func (o *openPerCall) RecordAccount(ctx context.Context, a warehouse.RunAccount, totals []warehouse.CurrencyTotal) error {
	return withCap(ctx, o, "recording account of run "+a.RunID, func(c warehouse.Accounts) error {
		return c.RecordAccount(ctx, a, totals)
	})
}

func (o *openPerCall) Account(ctx context.Context, runID string) (a warehouse.RunAccount, ts []warehouse.CurrencyTotal, err error) {
	err = withCap(ctx, o, "reading account of run "+runID, func(c warehouse.Accounts) (err error) {
		a, ts, err = c.Account(ctx, runID)
		return err
	})
	return a, ts, err
}

func (o *openPerCall) RunTotals(ctx context.Context, runID string) (ts []warehouse.CurrencyTotal, err error) {
	err = withCap(ctx, o, "totalling run "+runID, func(c warehouse.Accounts) (err error) {
		ts, err = c.RunTotals(ctx, runID)
		return err
	})
	return ts, err
}

func (o *openPerCall) RecordRunMetrics(ctx context.Context, m warehouse.RunMetrics) error {
	return withCap(ctx, o, "recording metrics of run "+m.RunID, func(c warehouse.MetricsRecorder) error {
		return c.RecordRunMetrics(ctx, m)
	})
}

func (o *openPerCall) RunMetrics(ctx context.Context, n int) (ms []warehouse.RunMetrics, err error) {
	err = withCap(ctx, o, "listing run metrics", func(c warehouse.MetricsRecorder) (err error) {
		ms, err = c.RunMetrics(ctx, n)
		return err
	})
	return ms, err
}

func (o *openPerCall) SetFreshness(ctx context.Context, f warehouse.Freshness) error {
	return withCap(ctx, o, "setting freshness of "+f.Source, func(c warehouse.FreshnessRecorder) error {
		return c.SetFreshness(ctx, f)
	})
}

func (o *openPerCall) Freshness(ctx context.Context) (fs []warehouse.Freshness, err error) {
	err = withCap(ctx, o, "reading freshness", func(c warehouse.FreshnessRecorder) (err error) {
		fs, err = c.Freshness(ctx)
		return err
	})
	return fs, err
}

func (o *openPerCall) SettlementsUpdated(ctx context.Context, from, to time.Time) (rows []warehouse.Settlement, err error) {
	err = withCap(ctx, o, "reading settlements updated in a range", func(c warehouse.RangeReader) (err error) {
		rows, err = c.SettlementsUpdated(ctx, from, to)
		return err
	})
	return rows, err
}
