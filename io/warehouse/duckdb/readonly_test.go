//go:build cgo

package duckdb_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/marketplace/settle/io/warehouse"
)

// TestReadOnlyOpenCreatesNothing: access_mode=read_only refuses a missing
// file (ErrNotExist) without creating it, reads an existing one, and
// cannot write to it.
func TestReadOnlyOpenCreatesNothing(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	path := filepath.Join(dir, "warehouse.duckdb")
	w, err := warehouse.Open(ctx, "duckdb://"+path+"?access_mode=read_only")
	if !errors.Is(err, warehouse.ErrNotExist) || w != nil {
		t.Fatalf("read-only Open of a missing file = %v, %v; want nil, ErrNotExist", w, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("read-only Open of a missing file created %v", entries)
	}

	rw, err := warehouse.Open(ctx, "duckdb://"+path)
	if err != nil {
		t.Fatal(err)
	}
	if err := rw.Close(); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadDir(dir)
	ro, err := warehouse.Open(ctx, "duckdb://"+path+"?access_mode=read_only")
	if err != nil {
		t.Fatalf("read-only Open of an existing file: %v", err)
	}
	if runs, err := ro.Runs(ctx, 5); err != nil || len(runs) != 0 {
		t.Errorf("Runs read-only = %v, %v; want none, nil", runs, err)
	}
	if err := ro.RecordRun(ctx, warehouse.Run{RunID: "r1"}); err == nil {
		t.Errorf("RecordRun on a read-only warehouse: no error")
	}
	if err := ro.Close(); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadDir(dir)
	if len(after) != len(before) {
		t.Errorf("read-only use changed the dir: %v, then %v", before, after)
	}
	if _, err := warehouse.Open(ctx, "duckdb://"+path+"?access_mode=sometimes"); err == nil {
		t.Errorf("access_mode=sometimes: no error")
	}
}
