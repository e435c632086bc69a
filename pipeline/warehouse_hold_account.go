package pipeline

import (
	"context"
	"fmt"

	"github.com/marketplace/settle/io/warehouse"
)

// openPerCall passes warehouse.Accounts through to the back end it opens
// for each call (DuckDB keeps accounts).
var _ warehouse.Accounts = (*openPerCall)(nil)

func (o *openPerCall) accounts(ctx context.Context, f func(warehouse.Accounts) error) error {
	return o.with(ctx, func(wh warehouse.Warehouse) error {
		acc, ok := wh.(warehouse.Accounts)
		if !ok {
			return fmt.Errorf("warehouse %T keeps no run accounts", wh)
		}
		return f(acc)
	})
}

func (o *openPerCall) RecordAccount(ctx context.Context, a warehouse.RunAccount, totals []warehouse.CurrencyTotal) error {
	return o.accounts(ctx, func(acc warehouse.Accounts) error { return acc.RecordAccount(ctx, a, totals) })
}

func (o *openPerCall) Account(ctx context.Context, runID string) (a warehouse.RunAccount, totals []warehouse.CurrencyTotal, err error) {
	err = o.accounts(ctx, func(acc warehouse.Accounts) (err error) {
		a, totals, err = acc.Account(ctx, runID)
		return err
	})
	return a, totals, err
}

func (o *openPerCall) RunTotals(ctx context.Context, runID string) (totals []warehouse.CurrencyTotal, err error) {
	err = o.accounts(ctx, func(acc warehouse.Accounts) (err error) {
		totals, err = acc.RunTotals(ctx, runID)
		return err
	})
	return totals, err
}
