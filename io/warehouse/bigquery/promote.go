package bigquery

import (
	"context"
	"errors"
	"fmt"
	"strings"

	bq "cloud.google.com/go/bigquery"
	"google.golang.org/api/iterator"

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

// promoteSQL holds the statements of one Promote, over the run's staging
// tables (either may be absent) and its plan table.
type promoteSQL struct {
	w              *Warehouse
	sTable, qTable string // "" when absent
	plan           string
}

// staged is the run's validated rows, one per (id, version, raw_ref), money
// and JSON converted; absent staging gives an empty set of the same shape.
func (p promoteSQL) staged() string {
	if p.sTable == "" {
		return `SELECT CAST(NULL AS STRING) AS vendor_txn_id, CAST(NULL AS STRING) AS order_id,
			CAST(NULL AS STRING) AS seller_id, CAST(NULL AS STRING) AS type, CAST(NULL AS STRING) AS status,
			CAST(NULL AS NUMERIC) AS amount, CAST(NULL AS NUMERIC) AS fee, CAST(NULL AS STRING) AS currency,
			CAST(NULL AS TIMESTAMP) AS created_at, CAST(NULL AS TIMESTAMP) AS updated_at,
			CAST(NULL AS TIMESTAMP) AS settled_at, CAST(NULL AS JSON) AS metadata, CAST(NULL AS STRING) AS run_id,
			CAST(NULL AS STRING) AS raw_ref, CAST(NULL AS STRING) AS version_digest
			FROM UNNEST([1]) WHERE FALSE`
	}
	return `SELECT vendor_txn_id, order_id, seller_id, type, status,
		PARSE_NUMERIC(amount) AS amount, PARSE_NUMERIC(fee) AS fee, currency,
		created_at, updated_at, settled_at, ` + jsonOf("metadata") + ` AS metadata,
		IFNULL(run_id, @run_id) AS run_id, raw_ref, IFNULL(version_digest, '') AS version_digest
	FROM (
		SELECT *, ROW_NUMBER() OVER (
			PARTITION BY vendor_txn_id, updated_at, version_digest, raw_ref ORDER BY run_id
		) AS rn
		FROM ` + p.w.table(p.sTable) + `
	)
	WHERE rn = 1`
}

// planSQL builds the plan table: per vendor_txn_id the candidate version
// (newest by updated_at, then version_digest; of copies the smallest
// raw_ref), whether it is valid, and how it compares with the stored
// settlements row (s_*) and settlements_withheld row (w_*), with differs
// set when a valid candidate of the stored version has other content. A
// stored row without a digest ranks below every digest of its updated_at.
func (p promoteSQL) planSQL() string {
	var parts []string
	if p.sTable != "" {
		parts = append(parts, `SELECT vendor_txn_id, updated_at, IFNULL(version_digest, '') AS version_digest, raw_ref,
			TRUE AS valid, CAST(NULL AS STRING) AS reason, CAST(NULL AS STRING) AS quarantine_key,
			IFNULL(run_id, @run_id) AS row_run_id
			FROM `+p.w.table(p.sTable))
	}
	if p.qTable != "" {
		parts = append(parts, `SELECT vendor_txn_id, updated_at, version_digest, raw_ref,
			FALSE AS valid, reason, quarantine_key, IFNULL(run_id, @run_id) AS row_run_id
			FROM `+p.w.table(p.qTable)+`
			WHERE vendor_txn_id IS NOT NULL AND updated_at IS NOT NULL AND version_digest IS NOT NULL`)
	}
	return `CREATE OR REPLACE TABLE ` + p.w.table(p.plan) + ` AS
WITH cand AS (
	SELECT vendor_txn_id, updated_at, version_digest, raw_ref, valid, reason, quarantine_key, row_run_id
	FROM (
		SELECT *, ROW_NUMBER() OVER (
			PARTITION BY vendor_txn_id
			ORDER BY updated_at DESC, version_digest DESC, valid ASC, raw_ref ASC, quarantine_key ASC
		) AS rn
		FROM (` + strings.Join(parts, "\n\t\tUNION ALL\n\t\t") + `)
	)
	WHERE rn = 1
),
cmp AS (
	SELECT c.vendor_txn_id, c.updated_at, c.version_digest, c.raw_ref, c.valid, c.reason,
		c.quarantine_key, c.row_run_id,
		s.vendor_txn_id IS NOT NULL AS has_s,
		s.updated_at AS s_updated_at, s.version_digest AS s_digest, s.raw_ref AS s_raw_ref,
		s.vendor_txn_id IS NOT NULL AND (s.updated_at > c.updated_at
			OR (s.updated_at = c.updated_at AND IFNULL(s.version_digest, '') > c.version_digest)) AS s_newer,
		s.vendor_txn_id IS NOT NULL AND s.updated_at = c.updated_at
			AND IFNULL(s.version_digest, '') = c.version_digest AS s_same,
		h.vendor_txn_id IS NOT NULL AS has_w, h.reason AS w_reason, h.raw_ref AS w_raw_ref,
		h.vendor_txn_id IS NOT NULL AND (h.updated_at > c.updated_at
			OR (h.updated_at = c.updated_at AND h.version_digest > c.version_digest)) AS w_newer,
		h.vendor_txn_id IS NOT NULL AND h.updated_at = c.updated_at
			AND h.version_digest = c.version_digest AS w_same,
		c.valid AND st.vendor_txn_id IS NOT NULL AND s.vendor_txn_id IS NOT NULL AND (
			st.order_id IS DISTINCT FROM s.order_id OR st.seller_id IS DISTINCT FROM s.seller_id
			OR st.type IS DISTINCT FROM s.type OR st.status IS DISTINCT FROM s.status
			OR st.amount IS DISTINCT FROM s.amount OR st.fee IS DISTINCT FROM s.fee
			OR st.currency IS DISTINCT FROM s.currency OR st.created_at IS DISTINCT FROM s.created_at
			OR st.settled_at IS DISTINCT FROM s.settled_at
			OR TO_JSON_STRING(st.metadata) IS DISTINCT FROM TO_JSON_STRING(s.metadata)) AS differs
	FROM cand c
	LEFT JOIN ` + p.w.table(TableSettlements) + ` s ON s.vendor_txn_id = c.vendor_txn_id
	LEFT JOIN ` + p.w.table(TableWithheld) + ` h ON h.vendor_txn_id = c.vendor_txn_id
	LEFT JOIN (` + p.staged() + `) st ON c.valid AND st.vendor_txn_id = c.vendor_txn_id
		AND st.updated_at = c.updated_at AND st.version_digest = c.version_digest AND st.raw_ref = c.raw_ref
)
SELECT *, NOT s_newer AND NOT w_newer AS applies FROM cmp`
}

// countSQL counts what the plan will change, in the order of
// warehouse.PromoteStats.
func (p promoteSQL) countSQL() string {
	return `SELECT
	COUNTIF(applies AND valid AND NOT has_s) AS inserted,
	COUNTIF(applies AND valid AND has_s AND NOT s_same) AS updated,
	COUNTIF(applies AND valid AND s_same AND differs) AS corrected,
	COUNTIF(applies AND NOT valid AND has_s) AS withdrawn,
	COUNTIF(applies AND NOT valid AND NOT w_same) AS withheld,
	COUNTIF(NOT applies) AS stale,
	` + p.stagedVersions() + ` - COUNT(*) AS superseded,
	COUNTIF(applies AND valid AND s_same AND NOT differs) AS unchanged,
	COUNTIF(applies AND NOT valid) AS rejected
FROM ` + p.w.table(p.plan)
}

// stagedVersions counts the run's staged versions, valid and failed.
func (p promoteSQL) stagedVersions() string {
	n := []string{"0"}
	if p.sTable != "" {
		n = append(n, "(SELECT COUNT(*) FROM "+p.w.table(p.sTable)+")")
	}
	if p.qTable != "" {
		n = append(n, "(SELECT COUNT(*) FROM "+p.w.table(p.qTable)+
			" WHERE vendor_txn_id IS NOT NULL AND updated_at IS NOT NULL AND version_digest IS NOT NULL)")
	}
	return strings.Join(n, " + ")
}

// quarantineSQL logs the run's quarantine rows whose key is not stored:
// rows that are not versions, and failed versions that are their
// settlement's newest (with the row they withdraw). Within the run the
// earliest quarantined_at of a key is kept.
func (p promoteSQL) quarantineSQL() string {
	return `MERGE ` + p.w.table(TableQuarantine) + ` AS t
USING (
	SELECT quarantine_key, vendor_txn_id, reason, ` + jsonOf("raw") + ` AS raw,
		IFNULL(run_id, @run_id) AS run_id, raw_ref, quarantined_at, updated_at, version_digest,
		displaced_updated_at, displaced_version_digest
	FROM (
		SELECT q.*,
			IF(pl.has_s, pl.s_updated_at, NULL) AS displaced_updated_at,
			IF(pl.has_s, pl.s_digest, NULL) AS displaced_version_digest,
			ROW_NUMBER() OVER (
				PARTITION BY q.quarantine_key
				ORDER BY q.quarantined_at ASC NULLS LAST, q.raw_ref ASC NULLS LAST,
					q.reason ASC NULLS LAST, q.raw ASC NULLS LAST
			) AS rn
		FROM ` + p.w.table(p.qTable) + ` q
		LEFT JOIN ` + p.w.table(p.plan) + ` pl
			ON pl.quarantine_key = q.quarantine_key AND pl.applies AND NOT pl.valid
		WHERE q.version_digest IS NULL OR q.vendor_txn_id IS NULL OR q.updated_at IS NULL
			OR pl.vendor_txn_id IS NOT NULL
	)
	WHERE rn = 1
) AS s
ON t.quarantine_key = s.quarantine_key
WHEN NOT MATCHED THEN INSERT (quarantine_key, vendor_txn_id, reason, raw, run_id, raw_ref, quarantined_at,
		updated_at, version_digest, displaced_updated_at, displaced_version_digest)
	VALUES (s.quarantine_key, s.vendor_txn_id, s.reason, s.raw, s.run_id, s.raw_ref, s.quarantined_at,
		s.updated_at, s.version_digest, s.displaced_updated_at, s.displaced_version_digest)`
}

func (p promoteSQL) withdrawSQL() string {
	return `DELETE FROM ` + p.w.table(TableSettlements) + ` WHERE vendor_txn_id IN (
	SELECT vendor_txn_id FROM ` + p.w.table(p.plan) + ` WHERE applies AND NOT valid AND has_s)`
}

// mergeSQL writes the valid candidates that are new, newer, or the same
// version with other content or a smaller raw_ref.
func (p promoteSQL) mergeSQL() string {
	return `MERGE ` + p.w.table(TableSettlements) + ` AS t
USING (
	SELECT st.* FROM (` + p.staged() + `) st
	JOIN ` + p.w.table(p.plan) + ` pl ON pl.vendor_txn_id = st.vendor_txn_id AND pl.updated_at = st.updated_at
		AND pl.version_digest = st.version_digest AND pl.raw_ref = st.raw_ref
	WHERE pl.applies AND pl.valid
		AND (NOT pl.has_s OR NOT pl.s_same OR pl.differs OR pl.s_raw_ref IS NULL OR st.raw_ref < pl.s_raw_ref)
) AS s
ON t.vendor_txn_id = s.vendor_txn_id
WHEN MATCHED THEN UPDATE SET
	order_id = s.order_id, seller_id = s.seller_id, type = s.type, status = s.status,
	amount = s.amount, fee = s.fee, currency = s.currency, created_at = s.created_at,
	updated_at = s.updated_at, settled_at = s.settled_at, metadata = s.metadata,
	run_id = s.run_id, raw_ref = s.raw_ref, version_digest = s.version_digest
WHEN NOT MATCHED THEN INSERT (vendor_txn_id, order_id, seller_id, type, status, amount, fee,
		currency, created_at, updated_at, settled_at, metadata, run_id, raw_ref, version_digest)
	VALUES (s.vendor_txn_id, s.order_id, s.seller_id, s.type, s.status, s.amount, s.fee,
		s.currency, s.created_at, s.updated_at, s.settled_at, s.metadata, s.run_id, s.raw_ref, s.version_digest)`
}

func (p promoteSQL) releaseSQL() string {
	return `DELETE FROM ` + p.w.table(TableWithheld) + ` WHERE vendor_txn_id IN (
	SELECT vendor_txn_id FROM ` + p.w.table(p.plan) + ` WHERE applies AND valid AND has_w)`
}

func (p promoteSQL) withholdSQL() string {
	return `MERGE ` + p.w.table(TableWithheld) + ` AS t
USING (
	SELECT vendor_txn_id, updated_at, version_digest, reason, quarantine_key, row_run_id, raw_ref
	FROM ` + p.w.table(p.plan) + `
	WHERE applies AND NOT valid
		AND (NOT w_same OR reason IS DISTINCT FROM w_reason OR raw_ref < w_raw_ref)
) AS s
ON t.vendor_txn_id = s.vendor_txn_id
WHEN MATCHED THEN UPDATE SET updated_at = s.updated_at, version_digest = s.version_digest,
	reason = s.reason, quarantine_key = s.quarantine_key, run_id = s.row_run_id, raw_ref = s.raw_ref
WHEN NOT MATCHED THEN INSERT (vendor_txn_id, updated_at, version_digest, reason, quarantine_key, run_id, raw_ref)
	VALUES (s.vendor_txn_id, s.updated_at, s.version_digest, s.reason, s.quarantine_key, s.row_run_id, s.raw_ref)`
}

// Promote applies the run's staged versions as the warehouse package doc
// says, with one statement a step: plan, count, log the quarantine rows,
// withdraw, merge settlements, release and withhold. BigQuery runs them
// as separate jobs, so a Promote can stop between two; every step is
// idempotent and the plan compares each candidate with both the
// settlements row and the withheld row, so running Promote again (the run
// stays staged until the last step) completes it. The counts of such a
// second Promote leave out what the first one did. Returns
// warehouse.ErrNotStaged if the run has no staged rows.
func (w *Warehouse) Promote(ctx context.Context, runID string) (warehouse.PromoteStats, error) {
	var st warehouse.PromoteStats
	key := runKey(runID)
	p := promoteSQL{w: w, plan: "staging_plan_" + key}
	ns, _, err := w.stagedRows(ctx, stagingPrefixS+key)
	if err != nil {
		return st, fmt.Errorf("promoting run %s: %w", runID, err)
	}
	nq, _, err := w.stagedRows(ctx, stagingPrefixQ+key)
	if err != nil {
		return st, fmt.Errorf("promoting run %s: %w", runID, err)
	}
	if ns == 0 && nq == 0 {
		return st, fmt.Errorf("promoting run %s: %w", runID, warehouse.ErrNotStaged)
	}
	if ns > 0 {
		p.sTable = stagingPrefixS + key
	}
	if nq > 0 {
		p.qTable = stagingPrefixQ + key
	}
	params := map[string]any{"run_id": runID}
	if _, err := w.query(ctx, p.planSQL(), params); err != nil {
		return st, fmt.Errorf("promoting run %s: planning: %w", runID, err)
	}
	if st, err = w.countPlan(ctx, p.countSQL()); err != nil {
		return st, fmt.Errorf("promoting run %s: counting the plan: %w", runID, err)
	}
	steps := []struct {
		what string
		sql  string
		skip bool
	}{
		{"logging quarantine rows", p.quarantineSQL(), p.qTable == ""},
		{"withdrawing settlements", p.withdrawSQL(), false},
		{"merging settlements", p.mergeSQL(), p.sTable == ""},
		{"releasing withheld settlements", p.releaseSQL(), false},
		{"withholding settlements", p.withholdSQL(), false},
	}
	for _, s := range steps {
		if s.skip {
			continue
		}
		if _, err := w.query(ctx, s.sql, params); err != nil {
			return st, fmt.Errorf("promoting run %s: %s: %w", runID, s.what, err)
		}
	}
	if err := errors.Join(w.dropStaging(ctx, key), w.dropTable(ctx, p.plan)); err != nil {
		return st, fmt.Errorf("promoting run %s: clearing staging: %w", runID, err)
	}
	return st, nil
}

// countPlan reads the one row of countSQL.
func (w *Warehouse) countPlan(ctx context.Context, q string) (warehouse.PromoteStats, error) {
	it, err := w.client.Query(q).Read(ctx)
	if err != nil {
		return warehouse.PromoteStats{}, err
	}
	var row []bq.Value
	if err := it.Next(&row); err != nil {
		if errors.Is(err, iterator.Done) {
			return warehouse.PromoteStats{}, errors.New("no count row")
		}
		return warehouse.PromoteStats{}, err
	}
	var n [9]int64
	for i := range n {
		v, ok := row[i].(int64)
		if !ok && row[i] != nil {
			return warehouse.PromoteStats{}, fmt.Errorf("count %d is %T, want int64", i, row[i])
		}
		n[i] = v
	}
	return warehouse.PromoteStats{Inserted: n[0], Updated: n[1], Corrected: n[2], Withdrawn: n[3], Withheld: n[4],
		Stale: n[5], Superseded: n[6], Unchanged: n[7], Rejected: n[8]}, nil
}
