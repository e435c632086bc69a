package bigquery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"

	bq "cloud.google.com/go/bigquery"
	"google.golang.org/api/iterator"

	"github.com/marketplace/settle/io/warehouse"
)

var (
	_ warehouse.MetricsRecorder   = (*Warehouse)(nil)
	_ warehouse.FreshnessRecorder = (*Warehouse)(nil)
)

// Operations tables: run_metrics beside the runs ledger (same run id), and
// freshness, one row per source, that payout queries read.
const (
	TableRunMetrics = "run_metrics"
	TableFreshness  = "freshness"
)

// allTables are the permanent tables and the operations tables.
func allTables() map[string]*bq.TableMetadata {
	t := tables()
	maps.Copy(t, map[string]*bq.TableMetadata{
		TableRunMetrics: {Schema: runMetricsSchema, Description: "operational figures of each run, by run id (see runs)"},
		TableFreshness:  {Schema: freshnessSchema, Description: "per source: the warehouse holds its data completely up to complete_up_to"},
	})
	return t
}

var runMetricsSchema = bq.Schema{
	{Name: "run_id", Type: bq.StringFieldType, Required: true},
	{Name: "source", Type: bq.StringFieldType},
	{Name: "kind", Type: bq.StringFieldType},
	{Name: "finished_at", Type: bq.TimestampFieldType},
	{Name: "requests", Type: bq.IntegerFieldType},
	{Name: "rate_limited", Type: bq.IntegerFieldType},
	{Name: "retries", Type: bq.IntegerFieldType},
	{Name: "pages_landed", Type: bq.IntegerFieldType},
	{Name: "records_landed", Type: bq.IntegerFieldType},
	{Name: "pages_read", Type: bq.IntegerFieldType},
	{Name: "windows_parked", Type: bq.IntegerFieldType},
	{Name: "parked_total", Type: bq.IntegerFieldType},
	// JSON text of {reason: count}: a STRING keeps it readable on any
	// client and in the emulator.
	{Name: "quarantined_by", Type: bq.StringFieldType},
	{Name: "complete_up_to", Type: bq.TimestampFieldType},
}

var freshnessSchema = bq.Schema{
	{Name: "source", Type: bq.StringFieldType, Required: true},
	{Name: "complete_up_to", Type: bq.TimestampFieldType},
	{Name: "watermark", Type: bq.TimestampFieldType},
	{Name: "oldest_parked", Type: bq.TimestampFieldType},
	{Name: "parked_windows", Type: bq.IntegerFieldType},
	{Name: "run_id", Type: bq.StringFieldType},
	{Name: "as_of", Type: bq.TimestampFieldType},
}

// RecordRunMetrics upserts the run's run_metrics row with one MERGE.
func (w *Warehouse) RecordRunMetrics(ctx context.Context, m warehouse.RunMetrics) error {
	by, err := json.Marshal(m.QuarantinedBy)
	if err != nil {
		return fmt.Errorf("recording metrics of run %s: encoding reasons: %w", m.RunID, err)
	}
	cols := []string{"run_id", "source", "kind", "finished_at", "requests", "rate_limited", "retries",
		"pages_landed", "records_landed", "pages_read", "windows_parked", "parked_total", "quarantined_by", "complete_up_to"}
	params := map[string]any{
		"run_id": m.RunID, "source": m.Source, "kind": m.Kind, "finished_at": nullTime(m.FinishedAt),
		"requests": m.Requests, "rate_limited": m.RateLimited, "retries": m.Retries,
		"pages_landed": m.PagesLanded, "records_landed": m.RecordsLanded, "pages_read": m.PagesRead,
		"windows_parked": m.WindowsParked, "parked_total": m.ParkedTotal, "quarantined_by": string(by),
		"complete_up_to": nullTime(m.CompleteUpTo),
	}
	if _, err := w.query(ctx, mergeByKey(w.table(TableRunMetrics), "run_id", cols), params); err != nil {
		return fmt.Errorf("recording metrics of run %s: %w", m.RunID, err)
	}
	return nil
}

type runMetricsRow struct {
	RunID         string           `bigquery:"run_id"`
	Source        bq.NullString    `bigquery:"source"`
	Kind          bq.NullString    `bigquery:"kind"`
	FinishedAt    bq.NullTimestamp `bigquery:"finished_at"`
	Requests      bq.NullInt64     `bigquery:"requests"`
	RateLimited   bq.NullInt64     `bigquery:"rate_limited"`
	Retries       bq.NullInt64     `bigquery:"retries"`
	PagesLanded   bq.NullInt64     `bigquery:"pages_landed"`
	RecordsLanded bq.NullInt64     `bigquery:"records_landed"`
	PagesRead     bq.NullInt64     `bigquery:"pages_read"`
	WindowsParked bq.NullInt64     `bigquery:"windows_parked"`
	ParkedTotal   bq.NullInt64     `bigquery:"parked_total"`
	QuarantinedBy bq.NullString    `bigquery:"quarantined_by"`
	CompleteUpTo  bq.NullTimestamp `bigquery:"complete_up_to"`
}

