package bigquery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"strings"
	"time"

	bq "cloud.google.com/go/bigquery"
	"google.golang.org/api/iterator"

	"github.com/marketplace/settle/io/warehouse"
)

var (
	_ warehouse.Accounts    = (*Warehouse)(nil)
	_ warehouse.RangeReader = (*Warehouse)(nil)
)

// Tables of warehouse.Accounts.
const (
	TableAccounts       = "run_accounts"
	TableCurrencyTotals = "run_currency_totals"
)

var accountsSchema = bq.Schema{
	{Name: "run_id", Type: bq.StringFieldType, Required: true},
	{Name: "kind", Type: bq.StringFieldType},
	{Name: "pages_listed", Type: bq.IntegerFieldType},
	{Name: "pages_read", Type: bq.IntegerFieldType},
	{Name: "pages_quarantined", Type: bq.IntegerFieldType},
	{Name: "pages_landed", Type: bq.IntegerFieldType},
	{Name: "records_read", Type: bq.IntegerFieldType},
	{Name: "unkeyed", Type: bq.IntegerFieldType},
	{Name: "duplicates", Type: bq.IntegerFieldType},
	{Name: "superseded", Type: bq.IntegerFieldType},
	{Name: "stale", Type: bq.IntegerFieldType},
	{Name: "promoted", Type: bq.IntegerFieldType},
	{Name: "unchanged", Type: bq.IntegerFieldType},
	{Name: "rejected", Type: bq.IntegerFieldType},
	{Name: "held", Type: bq.IntegerFieldType},
	{Name: "winners", Type: bq.IntegerFieldType},
	{Name: "valid", Type: bq.IntegerFieldType},
	{Name: "failed", Type: bq.IntegerFieldType},
	{Name: "staged_valid", Type: bq.IntegerFieldType},
	{Name: "staged_quarantined", Type: bq.IntegerFieldType},
	// JSON text of {reason: count}: a STRING, so it reads back exactly.
	{Name: "quarantined_by_reason", Type: bq.StringFieldType},
	{Name: "balanced", Type: bq.BooleanFieldType},
	{Name: "detail", Type: bq.StringFieldType},
	{Name: "recorded_at", Type: bq.TimestampFieldType},
}

var currencyTotalsSchema = bq.Schema{
	{Name: "run_id", Type: bq.StringFieldType, Required: true},
	{Name: "currency", Type: bq.StringFieldType, Required: true},
	{Name: "count", Type: bq.IntegerFieldType, Required: true},
	{Name: "total", Type: bq.NumericFieldType, Required: true},
}

// totalPattern is the decimal text PARSE_NUMERIC takes without rounding.
var totalPattern = regexp.MustCompile(`^-?[0-9]{1,29}(\.[0-9]{1,9})?$`)

type accountRow struct {
	RunID            string           `bigquery:"run_id"`
	Kind             bq.NullString    `bigquery:"kind"`
	PagesListed      bq.NullInt64     `bigquery:"pages_listed"`
	PagesRead        bq.NullInt64     `bigquery:"pages_read"`
	PagesQuarantined bq.NullInt64     `bigquery:"pages_quarantined"`
	PagesLanded      bq.NullInt64     `bigquery:"pages_landed"`
	RecordsRead      bq.NullInt64     `bigquery:"records_read"`
	Unkeyed          bq.NullInt64     `bigquery:"unkeyed"`
	Duplicates       bq.NullInt64     `bigquery:"duplicates"`
	Superseded       bq.NullInt64     `bigquery:"superseded"`
	Stale            bq.NullInt64     `bigquery:"stale"`
	Promoted         bq.NullInt64     `bigquery:"promoted"`
	Unchanged        bq.NullInt64     `bigquery:"unchanged"`
	Rejected         bq.NullInt64     `bigquery:"rejected"`
	Held             bq.NullInt64     `bigquery:"held"`
	Winners          bq.NullInt64     `bigquery:"winners"`
	Valid            bq.NullInt64     `bigquery:"valid"`
	Failed           bq.NullInt64     `bigquery:"failed"`
	StagedValid      bq.NullInt64     `bigquery:"staged_valid"`
	StagedQuar       bq.NullInt64     `bigquery:"staged_quarantined"`
	Reasons          bq.NullString    `bigquery:"quarantined_by_reason"`
	Balanced         bq.NullBool      `bigquery:"balanced"`
	Detail           bq.NullString    `bigquery:"detail"`
	RecordedAt       bq.NullTimestamp `bigquery:"recorded_at"`
}

