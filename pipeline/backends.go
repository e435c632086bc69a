package pipeline

import (
	"context"
	"errors"

	"github.com/marketplace/settle/io/cursorstore"
	"github.com/marketplace/settle/io/rawzone"
	"github.com/marketplace/settle/io/warehouse"
)

// backends are the three seams of one run, and the run's lease.
type backends struct {
	cursors cursorstore.Store
	raw     rawzone.Store
	wh      warehouse.Warehouse
	lease   *runLease // nil when not leased
	source  string    // cfg.Source, for the operations tables (ops.go)
}

// openBackends opens the seams. When lease is not nil it is called with the
// cursor store before anything else is opened: a run refused by the lease
// never touches the raw zone or the warehouse (DuckDB's file admits one
// process at a time).
func openBackends(ctx context.Context, cfg Config, lease func(cursorstore.Store) (*runLease, error)) (*backends, error) {
	b := &backends{source: cfg.Source}
	cursors, err := cursorstore.Open(ctx, cfg.CursorStore)
	if err != nil {
		return nil, err
	}
	b.cursors = cursors
	if lease != nil {
		if b.lease, err = lease(cursors); err != nil {
			b.close()
			return nil, err
		}
	}
	raw, err := rawzone.Open(ctx, cfg.RawZone)
	if err != nil {
		b.close()
		return nil, err
	}
	b.raw = raw
	wh, err := warehouse.OpenWaiting(ctx, cfg.Warehouse, warehouseLockWait)
	if err != nil {
		b.close()
		return nil, err
	}
	if b.wh, err = holdOnlyWhileUsed(wh, cfg.Warehouse); err != nil {
		b.close()
		return nil, err
	}
	return b, nil
}

// close closes the warehouse and the raw zone, then releases the lease
// (so the next run finds the warehouse free), then closes the cursor store.
func (b *backends) close() error {
	var errs []error
	if b.wh != nil {
		errs = append(errs, b.wh.Close())
	}
	if b.raw != nil {
		errs = append(errs, b.raw.Close())
	}
	b.lease.end()
	if b.cursors != nil {
		errs = append(errs, b.cursors.Close())
	}
	return errors.Join(errs...)
}
