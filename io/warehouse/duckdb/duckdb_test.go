//go:build cgo

package duckdb_test

import (
	"database/sql"
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

// TestOpenMigratesAFileOfTheFirstRelease opens a warehouse file whose
// tables have the first release's columns: Open adds the new ones, the
// stored row survives, and the first promote of its version fills in the
// digest without counting a change of content.
func TestOpenMigratesAFileOfTheFirstRelease(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "old.duckdb")
	db, err := sql.Open("duckdb", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		`CREATE TABLE settlements (vendor_txn_id VARCHAR PRIMARY KEY, order_id VARCHAR, seller_id VARCHAR,
			type VARCHAR, status VARCHAR, amount DECIMAL(38,9), fee DECIMAL(38,9), currency VARCHAR,
			created_at TIMESTAMPTZ, updated_at TIMESTAMPTZ, settled_at TIMESTAMPTZ, metadata JSON,
			run_id VARCHAR, raw_ref VARCHAR)`,
		`CREATE TABLE settlements_quarantine (quarantine_key VARCHAR PRIMARY KEY, vendor_txn_id VARCHAR,
			reason VARCHAR, raw JSON, run_id VARCHAR, raw_ref VARCHAR, quarantined_at TIMESTAMPTZ)`,
		`CREATE TABLE runs (run_id VARCHAR PRIMARY KEY, kind VARCHAR, window_start TIMESTAMPTZ,
			window_end TIMESTAMPTZ, started_at TIMESTAMPTZ, finished_at TIMESTAMPTZ, fetched BIGINT,
			duplicates BIGINT, validated BIGINT, quarantined BIGINT, promoted BIGINT, dead_lettered BIGINT,
			outcome VARCHAR, detail VARCHAR)`,
		`CREATE TABLE staging_settlements (run_id VARCHAR NOT NULL, vendor_txn_id VARCHAR NOT NULL,
			order_id VARCHAR, seller_id VARCHAR, type VARCHAR, status VARCHAR, amount DECIMAL(38,9),
			fee DECIMAL(38,9), currency VARCHAR, created_at TIMESTAMPTZ, updated_at TIMESTAMPTZ NOT NULL,
			settled_at TIMESTAMPTZ, metadata JSON, row_run_id VARCHAR, raw_ref VARCHAR)`,
		`CREATE TABLE staging_quarantine (run_id VARCHAR NOT NULL, quarantine_key VARCHAR NOT NULL,
			vendor_txn_id VARCHAR, reason VARCHAR, raw JSON, row_run_id VARCHAR, raw_ref VARCHAR,
			quarantined_at TIMESTAMPTZ)`,
		`INSERT INTO settlements VALUES ('st_1', NULL, 'sel_1', 'fee', 'settled', 12.5, 0, 'EUR',
			'2026-03-01T09:00:00Z', '2026-03-01T10:00:00Z', NULL, '{}', 'r-old', 'pages/old')`,
	} {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	db.Close()

	w, err := duckdb.Open(t.Context(), path, duckdb.DefaultConfig())
	if err != nil {
		t.Fatalf("Open(a first-release file) = %v", err)
	}
	defer w.Close()
	staged := filepath.Join(dir, "s.ndjson")
	row := `{"vendor_txn_id":"st_1","order_id":null,"seller_id":"sel_1","type":"fee","status":"settled","amount":"12.50","fee":"0.00","currency":"EUR","created_at":"2026-03-01T09:00:00Z","updated_at":"2026-03-01T10:00:00Z","settled_at":null,"metadata":"{}","version_digest":"abcd","run_id":"r-new","raw_ref":"pages/old"}` + "\n"
	if err := os.WriteFile(staged, []byte(row), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Stage(t.Context(), warehouse.Batch{RunID: "r-new", ValidatedFiles: []string{staged}}); err != nil {
		t.Fatalf("Stage() = %v", err)
	}
	ps, err := w.Promote(t.Context(), "r-new")
	if err != nil {
		t.Fatalf("Promote() = %v", err)
	}
	if ps != (warehouse.PromoteStats{Updated: 1}) {
		t.Errorf("Promote() = %+v, want the digest-less stored row updated once, nothing corrected", ps)
	}
	rows, err := w.Settlements(t.Context())
	if err != nil || len(rows) != 1 || rows[0].VersionDigest != "abcd" || rows[0].Amount != "12.5" {
		t.Errorf("Settlements() = %+v, %v; want st_1 at 12.5 with digest abcd", rows, err)
	}
	if err := w.RecordRun(t.Context(), warehouse.Run{RunID: "r-new", Corrected: 2}); err != nil {
		t.Errorf("RecordRun on a migrated runs table = %v", err)
	}
}