// RecordAccount replaces the run's account row and its currency totals:
// deletes, then inserts, so a retry after a failure rewrites the same rows. Totals are converted from
// their decimal text with PARSE_NUMERIC (never through FLOAT64).
func (w *Warehouse) RecordAccount(ctx context.Context, a warehouse.RunAccount, totals []warehouse.CurrencyTotal) error {
	reasons, err := json.Marshal(a.QuarantinedByReason)
	if err != nil {
		return fmt.Errorf("recording account of run %s: %w", a.RunID, err)
	}
	params := map[string]any{
		"run_id": a.RunID, "kind": a.Kind, "pages_listed": a.PagesListed, "pages_read": a.PagesRead,
		"pages_quarantined": a.PagesQuarantined, "pages_landed": a.PagesLanded, "records_read": a.RecordsRead,
		"unkeyed": a.Unkeyed, "duplicates": a.Duplicates, "superseded": a.Superseded, "stale": a.Stale,
		"promoted": a.Promoted, "unchanged": a.Unchanged, "rejected": a.Rejected, "held": a.Held,
		"winners": a.Winners, "valid": a.Valid, "failed": a.Failed, "staged_valid": a.StagedValid,
		"staged_quarantined": a.StagedQuar, "reasons": string(reasons), "balanced": a.Balanced,
		"detail": a.Detail, "recorded_at": nullTime(a.RecordedAt),
	}
	byRun := map[string]any{"run_id": a.RunID}
	type stmt struct {
		sql    string
		params map[string]any
	}
	stmts := []stmt{
		{`DELETE FROM ` + w.table(TableAccounts) + ` WHERE run_id = @run_id`, byRun},
		{`DELETE FROM ` + w.table(TableCurrencyTotals) + ` WHERE run_id = @run_id`, byRun},
		{`INSERT INTO ` + w.table(TableAccounts) + ` (run_id, kind, pages_listed, pages_read, pages_quarantined,
	pages_landed, records_read, unkeyed, duplicates, superseded, stale, promoted, unchanged, rejected, held,
	winners, valid, failed, staged_valid, staged_quarantined, quarantined_by_reason, balanced, detail, recorded_at)
VALUES (@run_id, @kind, @pages_listed, @pages_read, @pages_quarantined, @pages_landed, @records_read,
	@unkeyed, @duplicates, @superseded, @stale, @promoted, @unchanged, @rejected, @held, @winners, @valid,
	@failed, @staged_valid, @staged_quarantined, @reasons, @balanced, @detail, @recorded_at)`, params},
	}
	tparams := map[string]any{"run_id": a.RunID}
	var values []string
	for i, t := range totals {
		if !totalPattern.MatchString(t.Total) {
			return fmt.Errorf("recording %s total of run %s: %q is not a decimal with at most 9 fraction digits", t.Currency, a.RunID, t.Total)
		}
		c, n, tot := fmt.Sprintf("c%d", i), fmt.Sprintf("n%d", i), fmt.Sprintf("t%d", i)
		tparams[c], tparams[n], tparams[tot] = t.Currency, t.Count, t.Total
		values = append(values, "(@run_id, @"+c+", @"+n+", PARSE_NUMERIC(@"+tot+"))")
	}
	if len(values) > 0 {
		stmts = append(stmts, stmt{"INSERT INTO " + w.table(TableCurrencyTotals) + " (run_id, currency, count, total) VALUES " +
			strings.Join(values, ", "), tparams})
	}
	// One job a statement (the emulator runs no scripts): a failure part
	// way is repaired by recording again, which deletes first.
	for _, q := range stmts {
		if _, err := w.query(ctx, q.sql, q.params); err != nil {
			return fmt.Errorf("recording account of run %s: %w", a.RunID, err)
		}
	}
	return nil
}

