//go:build cgo

package duckdb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/marketplace/settle/io/warehouse"
)

var (
	_ warehouse.Accounts    = (*Warehouse)(nil)
	_ warehouse.RangeReader = (*Warehouse)(nil)
)

// accountSchema holds the tables of warehouse.Accounts: one row per run,
// and one per run and currency with the exact total of its amounts.
var accountSchema = []string{
	`CREATE TABLE IF NOT EXISTS run_accounts (
		run_id             VARCHAR PRIMARY KEY,
		kind               VARCHAR,
		pages_listed       BIGINT,
		pages_read         BIGINT,
		pages_quarantined  BIGINT,
		pages_landed       BIGINT,
		records_read       BIGINT,
		unkeyed            BIGINT,
		duplicates         BIGINT,
		superseded         BIGINT,
		stale              BIGINT,
		promoted           BIGINT,
		unchanged          BIGINT,
		rejected           BIGINT,
		held               BIGINT,
		winners            BIGINT,
		valid              BIGINT,
		failed             BIGINT,
		staged_valid       BIGINT,
		staged_quarantined BIGINT,
		quarantined_by_reason VARCHAR,
		balanced           BOOLEAN,
		detail             VARCHAR,
		recorded_at        TIMESTAMPTZ
	)`,
	`CREATE TABLE IF NOT EXISTS run_currency_totals (
		run_id   VARCHAR NOT NULL,
		currency VARCHAR NOT NULL,
		count    BIGINT NOT NULL,
		total    DECIMAL(38,9) NOT NULL,
		PRIMARY KEY (run_id, currency)
	)`,
}

func init() { schema = append(schema, accountSchema...) }

var totalPattern = regexp.MustCompile(`^` + decimalPattern + `$`)

const accountColumns = `run_id, kind, pages_listed, pages_read, pages_quarantined, pages_landed,
	records_read, unkeyed, duplicates, superseded, stale, promoted, unchanged, rejected, held,
	winners, valid, failed, staged_valid, staged_quarantined, quarantined_by_reason, balanced, detail, recorded_at`

