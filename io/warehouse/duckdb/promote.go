//go:build cgo

package duckdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/marketplace/settle/io/warehouse"
)

// Promote applies a run's staged versions (see the warehouse package doc
// for the rule) in one transaction, in these steps:
//
//  1. planPromote: one candidate version per vendor_txn_id among the run's
//     staged rows, validated and quarantined alike (the newest by
//     updated_at, then version_digest; of copies of it the smallest
//     raw_ref), compared with what the warehouse holds for the id: its
//     settlements row or its settlements_withheld row. A candidate older
//     than either changes nothing ("stale").
//  2. markCorrections: a valid candidate of the same version as the stored
//     row whose content differs (a replay after a parsing fix).
//  3. the quarantine log, the withdrawals, the settlements merge and the
//     withheld rows, each a statement over the plan.
//
// Staging is cleared last. Everything is one transaction, so a crash
// leaves either the old state with the run still staged or the new one.
func (w *Warehouse) Promote(ctx context.Context, runID string) (st warehouse.PromoteStats, err error) {
	tx, err := w.db.BeginTx(ctx, nil)
	if err != nil {
		return st, fmt.Errorf("promoting run %s: beginning transaction: %w", runID, err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, tx.Rollback())
		}
	}()
	var staged bool
	err = tx.QueryRowContext(ctx, `SELECT
		EXISTS (SELECT 1 FROM staging_settlements WHERE run_id = $1)
		OR EXISTS (SELECT 1 FROM staging_quarantine WHERE run_id = $1)`, runID).Scan(&staged)
	if err != nil {
		return st, fmt.Errorf("promoting run %s: looking for staged rows: %w", runID, err)
	}
	if !staged {
		return st, fmt.Errorf("promoting run %s: %w", runID, warehouse.ErrNotStaged)
	}
	if err := execSteps(ctx, tx, runID, []step{
		{"planning", planPromote},
		{"finding corrections", markCorrections},
	}); err != nil {
		return st, err
	}
	err = tx.QueryRowContext(ctx, countPlan, runID).Scan(&st.Inserted, &st.Updated, &st.Corrected, &st.Withdrawn, &st.Withheld, &st.Stale, &st.Superseded,
		&st.Unchanged, &st.Rejected)
	if err != nil {
		return st, fmt.Errorf("promoting run %s: counting the plan: %w", runID, err)
	}
	if err := execSteps(ctx, tx, runID, []step{
		{"inserting quarantine rows", insertQuarantine},
		{"withdrawing settlements", withdrawSettlements},
		{"merging settlements", mergeSettlements},
		{"releasing withheld settlements", releaseWithheld},
		{"withholding settlements", upsertWithheld},
		{"clearing staging_settlements", `DELETE FROM staging_settlements WHERE run_id = $1`},
		{"clearing staging_quarantine", `DELETE FROM staging_quarantine WHERE run_id = $1`},
		{"dropping the plan", `DROP TABLE promote_plan`},
	}); err != nil {
		return st, err
	}
	if err := tx.Commit(); err != nil {
		return st, fmt.Errorf("promoting run %s: committing: %w", runID, err)
	}
	return st, nil
}

// step is one statement of Promote: what it does, for the error.
type step struct{ what, sql string }

// execSteps runs the steps in order. A statement that reads staging takes
// the run id as $1; the others read only the plan.
func execSteps(ctx context.Context, tx *sql.Tx, runID string, steps []step) error {
	for _, s := range steps {
		var args []any
		if strings.Contains(s.sql, "$1") {
			args = []any{runID}
		}
		if _, err := tx.ExecContext(ctx, s.sql, args...); err != nil {
			return fmt.Errorf("promoting run %s: %s: %w", runID, s.what, err)
		}
	}
	return nil
}

