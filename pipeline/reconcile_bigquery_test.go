package pipeline_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/marketplace/settle/io/warehouse"
	"github.com/marketplace/settle/io/warehouse/bigquery"
	"github.com/marketplace/settle/pipeline"
	"github.com/marketplace/settle/testing/bqemulator"
)

func TestReconcileFindsAChangedADeletedAndAnExtraRowOnBigQuery(t *testing.T) {
	em := bqemulator.StartEmulator(t)
	if em.GCSRoot == "" {
		t.Skipf("emulator at %s given without %s: cannot place gs:// staging files", em.Host, bqemulator.EnvGCSRoot)
	}
	t.Setenv(bigquery.EnvEmulatorHost, em.Host)
	dataset := fmt.Sprintf("reconcile_%d", time.Now().UnixNano())
	cfg := pipeline.DefaultConfig(t.TempDir())
	cfg.Warehouse = "bigquery://settle-test/" + dataset
	stage := filepath.Join(em.GCSRoot, "stage-bucket", dataset)
	file := writeReconRawZone(t, cfg, stage)
	rel, err := filepath.Rel(em.GCSRoot, file)
	if err != nil {
		t.Fatal(err)
	}
	loadRecon(t, cfg, "gs://"+filepath.ToSlash(rel))
	table := "`settle-test." + dataset + ".settlements`"
	testReconcileFindsTampering(t, cfg, func(t *testing.T) {
		t.Helper()
		w, err := warehouse.Open(t.Context(), cfg.Warehouse)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		client := w.(*bigquery.Warehouse).Client()
		for _, q := range []string{
			`UPDATE ` + table + ` SET amount = PARSE_NUMERIC('11') WHERE vendor_txn_id = 'st_1'`,
			`DELETE FROM ` + table + ` WHERE vendor_txn_id = 'st_3'`,
			`INSERT INTO ` + table + ` (vendor_txn_id, seller_id, type, status, amount, fee, currency, created_at, updated_at, version_digest)
				VALUES ('st_extra', 'sel_3', 'charge', 'settled', PARSE_NUMERIC('2.5'), PARSE_NUMERIC('0'), 'EUR',
				TIMESTAMP '2026-11-01 00:00:00+00', TIMESTAMP '2026-11-01 12:00:00+00', 'ffff')`,
		} {
			job, err := client.Query(q).Run(t.Context())
			if err == nil {
				var st interface{ Err() error }
				st, err = job.Wait(t.Context())
				if err == nil {
					err = st.Err()
				}
			}
			if err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	})
}
