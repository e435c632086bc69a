package bigquery

import (
	"context"
	"errors"
	"fmt"

	bq "cloud.google.com/go/bigquery"

	"github.com/marketplace/settle/io/warehouse"
)

// jsonOf keeps JSON text as a JSON value when it parses exactly and wraps
// it as a JSON string otherwise (text that is not JSON, or numbers too wide
// for PARSE_JSON's exact mode), so the vendor's bytes are never lost.
func jsonOf(col string) string {
	return fmt.Sprintf("COALESCE(SAFE.PARSE_JSON(%[1]s), TO_JSON(%[1]s))", col)
}

// Money is converted with PARSE_NUMERIC, after Stage has checked the text
// has at most 9 fraction digits (so nothing rounds). Not CAST(... AS
// NUMERIC): the emulator translates that to DuckDB's DECIMAL(18,3) and
// rounds to 3 decimals.
//
// mergeSettlementsSQL merges a run's staging table into settlements. Within
// the run the newest updated_at wins, ties broken by raw_ref and then by
// every other column, so the winner never depends on file or row order.
// Across runs a stored row is replaced only by a strictly newer updated_at:
// an older or equal version changes nothing, so merging twice changes
// nothing.
func (w *Warehouse) mergeSettlementsSQL(staging string) string {
	return `MERGE ` + w.table(TableSettlements) + ` AS t
USING (
	SELECT vendor_txn_id, order_id, seller_id, type, status,
		PARSE_NUMERIC(amount) AS amount, PARSE_NUMERIC(fee) AS fee, currency,
		created_at, updated_at, settled_at, ` + jsonOf("metadata") + ` AS metadata,
		IFNULL(run_id, @run_id) AS run_id, raw_ref
	FROM (
		SELECT *, ROW_NUMBER() OVER (
			PARTITION BY vendor_txn_id
			ORDER BY updated_at DESC, raw_ref DESC, status DESC, amount DESC, fee DESC,
				currency DESC, seller_id DESC, type DESC, order_id DESC, created_at DESC,
				settled_at DESC, metadata DESC, run_id DESC
		) AS rn
		FROM ` + w.table(staging) + `
	)
	WHERE rn = 1
) AS s
ON t.vendor_txn_id = s.vendor_txn_id
WHEN MATCHED AND s.updated_at > t.updated_at THEN UPDATE SET
	order_id = s.order_id, seller_id = s.seller_id, type = s.type, status = s.status,
	amount = s.amount, fee = s.fee, currency = s.currency, created_at = s.created_at,
	updated_at = s.updated_at, settled_at = s.settled_at, metadata = s.metadata,
	run_id = s.run_id, raw_ref = s.raw_ref
WHEN NOT MATCHED THEN INSERT (vendor_txn_id, order_id, seller_id, type, status, amount, fee,
		currency, created_at, updated_at, settled_at, metadata, run_id, raw_ref)
	VALUES (s.vendor_txn_id, s.order_id, s.seller_id, s.type, s.status, s.amount, s.fee,
		s.currency, s.created_at, s.updated_at, s.settled_at, s.metadata, s.run_id, s.raw_ref)`
}

// mergeQuarantineSQL adds a run's quarantine rows whose key is not stored
// yet; within the run the earliest quarantined_at of a key is kept.
func (w *Warehouse) mergeQuarantineSQL(staging string) string {
	return `MERGE ` + w.table(TableQuarantine) + ` AS t
USING (
	SELECT quarantine_key, vendor_txn_id, reason, ` + jsonOf("raw") + ` AS raw,
		IFNULL(run_id, @run_id) AS run_id, raw_ref, quarantined_at
	FROM (
		SELECT *, ROW_NUMBER() OVER (
			PARTITION BY quarantine_key
			ORDER BY quarantined_at ASC NULLS LAST, raw_ref ASC NULLS LAST,
				reason ASC NULLS LAST, raw ASC NULLS LAST
		) AS rn
		FROM ` + w.table(staging) + `
	)
	WHERE rn = 1
) AS s
ON t.quarantine_key = s.quarantine_key
WHEN NOT MATCHED THEN INSERT (quarantine_key, vendor_txn_id, reason, raw, run_id, raw_ref, quarantined_at)
	VALUES (s.quarantine_key, s.vendor_txn_id, s.reason, s.raw, s.run_id, s.raw_ref, s.quarantined_at)`
}

// Promote merges the run's staged rows into settlements (one MERGE) and
// settlements_quarantine (another), then drops the run's staging tables.
// It returns how many settlements rows were inserted or updated. Both
// merges are idempotent, so a Promote that failed between them is safely
// run again (its count then excludes rows the first attempt merged).
// Returns warehouse.ErrNotStaged if the run has no staged rows.
func (w *Warehouse) Promote(ctx context.Context, runID string) (int64, error) {
	key := runKey(runID)
	sTable, qTable := stagingPrefixS+key, stagingPrefixQ+key
	ns, _, err := w.stagedRows(ctx, sTable)
	if err != nil {
		return 0, fmt.Errorf("promoting run %s: %w", runID, err)
	}
	nq, _, err := w.stagedRows(ctx, qTable)
	if err != nil {
		return 0, fmt.Errorf("promoting run %s: %w", runID, err)
	}
	if ns == 0 && nq == 0 {
		return 0, fmt.Errorf("promoting run %s: %w", runID, warehouse.ErrNotStaged)
	}
	params := map[string]any{"run_id": runID}
	var changed int64
	if ns > 0 {
		job, err := w.query(ctx, w.mergeSettlementsSQL(sTable), params)
		if err != nil {
			return 0, fmt.Errorf("promoting run %s: merging settlements: %w", runID, err)
		}
		if changed, err = affectedRows(job); err != nil {
			return 0, fmt.Errorf("promoting run %s: merging settlements: %w", runID, err)
		}
	}
	if nq > 0 {
		if _, err := w.query(ctx, w.mergeQuarantineSQL(qTable), params); err != nil {
			return changed, fmt.Errorf("promoting run %s: merging quarantine: %w", runID, err)
		}
	}
	if err := w.dropStaging(ctx, key); err != nil {
		return changed, fmt.Errorf("promoting run %s: clearing staging: %w", runID, err)
	}
	return changed, nil
}

// affectedRows is the number of rows a DML job inserted or updated.
func affectedRows(job *bq.Job) (int64, error) {
	st := job.LastStatus()
	if st == nil || st.Statistics == nil {
		return 0, errors.New("job has no statistics")
	}
	qs, ok := st.Statistics.Details.(*bq.QueryStatistics)
	if !ok {
		return 0, fmt.Errorf("job statistics are %T, want query statistics", st.Statistics.Details)
	}
	if d := qs.DMLStats; d != nil {
		return d.InsertedRowCount + d.UpdatedRowCount, nil
	}
	return qs.NumDMLAffectedRows, nil
}
