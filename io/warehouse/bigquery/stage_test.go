package bigquery_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	bq "cloud.google.com/go/bigquery"

	"github.com/marketplace/settle/io/warehouse"
	"github.com/marketplace/settle/io/warehouse/bigquery"
	"github.com/marketplace/settle/testing/bqemulator"
)

// EnvFullSplit makes TestStageSplitsLoadJobs stage 25,000 files at
// BigQuery's real limit (make test-bq-split): the emulator takes about 15
// minutes per Stage of them on a 2-core machine, too long for make test,
// which stages 25 files with the limit lowered to 10.
const EnvFullSplit = "SETTLE_BQ_FULL_SPLIT"

// TestStageSplitsLoadJobs stages 2.5 load jobs' worth of files on the
// emulator: three load jobs (10,000 + 10,000 + 5,000 URIs, or 10 + 10 + 5
// with the limit lowered) under the ids derived from the run, the table
// and the part, every row staged once; staging the same batch again
// replaces the rows (not doubling them) under the next attempt of the same
// ids, and promoting lands every row.
func TestStageSplitsLoadJobs(t *testing.T) {
	if testing.Short() {
		t.Skip("stages files through the emulator")
	}
	limit := 10
	if os.Getenv(EnvFullSplit) != "" {
		limit = bigquery.MaxSourceURIs
	}
	stageSplitFiles := limit * 5 / 2
	em := bqemulator.StartEmulator(t)
	if em.GCSRoot == "" {
		t.Skipf("emulator at %s given without %s: cannot place gs:// staging files", em.Host, bqemulator.EnvGCSRoot)
	}
	t.Setenv(bigquery.EnvEmulatorHost, em.Host)
	dataset := fmt.Sprintf("split_%d", time.Now().UnixNano())
	w, err := warehouse.Open(t.Context(), "bigquery://"+project+"/"+dataset)
	if err != nil {
		t.Fatalf("Open() = %v", err)
	}
	t.Cleanup(func() { w.Close() })
	bw := w.(*bigquery.Warehouse)
	bigquery.SetMaxSourceURIs(bw, limit)

	dir := filepath.Join(em.GCSRoot, "stage-bucket", dataset)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	const runID = "20261101T000000Z-split"
	files := make([]string, stageSplitFiles)
	for i := range files {
		row, _ := json.Marshal(warehouse.Settlement{
			VendorTxnID: "txn_" + strconv.Itoa(i), SellerID: "s1", Type: "sale", Status: "settled",
			Amount: strconv.Itoa(i) + ".25", Fee: "0.10", Currency: "EUR",
			CreatedAt: "2026-11-01T00:00:00Z", UpdatedAt: "2026-11-01T01:00:00Z",
			Metadata: "{}", VersionDigest: "d" + strconv.Itoa(i), RunID: runID, RawRef: "raw/p",
		})
		name := fmt.Sprintf("part-%05d.ndjson", i)
		if err := os.WriteFile(filepath.Join(dir, name), append(row, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		files[i] = "gs://stage-bucket/" + dataset + "/" + name
	}
	ids := bigquery.ValidatedLoadJobIDs(runID, files, limit)
	if len(ids) != 3 {
		t.Fatalf("load job ids for %d files = %d, want 3", len(files), len(ids))
	}
	wantURIs := []int{limit, limit, limit / 2}

	// checkJobs asserts that attempt n of every part ran its share of the
	// files and succeeded.
	checkJobs := func(t *testing.T, n int) {
		t.Helper()
		for i, id := range ids {
			if n > 1 {
				id = fmt.Sprintf("%s_%d", id, n)
			}
			job, err := bw.Client().JobFromID(t.Context(), id)
			if err != nil {
				t.Errorf("load job %s (part %d): %v", id, i, err)
				continue
			}
			if st := job.LastStatus(); !st.Done() || st.Err() != nil {
				t.Errorf("load job %s: done %v, err %v; want done without error", id, st.Done(), st.Err())
			}
			cfg, err := job.Config()
			if err != nil {
				t.Errorf("load job %s config: %v", id, err)
				continue
			}
			lc, ok := cfg.(*bq.LoadConfig)
			if !ok {
				t.Errorf("job %s is a %T, want a load job", id, cfg)
				continue
			}
			want := bq.WriteAppend
			if i == 0 {
				want = bq.WriteTruncate
			}
			if lc.WriteDisposition != want {
				t.Errorf("load job %s writes %q, want %q (the first part truncates, the rest append)", id, lc.WriteDisposition, want)
			}
			ref, ok := lc.Src.(*bq.GCSReference)
			if !ok {
				t.Errorf("load job %s reads from %T, want GCS", id, lc.Src)
			} else if len(ref.URIs) != wantURIs[i] {
				t.Errorf("load job %s has %d source URIs, want %d", id, len(ref.URIs), wantURIs[i])
			}
		}
	}

	batch := warehouse.Batch{RunID: runID, ValidatedFiles: files}
	t0 := time.Now()
	st, err := w.Stage(t.Context(), batch)
	if err != nil {
		t.Fatalf("Stage(%d files) = %v", len(files), err)
	}
	t.Logf("staged %d files in %v", len(files), time.Since(t0).Round(time.Millisecond))
	if st.Validated != int64(stageSplitFiles) {
		t.Errorf("Stage() validated = %d, want %d", st.Validated, stageSplitFiles)
	}
	checkJobs(t, 1)

	st, err = w.Stage(t.Context(), batch)
	if err != nil {
		t.Fatalf("Stage() again = %v", err)
	}
	if st.Validated != int64(stageSplitFiles) {
		t.Errorf("Stage() again validated = %d, want %d (the run's staged rows replaced, not added to)", st.Validated, stageSplitFiles)
	}
	checkJobs(t, 2)

	ps, err := w.Promote(t.Context(), runID)
	if err != nil {
		t.Fatalf("Promote() = %v", err)
	}
	if got := ps.Promoted(); got != int64(stageSplitFiles) {
		t.Errorf("Promote() promoted %d, want %d", got, stageSplitFiles)
	}
}
