//go:build cgo

package duckdb

import (
	"context"
	"errors"
	"fmt"

	"github.com/marketplace/settle/io/warehouse"
)

// mergeSettlements merges one run's staged rows into settlements. Within the
// run the newest updated_at wins, ties broken by raw_ref and then by every
// other column, so the winner never depends on file or row order. Across
// runs a stored row is replaced only by a strictly newer updated_at: an older
// or equal version changes nothing, so merging twice changes nothing.
//
// Only ids staged more than once go through the window: the pipeline has
// deduplicated already, and ranking every full row (with its ~1.5 KB of
// metadata) costs four times the CPU of the merge itself.
const mergeSettlements = `
MERGE INTO settlements AS t
USING (
	SELECT * FROM staging_settlements
	WHERE run_id = $1 AND vendor_txn_id NOT IN (` + stagedTwice + `)
	UNION ALL
	SELECT * FROM staging_settlements
	WHERE run_id = $1 AND vendor_txn_id IN (` + stagedTwice + `)
	QUALIFY row_number() OVER (
		PARTITION BY vendor_txn_id
		ORDER BY updated_at DESC, raw_ref DESC, status DESC, amount DESC, fee DESC,
			currency DESC, seller_id DESC, type DESC, order_id DESC, created_at DESC,
			settled_at DESC, CAST(metadata AS VARCHAR) DESC, row_run_id DESC
	) = 1
) AS s
ON t.vendor_txn_id = s.vendor_txn_id
WHEN MATCHED AND s.updated_at > t.updated_at THEN UPDATE SET
	order_id = s.order_id, seller_id = s.seller_id, type = s.type, status = s.status,
	amount = s.amount, fee = s.fee, currency = s.currency, created_at = s.created_at,
	updated_at = s.updated_at, settled_at = s.settled_at, metadata = s.metadata,
	run_id = coalesce(s.row_run_id, s.run_id), raw_ref = s.raw_ref
WHEN NOT MATCHED THEN INSERT (vendor_txn_id, order_id, seller_id, type, status, amount, fee,
		currency, created_at, updated_at, settled_at, metadata, run_id, raw_ref)
	VALUES (s.vendor_txn_id, s.order_id, s.seller_id, s.type, s.status, s.amount, s.fee,
		s.currency, s.created_at, s.updated_at, s.settled_at, s.metadata,
		coalesce(s.row_run_id, s.run_id), s.raw_ref)`

const stagedTwice = `SELECT vendor_txn_id FROM staging_settlements
	WHERE run_id = $1 GROUP BY vendor_txn_id HAVING count(*) > 1`

// insertQuarantine adds the run's quarantine rows whose key is not stored
// yet; within the run the earliest quarantined_at of a key is kept.
const insertQuarantine = `
INSERT INTO settlements_quarantine
SELECT quarantine_key, vendor_txn_id, reason, raw, coalesce(row_run_id, run_id), raw_ref, quarantined_at
FROM staging_quarantine
WHERE run_id = $1
QUALIFY row_number() OVER (
	PARTITION BY quarantine_key
	ORDER BY quarantined_at ASC NULLS LAST, raw_ref ASC NULLS LAST, reason ASC NULLS LAST, CAST(raw AS VARCHAR) ASC NULLS LAST
) = 1
ON CONFLICT (quarantine_key) DO NOTHING`

// Promote merges the run's staged rows into settlements and
// settlements_quarantine and clears the run's staging, in one transaction.
// It returns how many settlements rows were inserted or updated. Returns
// warehouse.ErrNotStaged if the run has nothing staged (for example because
// it was promoted already).
func (w *Warehouse) Promote(ctx context.Context, runID string) (changed int64, err error) {
	tx, err := w.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("promoting run %s: beginning transaction: %w", runID, err)
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
		return 0, fmt.Errorf("promoting run %s: looking for staged rows: %w", runID, err)
	}
	if !staged {
		return 0, fmt.Errorf("promoting run %s: %w", runID, warehouse.ErrNotStaged)
	}
	if changed, err = execCount(ctx, tx, mergeSettlements, runID); err != nil {
		return 0, fmt.Errorf("promoting run %s: merging settlements: %w", runID, err)
	}
	if _, err := tx.ExecContext(ctx, insertQuarantine, runID); err != nil {
		return 0, fmt.Errorf("promoting run %s: inserting quarantine rows: %w", runID, err)
	}
	for _, table := range []string{"staging_settlements", "staging_quarantine"} {
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE run_id = $1`, runID); err != nil {
			return 0, fmt.Errorf("promoting run %s: clearing %s: %w", runID, table, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("promoting run %s: committing: %w", runID, err)
	}
	return changed, nil
}