// Account returns the stored account of runID and its currency totals.
// Returns warehouse.ErrNoAccount if none is stored.
func (w *Warehouse) Account(ctx context.Context, runID string) (warehouse.RunAccount, []warehouse.CurrencyTotal, error) {
	q := w.client.Query(`SELECT * FROM ` + w.table(TableAccounts) + ` WHERE run_id = @run_id`)
	q.Parameters = []bq.QueryParameter{{Name: "run_id", Value: runID}}
	it, err := q.Read(ctx)
	if err != nil {
		return warehouse.RunAccount{}, nil, fmt.Errorf("reading account of run %s: %w", runID, err)
	}
	var r accountRow
	if err := it.Next(&r); err != nil {
		if errors.Is(err, iterator.Done) {
			return warehouse.RunAccount{}, nil, fmt.Errorf("reading account of run %s: %w", runID, warehouse.ErrNoAccount)
		}
		return warehouse.RunAccount{}, nil, fmt.Errorf("reading account of run %s: %w", runID, err)
	}
	a := warehouse.RunAccount{
		RunID: r.RunID, Kind: r.Kind.StringVal,
		PagesListed: r.PagesListed.Int64, PagesRead: r.PagesRead.Int64, PagesQuarantined: r.PagesQuarantined.Int64,
		PagesLanded: r.PagesLanded.Int64, RecordsRead: r.RecordsRead.Int64, Unkeyed: r.Unkeyed.Int64,
		Duplicates: r.Duplicates.Int64, Superseded: r.Superseded.Int64, Stale: r.Stale.Int64,
		Promoted: r.Promoted.Int64, Unchanged: r.Unchanged.Int64, Rejected: r.Rejected.Int64, Held: r.Held.Int64,
		Winners: r.Winners.Int64, Valid: r.Valid.Int64, Failed: r.Failed.Int64,
		StagedValid: r.StagedValid.Int64, StagedQuar: r.StagedQuar.Int64,
		Balanced: r.Balanced.Bool, Detail: r.Detail.StringVal, RecordedAt: utc(r.RecordedAt),
	}
	if r.Reasons.Valid && r.Reasons.StringVal != "null" {
		if err := json.Unmarshal([]byte(r.Reasons.StringVal), &a.QuarantinedByReason); err != nil {
			return a, nil, fmt.Errorf("reading account of run %s: quarantined_by_reason: %w", runID, err)
		}
	}
	totals, err := w.currencyTotals(ctx, `SELECT currency, count, total FROM `+w.table(TableCurrencyTotals)+`
		WHERE run_id = @run_id ORDER BY currency`, runID)
	if err != nil {
		return a, nil, fmt.Errorf("reading currency totals of run %s: %w", runID, err)
	}
	return a, totals, nil
}

// RunTotals sums, per currency, the settlements rows whose run_id is runID.
func (w *Warehouse) RunTotals(ctx context.Context, runID string) ([]warehouse.CurrencyTotal, error) {
	totals, err := w.currencyTotals(ctx, `SELECT IFNULL(currency, '') AS currency, COUNT(*) AS count,
		IFNULL(SUM(amount), PARSE_NUMERIC('0')) AS total
		FROM `+w.table(TableSettlements)+` WHERE run_id = @run_id GROUP BY 1 ORDER BY 1`, runID)
	if err != nil {
		return nil, fmt.Errorf("summing settlements of run %s: %w", runID, err)
	}
	return totals, nil
}

type totalRow struct {
	Currency string   `bigquery:"currency"`
	Count    int64    `bigquery:"count"`
	Total    *big.Rat `bigquery:"total"`
}

func (w *Warehouse) currencyTotals(ctx context.Context, sql, runID string) ([]warehouse.CurrencyTotal, error) {
	q := w.client.Query(sql)
	q.Parameters = []bq.QueryParameter{{Name: "run_id", Value: runID}}
	it, err := q.Read(ctx)
	if err != nil {
		return nil, err
	}
	var out []warehouse.CurrencyTotal
	for {
		var r totalRow
		err := it.Next(&r)
		if errors.Is(err, iterator.Done) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, warehouse.CurrencyTotal{Currency: r.Currency, Count: r.Count, Total: decimalText(r.Total)})
	}
}

// SettlementsUpdated returns the settlements rows whose updated_at is in
// [from, to), ordered by vendor_txn_id, in the forms of Settlements.
func (w *Warehouse) SettlementsUpdated(ctx context.Context, from, to time.Time) ([]warehouse.Settlement, error) {
	return w.settlements(ctx, `WHERE updated_at >= @from AND updated_at < @to`,
		map[string]any{"from": from.UTC(), "to": to.UTC()})
}
