//go:build cgo

package duckdb_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/marketplace/settle/io/warehouse"
	"github.com/marketplace/settle/io/warehouse/duckdb"
	"github.com/marketplace/settle/testing/warehousetest"
)

func openTemp(t *testing.T) (warehouse.Warehouse, string) {
	t.Helper()
	dir := t.TempDir()
	w, err := warehouse.Open(t.Context(), "duckdb://"+filepath.Join(dir, "warehouse.duckdb"))
	if err != nil {
		t.Fatalf("Open() = %v", err)
	}
	return w, dir
}

func TestContract(t *testing.T) {
	warehousetest.Run(t, openTemp)
}

func TestOpenURL(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		uri     string
		wantErr bool
	}{
		{"an absolute path opens", "duckdb://" + filepath.Join(dir, "a.duckdb"), false},
		{"settings in the query open", "duckdb://" + filepath.Join(dir, "b.duckdb") + "?memory_limit=512MB&threads=1", false},
		{"a host instead of a path is refused", "duckdb://relative.duckdb", true},
		{"an unknown setting is refused", "duckdb://" + filepath.Join(dir, "c.duckdb") + "?color=blue", true},
		{"a bad thread count is refused", "duckdb://" + filepath.Join(dir, "d.duckdb") + "?threads=many", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := warehouse.Open(t.Context(), tt.uri)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Open(%q) error = %v, want error %v", tt.uri, err, tt.wantErr)
			}
			if err == nil {
				if _, ok := w.(*duckdb.Warehouse); !ok {
					t.Errorf("Open(%q) = %T, want *duckdb.Warehouse", tt.uri, w)
				}
				if err := w.Close(); err != nil {
					t.Errorf("Close() = %v", err)
				}
			}
		})
	}
}

func TestReopenKeepsRows(t *testing.T) {
	w, dir := openTemp(t)
	ctx := t.Context()
	if err := w.RecordRun(ctx, warehouse.Run{RunID: "r-1", Kind: "run", Outcome: warehouse.OutcomePromoted}); err != nil {
		t.Fatalf("RecordRun() = %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	w2, err := warehouse.Open(ctx, "duckdb://"+filepath.Join(dir, "warehouse.duckdb"))
	if err != nil {
		t.Fatalf("reopening: %v", err)
	}
	defer w2.Close()
	runs, err := w2.Runs(ctx, 5)
	if err != nil {
		t.Fatalf("Runs() = %v", err)
	}
	if len(runs) != 1 || runs[0].RunID != "r-1" {
		t.Errorf("Runs() after reopen = %+v, want the one run r-1", runs)
	}
}

func TestFailedStageKeepsPreviousStaging(t *testing.T) {
	w, dir := openTemp(t)
	defer w.Close()
	ctx := t.Context()
	good := filepath.Join(dir, "good.ndjson")
	row := `{"vendor_txn_id":"a","order_id":null,"seller_id":"s","type":"charge","status":"pending",` +
		`"amount":"1.5","fee":"0","currency":"EUR","created_at":"2026-03-01T00:00:00Z",` +
		`"updated_at":"2026-03-01T00:00:00Z","settled_at":null,"metadata":"{}","run_id":"r-1","raw_ref":"p"}` + "\n"
	if err := os.WriteFile(good, []byte(row), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Stage(ctx, warehouse.Batch{RunID: "r-1", ValidatedFiles: []string{good}}); err != nil {
		t.Fatalf("Stage(good) = %v", err)
	}
	for _, bad := range [][]string{
		{good, filepath.Join(dir, "missing.ndjson")},
		{filepath.Join(dir, "*.ndjson")},
	} {
		if _, err := w.Stage(ctx, warehouse.Batch{RunID: "r-1", ValidatedFiles: bad}); err == nil {
			t.Errorf("Stage(%v) = nil error, want a failure", bad)
		}
	}
	ps, err := w.Promote(ctx, "r-1")
	if err != nil || ps.Changed() != 1 {
		t.Errorf("Promote() = %+v, %v; want the 1 row staged before the failed Stages", ps, err)
	}
}
