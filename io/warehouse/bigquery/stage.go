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
// A table's files are loaded in parts of at most MaxSourceURIs (BigQuery's
// per-job limit), the first truncating, the rest appending. Each part's job
// id is derived from the run, the table, the part's index and a hash of its
// files; a job with that id still running is waited for before anything is
// submitted, and a finished one is followed by the next id in the sequence
// (…_2, …_3).
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

// MaxSourceURIs is the most source URIs BigQuery accepts in one load job.
const MaxSourceURIs = 10000

// loadPart is one load job of a staging table: its files and its job id
// base (the id of its first attempt).
type loadPart struct {
	Files []string
	JobID string
}

// loadParts cuts files, in order, into parts of at most max URIs and names
// each part's job from the staging table (which holds the run key), the
// part's index and a hash of its files: the same batch staged again gets
// the same ids, part by part.
func loadParts(table string, files []string, max int) []loadPart {
	if max < 1 {
		max = MaxSourceURIs
	}
	var parts []loadPart
	for i := 0; i*max < len(files); i++ {
		chunk := files[i*max : min((i+1)*max, len(files))]
		sum := sha256.Sum256([]byte(strings.Join(chunk, "\n")))
		parts = append(parts, loadPart{
			Files: chunk,
			JobID: fmt.Sprintf("settle_stage_%s_p%04d_%s", table, i, hex.EncodeToString(sum[:8])),
		})
	}
	return parts
}

// attemptID is the job id of a part's attempt n (1 is the base id).
func attemptID(base string, n int) string {
	if n == 1 {
		return base
	}
	return fmt.Sprintf("%s_%d", base, n)
}

// load loads files into table in load jobs of at most w.maxURIs source URIs
// each: the first part truncates the table, the others append, so the
// table ends up holding exactly the files' rows.
//
// Job ids are deterministic (see loadParts), with an attempt suffix. Before
// anything is submitted, every attempt of every part that an earlier Stage
// of the same batch left running is waited for, so no load of an earlier
// Stage can commit after this one's truncation; then each part is submitted
// under its first unused attempt id.
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
	parts := loadParts(table, files, w.maxURIs)
	next := make([]int, len(parts))
	for i, p := range parts {
		if next[i], err = w.settleAttempts(ctx, p.JobID); err != nil {
			return err
		}
	}
	for i, p := range parts {
		src := bq.NewGCSReference(p.Files...)
		src.SourceFormat = bq.JSON
		src.Schema = schema
		src.MaxBadRecords = 0
		loader := tbl.LoaderFrom(src)
		loader.WriteDisposition = bq.WriteAppend
		if i == 0 {
			loader.WriteDisposition = bq.WriteTruncate
		}
		loader.CreateDisposition = bq.CreateIfNeeded
		loader.JobID = attemptID(p.JobID, next[i])
		job, err := loader.Run(ctx)
		if err != nil {
			return fmt.Errorf("submitting load job %s (part %d of %d): %w", loader.JobID, i+1, len(parts), err)
		}
		if err := waitJob(ctx, job); err != nil {
			return fmt.Errorf("load job %s (part %d of %d): %w", loader.JobID, i+1, len(parts), err)
		}
	}
	return nil
}

// settleAttempts walks the attempts of the job id base, waits for any
// still running (an earlier Stage's, whatever their outcome), and returns
// the first attempt number that names no job.
func (w *Warehouse) settleAttempts(ctx context.Context, base string) (int, error) {
	for n := 1; n <= maxLoadAttempts; n++ {
		id := attemptID(base, n)
		job, err := w.client.JobFromID(ctx, id)
		if isStatus(err, http.StatusNotFound) {
			return n, nil
		}
		if err != nil {
			return 0, fmt.Errorf("looking up job %s: %w", id, err)
		}
		if !job.LastStatus().Done() {
			if _, err := job.Wait(ctx); err != nil {
				return 0, fmt.Errorf("waiting for earlier load job %s: %w", id, err)
			}
		}
	}
	return 0, fmt.Errorf("load job ids %s.._%d all used", base, maxLoadAttempts)
}

func waitJob(ctx context.Context, job *bq.Job) error {
	status, err := job.Wait(ctx)
	if err != nil {
		return fmt.Errorf("waiting: %w", err)
	}
	return status.Err()
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
