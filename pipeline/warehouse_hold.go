package pipeline

import (
	"context"
	"errors"
	"time"

	"github.com/marketplace/settle/io/warehouse"
)

// warehouseLockWait bounds how long a run waits for a warehouse that a
// reader (`settle runs`, `settle status`, ...) holds open at the moment
// it stages, promotes or writes its ledger row.
const warehouseLockWait = 2 * time.Minute

// exclusive is met by a warehouse back end that admits one process at a
// time (DuckDB's file lock).
type exclusive interface {
	LocksAcrossProcesses() bool
}

// holdOnlyWhileUsed returns wh itself, or, when wh locks out every other
// process while open, a warehouse that opens uri for each call and closes
// it after: the run then holds the file only while it stages, promotes and
// records, so the ledger can be read while it ingests and processes. wh
// has been opened once (so its tables exist and a bad URI fails the run
// before anything starts); it is closed here when replaced.
func holdOnlyWhileUsed(wh warehouse.Warehouse, uri string) (warehouse.Warehouse, error) {
	if x, ok := wh.(exclusive); !ok || !x.LocksAcrossProcesses() {
		return wh, nil
	}
	if err := wh.Close(); err != nil {
		return nil, err
	}
	return &openPerCall{uri: uri, wait: warehouseLockWait}, nil
}

// openPerCall is a warehouse opened for each call and closed after it.
type openPerCall struct {
	uri  string
	wait time.Duration
}

func (o *openPerCall) with(ctx context.Context, f func(warehouse.Warehouse) error) error {
	wh, err := warehouse.OpenWaiting(ctx, o.uri, o.wait)
	if err != nil {
		return err
	}
	err = f(wh)
	return errors.Join(err, wh.Close())
}

func (o *openPerCall) Stage(ctx context.Context, b warehouse.Batch) (st warehouse.StageStats, err error) {
	err = o.with(ctx, func(wh warehouse.Warehouse) (err error) {
		st, err = wh.Stage(ctx, b)
		return err
	})
	return st, err
}

func (o *openPerCall) Promote(ctx context.Context, runID string) (ps warehouse.PromoteStats, err error) {
	err = o.with(ctx, func(wh warehouse.Warehouse) (err error) {
		ps, err = wh.Promote(ctx, runID)
		return err
	})
	return ps, err
}

func (o *openPerCall) RecordRun(ctx context.Context, r warehouse.Run) error {
	return o.with(ctx, func(wh warehouse.Warehouse) error { return wh.RecordRun(ctx, r) })
}

func (o *openPerCall) Runs(ctx context.Context, n int) (runs []warehouse.Run, err error) {
	err = o.with(ctx, func(wh warehouse.Warehouse) (err error) {
		runs, err = wh.Runs(ctx, n)
		return err
	})
	return runs, err
}

// Close has nothing to close: no call holds the warehouse between calls.
func (o *openPerCall) Close() error { return nil }
