//go:build cgo

package main

import (
	"context"
	"net/url"

	"github.com/marketplace/settle/io/warehouse"
	"github.com/marketplace/settle/io/warehouse/duckdb"
)

// openWarehouseReadOnly opens the warehouse for status and report: a DuckDB
// file read-only (a snapshot copy while a run holds it; os.ErrNotExist when
// there is none yet), any other back end as usual.
func openWarehouseReadOnly(ctx context.Context, uri string) (warehouse.Warehouse, bool, error) {
	if u, err := url.Parse(uri); err == nil && u.Scheme == "duckdb" && u.Host == "" && u.Path != "" {
		w, snapshot, err := duckdb.OpenReadOnly(ctx, u.Path)
		if err != nil {
			return nil, false, err
		}
		return w, snapshot, nil
	}
	w, err := warehouse.Open(ctx, uri)
	return w, false, err
}
