package pipeline

import (
	"context"
	"errors"
	"fmt"

	"github.com/marketplace/settle/io/warehouse"
)

// The operations capabilities pass through openPerCall, so a run on a
// warehouse held only per call still records run_metrics and freshness.
var (
	_ warehouse.MetricsRecorder   = (*openPerCall)(nil)
	_ warehouse.FreshnessRecorder = (*openPerCall)(nil)
)

func (o *openPerCall) RecordRunMetrics(ctx context.Context, m warehouse.RunMetrics) error {
	return o.with(ctx, func(wh warehouse.Warehouse) error {
		r, ok := wh.(warehouse.MetricsRecorder)
		if !ok {
			return fmt.Errorf("recording metrics of run %s: %T keeps no run_metrics: %w", m.RunID, wh, errors.ErrUnsupported)
		}
		return r.RecordRunMetrics(ctx, m)
	})
}

func (o *openPerCall) RunMetrics(ctx context.Context, n int) (ms []warehouse.RunMetrics, err error) {
	err = o.with(ctx, func(wh warehouse.Warehouse) (err error) {
		r, ok := wh.(warehouse.MetricsRecorder)
		if !ok {
			return fmt.Errorf("listing run metrics: %T keeps no run_metrics: %w", wh, errors.ErrUnsupported)
		}
		ms, err = r.RunMetrics(ctx, n)
		return err
	})
	return ms, err
}

func (o *openPerCall) SetFreshness(ctx context.Context, f warehouse.Freshness) error {
	return o.with(ctx, func(wh warehouse.Warehouse) error {
		r, ok := wh.(warehouse.FreshnessRecorder)
		if !ok {
			return fmt.Errorf("setting freshness of %s: %T keeps no freshness table: %w", f.Source, wh, errors.ErrUnsupported)
		}
		return r.SetFreshness(ctx, f)
	})
}

func (o *openPerCall) Freshness(ctx context.Context) (fs []warehouse.Freshness, err error) {
	err = o.with(ctx, func(wh warehouse.Warehouse) (err error) {
		r, ok := wh.(warehouse.FreshnessRecorder)
		if !ok {
			return fmt.Errorf("reading freshness: %T keeps no freshness table: %w", wh, errors.ErrUnsupported)
		}
		fs, err = r.Freshness(ctx)
		return err
	})
	return fs, err
}