// RunMetrics returns the newest n run_metrics rows by finished_at, newest
// first (ties by run id, descending).
func (w *Warehouse) RunMetrics(ctx context.Context, n int) ([]warehouse.RunMetrics, error) {
	if n <= 0 {
		return nil, nil
	}
	q := w.client.Query(`SELECT * FROM ` + w.table(TableRunMetrics) +
		` ORDER BY finished_at DESC NULLS LAST, run_id DESC LIMIT @n`)
	q.Parameters = []bq.QueryParameter{{Name: "n", Value: int64(n)}}
	it, err := q.Read(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing %d run metrics: %w", n, err)
	}
	var out []warehouse.RunMetrics
	for {
		var r runMetricsRow
		err := it.Next(&r)
		if errors.Is(err, iterator.Done) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("listing %d run metrics: %w", n, err)
		}
		m := warehouse.RunMetrics{
			RunID: r.RunID, Source: r.Source.StringVal, Kind: r.Kind.StringVal, FinishedAt: utc(r.FinishedAt),
			Requests: r.Requests.Int64, RateLimited: r.RateLimited.Int64, Retries: r.Retries.Int64,
			PagesLanded: r.PagesLanded.Int64, RecordsLanded: r.RecordsLanded.Int64, PagesRead: r.PagesRead.Int64,
			WindowsParked: r.WindowsParked.Int64, ParkedTotal: r.ParkedTotal.Int64, CompleteUpTo: utc(r.CompleteUpTo),
		}
		if s := r.QuarantinedBy.StringVal; s != "" && s != "null" {
			if err := json.Unmarshal([]byte(s), &m.QuarantinedBy); err != nil {
				m.QuarantinedBy = nil
				m.Unreadable = fmt.Sprintf("quarantined_by is not a JSON object of counts: %v", err)
			}
		}
		out = append(out, m)
	}
}

// SetFreshness upserts the source's freshness row with one MERGE.
func (w *Warehouse) SetFreshness(ctx context.Context, f warehouse.Freshness) error {
	cols := []string{"source", "complete_up_to", "watermark", "oldest_parked", "parked_windows", "run_id", "as_of"}
	params := map[string]any{
		"source": f.Source, "complete_up_to": nullTime(f.CompleteUpTo), "watermark": nullTime(f.Watermark),
		"oldest_parked": nullTime(f.OldestParked), "parked_windows": f.ParkedWindows, "run_id": f.RunID,
		"as_of": nullTime(f.AsOf),
	}
	if _, err := w.query(ctx, mergeByKey(w.table(TableFreshness), "source", cols), params); err != nil {
		return fmt.Errorf("setting freshness of %s: %w", f.Source, err)
	}
	return nil
}

type freshnessRow struct {
	Source        string           `bigquery:"source"`
	CompleteUpTo  bq.NullTimestamp `bigquery:"complete_up_to"`
	Watermark     bq.NullTimestamp `bigquery:"watermark"`
	OldestParked  bq.NullTimestamp `bigquery:"oldest_parked"`
	ParkedWindows bq.NullInt64     `bigquery:"parked_windows"`
	RunID         bq.NullString    `bigquery:"run_id"`
	AsOf          bq.NullTimestamp `bigquery:"as_of"`
}

// Freshness returns every source's freshness row, ordered by source.
func (w *Warehouse) Freshness(ctx context.Context) ([]warehouse.Freshness, error) {
	it, err := w.client.Query(`SELECT * FROM ` + w.table(TableFreshness) + ` ORDER BY source`).Read(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading freshness: %w", err)
	}
	var out []warehouse.Freshness
	for {
		var r freshnessRow
		err := it.Next(&r)
		if errors.Is(err, iterator.Done) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading freshness: %w", err)
		}
		out = append(out, warehouse.Freshness{
			Source: r.Source, CompleteUpTo: utc(r.CompleteUpTo), Watermark: utc(r.Watermark),
			OldestParked: utc(r.OldestParked), ParkedWindows: r.ParkedWindows.Int64,
			RunID: r.RunID.StringVal, AsOf: utc(r.AsOf),
		})
	}
}

// mergeByKey is a MERGE of one row of named parameters (@col for each
// column) into table, by key.
func mergeByKey(table, key string, cols []string) string {
	var sel, set, names, vals string
	for i, c := range cols {
		if i > 0 {
			sel, names, vals = sel+", ", names+", ", vals+", "
		}
		sel += "@" + c + " AS " + c
		names += c
		vals += "s." + c
		if c != key {
			if set != "" {
				set += ", "
			}
			set += c + " = s." + c
		}
	}
	return `MERGE ` + table + ` AS t USING (SELECT ` + sel + `) AS s ON t.` + key + ` = s.` + key +
		` WHEN MATCHED THEN UPDATE SET ` + set +
		` WHEN NOT MATCHED THEN INSERT (` + names + `) VALUES (` + vals + `)`
}
