package bigquery

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	bq "cloud.google.com/go/bigquery"

	"github.com/marketplace/settle/io/warehouse"
)

// decimalPattern is the text a money field must match to be cast to NUMERIC
// without rounding: at most 29 integer and 9 fraction digits.
const decimalPattern = `^-?[0-9]{1,29}(\.[0-9]{1,9})?$`

// maxLoadAttempts bounds the deterministic job ids tried for one load.
const maxLoadAttempts = 100

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9_]+`)

// runKey turns a run id into a table-name suffix: its safe characters, cut
// to 64, plus a hash of the whole id so two ids never share a table.
func runKey(runID string) string {
	safe := unsafeChars.ReplaceAllString(runID, "_")
	if len(safe) > 64 {
		safe = safe[:64]
	}
	sum := sha256.Sum256([]byte(runID))
	return safe + "_" + hex.EncodeToString(sum[:4])
}

// Stage loads the batch's gs:// NDJSON files into the run's staging tables
// (staging_settlements_<run>, staging_quarantine_<run>) with load jobs that
// truncate them, so staging the batch again replaces the run's staged rows;
// a kind without files has its staging table dropped. Staging tables expire
// after 14 days if never promoted.
//
// Each load job's id is derived from the run, the table and a hash of the
// file list; a job with that id still running is waited for instead of
// being submitted twice, and a finished one is followed by the next id in
// the sequence (…_2, …_3).
//
// After loading, the staged rows are checked: a money value NUMERIC cannot
// hold without rounding, or a row without vendor_txn_id, updated_at or
// quarantine_key, refuses the batch. Whenever Stage fails the run is left
// with nothing staged (its staging tables are dropped), so a half-loaded
// batch is never promoted.
func (w *Warehouse) Stage(ctx context.Context, b warehouse.Batch) (warehouse.StageStats, error) {
	if b.RunID == "" {
		return warehouse.StageStats{}, errors.New("staging batch: empty run id")
	}
	key := runKey(b.RunID)
	st, err := w.stage(ctx, b, key)
	if err != nil {
		return warehouse.StageStats{}, errors.Join(fmt.Errorf("staging run %s: %w", b.RunID, err), w.dropStaging(ctx, key))
	}
	return st, nil
}

func (w *Warehouse) stage(ctx context.Context, b warehouse.Batch, key string) (warehouse.StageStats, error) {
	var st warehouse.StageStats
	loads := []struct {
		table  string
		files  []string
		schema bq.Schema
		check  string
		count  *int64
	}{
		{stagingPrefixS + key, b.ValidatedFiles, stagingSettlementsSchema, settlementsCheck, &st.Validated},
		{stagingPrefixQ + key, b.QuarantineFiles, stagingQuarantineSchema, quarantineCheck, &st.Quarantined},
	}
	for _, l := range loads {
		if len(l.files) == 0 {
			if err := w.dropTable(ctx, l.table); err != nil {
				return st, err
			}
			continue
		}
		if err := w.load(ctx, l.table, l.files, l.schema); err != nil {
			return st, fmt.Errorf("loading %d files into %s: %w", len(l.files), l.table, err)
		}
		n, err := w.checkStaged(ctx, l.table, l.check)
		if err != nil {
			return st, err
		}
		*l.count = n
	}
	return st, nil
}

func (w *Warehouse) load(ctx context.Context, table string, files []string, schema bq.Schema) error {
	for _, f := range files {
		if !strings.HasPrefix(f, "gs://") {
			return fmt.Errorf("file %q is not a gs:// URI", f)
		}
	}
	tbl := w.client.Dataset(w.dataset).Table(table)
	err := tbl.Create(ctx, &bq.TableMetadata{
		Schema:         schema,
		ExpirationTime: time.Now().Add(stagingTTL),
		Description:    "staged rows of one run; dropped when promoted",
	})
	if err != nil && !isStatus(err, http.StatusConflict) {
		return fmt.Errorf("creating staging table: %w", err)
	}
	src := bq.NewGCSReference(files...)
	src.SourceFormat = bq.JSON
	src.Schema = schema
	src.MaxBadRecords = 0
	loader := tbl.LoaderFrom(src)
	loader.WriteDisposition = bq.WriteTruncate
	loader.CreateDisposition = bq.CreateIfNeeded

	sum := sha256.Sum256([]byte(strings.Join(files, "\n")))
	base := "settle_stage_" + table + "_" + hex.EncodeToString(sum[:8])
	for attempt := 1; attempt <= maxLoadAttempts; attempt++ {
		id := base
		if attempt > 1 {
			id = fmt.Sprintf("%s_%d", base, attempt)
		}
		loader.JobID = id
		job, err := loader.Run(ctx)
		if isStatus(err, http.StatusConflict) {
			job, err = w.client.JobFromID(ctx, id)
			if err != nil {
				return fmt.Errorf("looking up job %s: %w", id, err)
			}
			if job.LastStatus().Done() {
				continue // an earlier Stage of the same files: load again
			}
		}
		if err != nil {
			return fmt.Errorf("submitting load job %s: %w", id, err)
		}
		status, err := job.Wait(ctx)
		if err != nil {
			return fmt.Errorf("waiting for load job %s: %w", id, err)
		}
		if err := status.Err(); err != nil {
			return fmt.Errorf("load job %s: %w", id, err)
		}
		return nil
	}
	return fmt.Errorf("load job ids %s.._%d all used", base, maxLoadAttempts)
}

// The checks return (rows, bad rows, an example id of a bad row).
var (
	settlementsCheck = fmt.Sprintf(`SELECT COUNT(*) AS n, COUNTIF(bad) AS bad, MIN(IF(bad, example, NULL)) AS example
		FROM (SELECT IFNULL(vendor_txn_id, '(no vendor_txn_id)') || ' amount=' || IFNULL(amount, 'null') || ' fee=' || IFNULL(fee, 'null') AS example,
			vendor_txn_id IS NULL OR updated_at IS NULL
			OR NOT REGEXP_CONTAINS(IFNULL(amount, '0'), r'%[1]s')
			OR NOT REGEXP_CONTAINS(IFNULL(fee, '0'), r'%[1]s') AS bad
		FROM %%s)`, decimalPattern)
	quarantineCheck = `SELECT COUNT(*) AS n, COUNTIF(bad) AS bad, MIN(IF(bad, example, NULL)) AS example
		FROM (SELECT IFNULL(vendor_txn_id, '(no vendor_txn_id)') AS example, quarantine_key IS NULL AS bad FROM %s)`
)

// checkStaged counts a staging table's rows and refuses it if any is bad.
func (w *Warehouse) checkStaged(ctx context.Context, table, check string) (int64, error) {
	it, err := w.client.Query(fmt.Sprintf(check, w.table(table))).Read(ctx)
	if err != nil {
		return 0, fmt.Errorf("checking %s: %w", table, err)
	}
	var row struct {
		N       int64         `bigquery:"n"`
		Bad     int64         `bigquery:"bad"`
		Example bq.NullString `bigquery:"example"`
	}
	if err := it.Next(&row); err != nil {
		return 0, fmt.Errorf("checking %s: reading result: %w", table, err)
	}
	if row.Bad > 0 {
		return 0, fmt.Errorf("refusing %d of %d rows in %s (missing key or updated_at, or money beyond NUMERIC's 29.9 digits), e.g. %s",
			row.Bad, row.N, table, row.Example.StringVal)
	}
	return row.N, nil
}

func (w *Warehouse) dropTable(ctx context.Context, table string) error {
	if err := w.client.Dataset(w.dataset).Table(table).Delete(ctx); err != nil && !isStatus(err, http.StatusNotFound) {
		return fmt.Errorf("dropping %s: %w", table, err)
	}
	return nil
}

func (w *Warehouse) dropStaging(ctx context.Context, key string) error {
	return errors.Join(w.dropTable(ctx, stagingPrefixS+key), w.dropTable(ctx, stagingPrefixQ+key))
}

// stagedRows returns the row count of a staging table, and false if it
// does not exist.
func (w *Warehouse) stagedRows(ctx context.Context, table string) (int64, bool, error) {
	if _, err := w.client.Dataset(w.dataset).Table(table).Metadata(ctx); err != nil {
		if isStatus(err, http.StatusNotFound) {
			return 0, false, nil
		}
		return 0, false, fmt.Errorf("looking up %s: %w", table, err)
	}
	it, err := w.client.Query("SELECT COUNT(*) FROM " + w.table(table)).Read(ctx)
	if err != nil {
		return 0, false, fmt.Errorf("counting %s: %w", table, err)
	}
	var row []bq.Value
	if err := it.Next(&row); err != nil {
		return 0, false, fmt.Errorf("counting %s: %w", table, err)
	}
	n, ok := row[0].(int64)
	if !ok {
		return 0, false, fmt.Errorf("counting %s: got %T, want int64", table, row[0])
	}
	return n, true, nil
}
