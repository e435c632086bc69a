//go:build !cgo

package main

import (
	"context"

	"github.com/marketplace/settle/io/warehouse"
)

// openWarehouseReadOnly opens the warehouse for status and report; without
// cgo there is no DuckDB, so every back end opens as usual.
func openWarehouseReadOnly(ctx context.Context, uri string) (warehouse.Warehouse, bool, error) {
	w, err := warehouse.Open(ctx, uri)
	return w, false, err
}
