//go:build cgo

package main

// DuckDB needs cgo; Dataflow workers are built without it and never open
// the local warehouse.
import _ "github.com/marketplace/settle/io/warehouse/duckdb"
