package bigquery

import (
	"context"
	"errors"
	"fmt"
	"time"

	bq "cloud.google.com/go/bigquery"
	"google.golang.org/api/iterator"

	"github.com/marketplace/settle/io/warehouse"
)

// RecordRun inserts the run's ledger row, or replaces it if the run id is
// stored, with one MERGE. Zero times are stored as NULL; times keep
// microseconds.
func (w *Warehouse) RecordRun(ctx context.Context, r warehouse.Run) error {
	q := `MERGE ` + w.table(TableRuns) + ` AS t
USING (SELECT @run_id AS run_id, @kind AS kind, @window_start AS window_start, @window_end AS window_end,
	@started_at AS started_at, @finished_at AS finished_at, @fetched AS fetched, @duplicates AS duplicates,
	@validated AS validated, @quarantined AS quarantined, @promoted AS promoted,
	@dead_lettered AS dead_lettered, @outcome AS outcome, @detail AS detail) AS s
ON t.run_id = s.run_id
WHEN MATCHED THEN UPDATE SET kind = s.kind, window_start = s.window_start, window_end = s.window_end,
	started_at = s.started_at, finished_at = s.finished_at, fetched = s.fetched,
	duplicates = s.duplicates, validated = s.validated, quarantined = s.quarantined,
	promoted = s.promoted, dead_lettered = s.dead_lettered, outcome = s.outcome, detail = s.detail
WHEN NOT MATCHED THEN INSERT (run_id, kind, window_start, window_end, started_at, finished_at, fetched,
	duplicates, validated, quarantined, promoted, dead_lettered, outcome, detail)
	VALUES (s.run_id, s.kind, s.window_start, s.window_end, s.started_at, s.finished_at, s.fetched,
	s.duplicates, s.validated, s.quarantined, s.promoted, s.dead_lettered, s.outcome, s.detail)`
	params := map[string]any{
		"run_id": r.RunID, "kind": r.Kind,
		"window_start": nullTime(r.WindowStart), "window_end": nullTime(r.WindowEnd),
		"started_at": nullTime(r.StartedAt), "finished_at": nullTime(r.FinishedAt),
		"fetched": r.Fetched, "duplicates": r.Duplicates, "validated": r.Validated,
		"quarantined": r.Quarantined, "promoted": r.Promoted, "dead_lettered": r.DeadLettered,
		"outcome": r.Outcome, "detail": r.Detail,
	}
	if _, err := w.query(ctx, q, params); err != nil {
		return fmt.Errorf("recording run %s: %w", r.RunID, err)
	}
	return nil
}

type runRow struct {
	RunID        string           `bigquery:"run_id"`
	Kind         bq.NullString    `bigquery:"kind"`
	WindowStart  bq.NullTimestamp `bigquery:"window_start"`
	WindowEnd    bq.NullTimestamp `bigquery:"window_end"`
	StartedAt    bq.NullTimestamp `bigquery:"started_at"`
	FinishedAt   bq.NullTimestamp `bigquery:"finished_at"`
	Fetched      bq.NullInt64     `bigquery:"fetched"`
	Duplicates   bq.NullInt64     `bigquery:"duplicates"`
	Validated    bq.NullInt64     `bigquery:"validated"`
	Quarantined  bq.NullInt64     `bigquery:"quarantined"`
	Promoted     bq.NullInt64     `bigquery:"promoted"`
	DeadLettered bq.NullInt64     `bigquery:"dead_lettered"`
	Outcome      bq.NullString    `bigquery:"outcome"`
	Detail       bq.NullString    `bigquery:"detail"`
}

// Runs returns the newest n ledger rows by started_at, newest first (ties
// by run id, descending). Times are in UTC.
func (w *Warehouse) Runs(ctx context.Context, n int) ([]warehouse.Run, error) {
	if n <= 0 {
		return nil, nil
	}
	q := w.client.Query(`SELECT run_id, kind, window_start, window_end, started_at, finished_at, fetched,
		duplicates, validated, quarantined, promoted, dead_lettered, outcome, detail
		FROM ` + w.table(TableRuns) + ` ORDER BY started_at DESC NULLS LAST, run_id DESC LIMIT @n`)
	q.Parameters = []bq.QueryParameter{{Name: "n", Value: int64(n)}}
	it, err := q.Read(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing %d runs: %w", n, err)
	}
	var out []warehouse.Run
	for {
		var r runRow
		err := it.Next(&r)
		if errors.Is(err, iterator.Done) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("listing %d runs: %w", n, err)
		}
		out = append(out, warehouse.Run{
			RunID: r.RunID, Kind: r.Kind.StringVal,
			WindowStart: utc(r.WindowStart), WindowEnd: utc(r.WindowEnd),
			StartedAt: utc(r.StartedAt), FinishedAt: utc(r.FinishedAt),
			Fetched: r.Fetched.Int64, Duplicates: r.Duplicates.Int64, Validated: r.Validated.Int64,
			Quarantined: r.Quarantined.Int64, Promoted: r.Promoted.Int64, DeadLettered: r.DeadLettered.Int64,
			Outcome: r.Outcome.StringVal, Detail: r.Detail.StringVal,
		})
	}
}

func nullTime(t time.Time) bq.NullTimestamp {
	return bq.NullTimestamp{Timestamp: t.UTC(), Valid: !t.IsZero()}
}

func utc(t bq.NullTimestamp) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Timestamp.UTC()
}