// RecordAccount upserts the run's account and replaces its currency
// totals, in one transaction. Totals are cast from their decimal text to
// DECIMAL(38,9) exactly (a value with more than 9 fraction digits fails).
func (w *Warehouse) RecordAccount(ctx context.Context, a warehouse.RunAccount, totals []warehouse.CurrencyTotal) (err error) {
	reasons, err := json.Marshal(a.QuarantinedByReason)
	if err != nil {
		return fmt.Errorf("recording account of run %s: %w", a.RunID, err)
	}
	tx, err := w.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("recording account of run %s: beginning transaction: %w", a.RunID, err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, tx.Rollback())
		}
	}()
	for _, q := range []string{`DELETE FROM run_accounts WHERE run_id = $1`, `DELETE FROM run_currency_totals WHERE run_id = $1`} {
		if _, err := tx.ExecContext(ctx, q, a.RunID); err != nil {
			return fmt.Errorf("recording account of run %s: %w", a.RunID, err)
		}
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO run_accounts (`+accountColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24)`,
		a.RunID, a.Kind, a.PagesListed, a.PagesRead, a.PagesQuarantined, a.PagesLanded,
		a.RecordsRead, a.Unkeyed, a.Duplicates, a.Superseded, a.Stale, a.Promoted, a.Unchanged, a.Rejected, a.Held,
		a.Winners, a.Valid, a.Failed, a.StagedValid, a.StagedQuar, string(reasons), a.Balanced, a.Detail, nullTime(a.RecordedAt))
	if err != nil {
		return fmt.Errorf("recording account of run %s: %w", a.RunID, err)
	}
	for _, t := range totals {
		if !totalPattern.MatchString(t.Total) {
			return fmt.Errorf("recording %s total of run %s: %q is not a decimal with at most 9 fraction digits", t.Currency, a.RunID, t.Total)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO run_currency_totals (run_id, currency, count, total)
			VALUES ($1, $2, $3, CAST($4 AS DECIMAL(38,9)))`, a.RunID, t.Currency, t.Count, t.Total)
		if err != nil {
			return fmt.Errorf("recording %s total of run %s: %w", t.Currency, a.RunID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("recording account of run %s: committing: %w", a.RunID, err)
	}
	return nil
}

// Account returns the stored account of runID and its currency totals.
// Returns warehouse.ErrNoAccount if none is stored.
func (w *Warehouse) Account(ctx context.Context, runID string) (warehouse.RunAccount, []warehouse.CurrencyTotal, error) {
	var a warehouse.RunAccount
	var kind, detail, reasons sql.NullString
	var recorded sql.NullTime
	err := w.db.QueryRowContext(ctx, `SELECT `+accountColumns+` FROM run_accounts WHERE run_id = $1`, runID).Scan(
		&a.RunID, &kind, &a.PagesListed, &a.PagesRead, &a.PagesQuarantined, &a.PagesLanded,
		&a.RecordsRead, &a.Unkeyed, &a.Duplicates, &a.Superseded, &a.Stale, &a.Promoted, &a.Unchanged, &a.Rejected, &a.Held,
		&a.Winners, &a.Valid, &a.Failed, &a.StagedValid, &a.StagedQuar, &reasons, &a.Balanced, &detail, &recorded)
	if errors.Is(err, sql.ErrNoRows) {
		return a, nil, fmt.Errorf("reading account of run %s: %w", runID, warehouse.ErrNoAccount)
	}
	if err != nil {
		return a, nil, fmt.Errorf("reading account of run %s: %w", runID, err)
	}
	a.Kind, a.Detail, a.RecordedAt = kind.String, detail.String, utc(recorded)
	if reasons.Valid && reasons.String != "null" {
		if err := json.Unmarshal([]byte(reasons.String), &a.QuarantinedByReason); err != nil {
			return a, nil, fmt.Errorf("reading account of run %s: quarantined_by_reason: %w", runID, err)
		}
	}
	totals, err := w.currencyTotals(ctx, `SELECT currency, count, CAST(total AS VARCHAR) FROM run_currency_totals
		WHERE run_id = $1 ORDER BY currency`, runID)
	if err != nil {
		return a, nil, fmt.Errorf("reading currency totals of run %s: %w", runID, err)
	}
	return a, totals, nil
}

// RunTotals sums, per currency, the settlements rows whose run_id is runID.
func (w *Warehouse) RunTotals(ctx context.Context, runID string) ([]warehouse.CurrencyTotal, error) {
	totals, err := w.currencyTotals(ctx, `SELECT coalesce(currency, ''), count(*), CAST(coalesce(sum(amount), 0) AS VARCHAR)
		FROM settlements WHERE run_id = $1 GROUP BY 1 ORDER BY 1`, runID)
	if err != nil {
		return nil, fmt.Errorf("summing settlements of run %s: %w", runID, err)
	}
	return totals, nil
}

func (w *Warehouse) currencyTotals(ctx context.Context, q string, args ...any) ([]warehouse.CurrencyTotal, error) {
	rows, err := w.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []warehouse.CurrencyTotal
	for rows.Next() {
		var t warehouse.CurrencyTotal
		if err := rows.Scan(&t.Currency, &t.Count, &t.Total); err != nil {
			return nil, err
		}
		t.Total = canonicalDecimal(t.Total)
		out = append(out, t)
	}
	return out, rows.Err()
}

// SettlementsUpdated returns the settlements rows whose updated_at is in
// [from, to), ordered by vendor_txn_id, in the forms of Settlements.
func (w *Warehouse) SettlementsUpdated(ctx context.Context, from, to time.Time) ([]warehouse.Settlement, error) {
	return w.settlements(ctx, `WHERE updated_at >= $1 AND updated_at < $2`, from.UTC(), to.UTC())
}
