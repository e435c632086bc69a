//go:build cgo

package pipeline_test

import (
	"path/filepath"
	"testing"

	"github.com/marketplace/settle/io/warehouse"
	"github.com/marketplace/settle/io/warehouse/duckdb"
	"github.com/marketplace/settle/pipeline"
)

func TestReconcileFindsAChangedADeletedAndAnExtraRowOnDuckDB(t *testing.T) {
	dir := t.TempDir()
	cfg := pipeline.DefaultConfig(dir)
	loadRecon(t, cfg, writeReconRawZone(t, cfg, filepath.Join(dir, "stage")))
	testReconcileFindsTampering(t, cfg, func(t *testing.T) {
		t.Helper()
		w, err := warehouse.Open(t.Context(), cfg.Warehouse)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		for _, q := range []string{
			`UPDATE settlements SET amount = 11 WHERE vendor_txn_id = 'st_1'`,
			`DELETE FROM settlements WHERE vendor_txn_id = 'st_3'`,
			`INSERT INTO settlements (vendor_txn_id, seller_id, type, status, amount, fee, currency, created_at, updated_at, version_digest)
				VALUES ('st_extra', 'sel_3', 'charge', 'settled', 2.5, 0, 'EUR', TIMESTAMPTZ '2026-11-01 00:00:00+00', TIMESTAMPTZ '2026-11-01 12:00:00+00', 'ffff')`,
		} {
			if _, err := w.(*duckdb.Warehouse).DB().ExecContext(t.Context(), q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	})
}