// planPromote builds promote_plan: per vendor_txn_id of the run, the
// candidate version, whether it is valid (st_rowid is then the staged row
// that carries it: identical staged copies are not merged twice), and how
// it compares with the
// stored settlements row (s_*) and settlements_withheld row (w_*). A stored
// row without a version digest (written before digests existed) ranks
// below every digest of its updated_at, so the first promote of the same
// version fills it in.
const planPromote = `
CREATE OR REPLACE TEMP TABLE promote_plan AS
WITH cand AS (
	SELECT * FROM (
		SELECT vendor_txn_id, updated_at, coalesce(version_digest, '') AS version_digest, raw_ref,
			true AS valid, CAST(NULL AS VARCHAR) AS reason, CAST(NULL AS VARCHAR) AS quarantine_key,
			coalesce(row_run_id, run_id) AS row_run_id, rowid AS st_rowid
		FROM staging_settlements WHERE run_id = $1
		UNION ALL
		SELECT vendor_txn_id, updated_at, version_digest, raw_ref, false, reason, quarantine_key,
			coalesce(row_run_id, run_id), CAST(NULL AS BIGINT)
		FROM staging_quarantine
		WHERE run_id = $1 AND vendor_txn_id IS NOT NULL AND updated_at IS NOT NULL AND version_digest IS NOT NULL
	)
	QUALIFY row_number() OVER (
		PARTITION BY vendor_txn_id
		ORDER BY updated_at DESC, version_digest DESC, valid ASC, raw_ref ASC NULLS LAST, quarantine_key ASC NULLS LAST
	) = 1
),
cmp AS (
	SELECT c.*,
		s.vendor_txn_id IS NOT NULL AS has_s,
		s.updated_at AS s_updated_at, s.version_digest AS s_digest, s.raw_ref AS s_raw_ref,
		s.vendor_txn_id IS NOT NULL AND (s.updated_at > c.updated_at
			OR (s.updated_at = c.updated_at AND coalesce(s.version_digest, '') > c.version_digest)) AS s_newer,
		s.vendor_txn_id IS NOT NULL AND s.updated_at = c.updated_at
			AND coalesce(s.version_digest, '') = c.version_digest AS s_same,
		wh.vendor_txn_id IS NOT NULL AS has_w,
		wh.reason AS w_reason, wh.raw_ref AS w_raw_ref,
		wh.vendor_txn_id IS NOT NULL AND (wh.updated_at > c.updated_at
			OR (wh.updated_at = c.updated_at AND wh.version_digest > c.version_digest)) AS w_newer,
		wh.vendor_txn_id IS NOT NULL AND wh.updated_at = c.updated_at
			AND wh.version_digest = c.version_digest AS w_same
	FROM cand c
	LEFT JOIN settlements s ON s.vendor_txn_id = c.vendor_txn_id
	LEFT JOIN settlements_withheld wh ON wh.vendor_txn_id = c.vendor_txn_id
)
SELECT *, NOT s_newer AND NOT w_newer AS applies, false AS differs FROM cmp`

// markCorrections flags the valid candidates of the same version as the
// stored row whose content differs from it. run_id, raw_ref and the digest
// are not content. The staged rows are joined with settlements on the key
// inside the subquery: written as one flat join, DuckDB 1.5 compares every
// staged row with every stored one (a nested loop on the IS DISTINCT
// conditions; 35 s for 20,000 rows).
const markCorrections = `
UPDATE promote_plan AS p SET differs = true
FROM (
	SELECT st.rowid AS rid FROM staging_settlements st
	JOIN settlements s ON s.vendor_txn_id = st.vendor_txn_id
	WHERE st.run_id = $1
		AND (st.order_id IS DISTINCT FROM s.order_id OR st.seller_id IS DISTINCT FROM s.seller_id
		OR st.type IS DISTINCT FROM s.type OR st.status IS DISTINCT FROM s.status
		OR st.amount IS DISTINCT FROM s.amount OR st.fee IS DISTINCT FROM s.fee
		OR st.currency IS DISTINCT FROM s.currency OR st.created_at IS DISTINCT FROM s.created_at
		OR st.settled_at IS DISTINCT FROM s.settled_at
		OR CAST(st.metadata AS VARCHAR) IS DISTINCT FROM CAST(s.metadata AS VARCHAR))
) AS d
WHERE p.st_rowid = d.rid AND p.applies AND p.valid AND p.s_same`

// countPlan counts what the plan will change.
const countPlan = `
SELECT
	count(*) FILTER (WHERE applies AND valid AND NOT has_s),
	count(*) FILTER (WHERE applies AND valid AND has_s AND NOT s_same),
	count(*) FILTER (WHERE applies AND valid AND s_same AND differs),
	count(*) FILTER (WHERE applies AND NOT valid AND has_s),
	count(*) FILTER (WHERE applies AND NOT valid AND NOT w_same),
	count(*) FILTER (WHERE NOT applies),
	(SELECT count(*) FROM staging_settlements WHERE run_id = $1)
		+ (SELECT count(*) FROM staging_quarantine WHERE run_id = $1
			AND vendor_txn_id IS NOT NULL AND updated_at IS NOT NULL AND version_digest IS NOT NULL)
		- count(*),
	count(*) FILTER (WHERE applies AND valid AND s_same AND NOT differs),
	count(*) FILTER (WHERE applies AND NOT valid)
FROM promote_plan`

// insertQuarantine logs the run's quarantine rows whose key is not stored
// yet: every row that is not a version (a page or record without a usable
// key), and every failed version that is its settlement's newest, with the
// settlements row it withdraws. A failed version older than what the
// warehouse holds is stale and not logged. Within the run the earliest
// quarantined_at of a key is kept.
const insertQuarantine = `
INSERT INTO settlements_quarantine (quarantine_key, vendor_txn_id, reason, raw, run_id, raw_ref,
	quarantined_at, updated_at, version_digest, displaced_updated_at, displaced_version_digest)
SELECT q.quarantine_key, q.vendor_txn_id, q.reason, q.raw, coalesce(q.row_run_id, q.run_id), q.raw_ref,
	q.quarantined_at, q.updated_at, q.version_digest,
	CASE WHEN p.has_s THEN p.s_updated_at END, CASE WHEN p.has_s THEN p.s_digest END
FROM staging_quarantine q
LEFT JOIN promote_plan p ON p.quarantine_key = q.quarantine_key AND p.applies AND NOT p.valid
WHERE q.run_id = $1 AND (q.version_digest IS NULL OR q.vendor_txn_id IS NULL OR q.updated_at IS NULL OR p.vendor_txn_id IS NOT NULL)
QUALIFY row_number() OVER (
	PARTITION BY q.quarantine_key
	ORDER BY q.quarantined_at ASC NULLS LAST, q.raw_ref ASC NULLS LAST, q.reason ASC NULLS LAST, CAST(q.raw AS VARCHAR) ASC NULLS LAST
) = 1
ON CONFLICT (quarantine_key) DO NOTHING`

// withdrawSettlements removes the rows whose newest version failed.
const withdrawSettlements = `
DELETE FROM settlements WHERE vendor_txn_id IN (
	SELECT vendor_txn_id FROM promote_plan WHERE applies AND NOT valid AND has_s)`

// mergeSettlements writes the valid candidates that are new, newer, or the
// same version with other content or a smaller raw_ref.
const mergeSettlements = `
MERGE INTO settlements AS t
USING (
	SELECT st.* FROM staging_settlements st
	JOIN promote_plan p ON st.rowid = p.st_rowid
	WHERE p.applies AND p.valid
		AND (NOT p.has_s OR NOT p.s_same OR p.differs OR st.raw_ref < p.s_raw_ref OR p.s_raw_ref IS NULL)
) AS s
ON t.vendor_txn_id = s.vendor_txn_id
WHEN MATCHED THEN UPDATE SET
	order_id = s.order_id, seller_id = s.seller_id, type = s.type, status = s.status,
	amount = s.amount, fee = s.fee, currency = s.currency, created_at = s.created_at,
	updated_at = s.updated_at, settled_at = s.settled_at, metadata = s.metadata,
	run_id = coalesce(s.row_run_id, s.run_id), raw_ref = s.raw_ref, version_digest = s.version_digest
WHEN NOT MATCHED THEN INSERT (vendor_txn_id, order_id, seller_id, type, status, amount, fee,
		currency, created_at, updated_at, settled_at, metadata, run_id, raw_ref, version_digest)
	VALUES (s.vendor_txn_id, s.order_id, s.seller_id, s.type, s.status, s.amount, s.fee,
		s.currency, s.created_at, s.updated_at, s.settled_at, s.metadata,
		coalesce(s.row_run_id, s.run_id), s.raw_ref, s.version_digest)`

// releaseWithheld drops the withheld rows of ids whose newest version is
// now valid.
const releaseWithheld = `
DELETE FROM settlements_withheld WHERE vendor_txn_id IN (
	SELECT vendor_txn_id FROM promote_plan WHERE applies AND valid AND has_w)`

// upsertWithheld withholds the ids whose newest version failed.
const upsertWithheld = `
INSERT INTO settlements_withheld (vendor_txn_id, updated_at, version_digest, reason, quarantine_key, run_id, raw_ref)
SELECT p.vendor_txn_id, p.updated_at, p.version_digest, p.reason, p.quarantine_key, p.row_run_id, p.raw_ref
FROM promote_plan p
WHERE p.applies AND NOT p.valid
	AND (NOT p.w_same OR p.reason IS DISTINCT FROM p.w_reason OR p.raw_ref < p.w_raw_ref)
ON CONFLICT (vendor_txn_id) DO UPDATE SET
	updated_at = excluded.updated_at, version_digest = excluded.version_digest, reason = excluded.reason,
	quarantine_key = excluded.quarantine_key, run_id = excluded.run_id, raw_ref = excluded.raw_ref`
