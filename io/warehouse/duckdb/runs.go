//go:build cgo

package duckdb

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/marketplace/settle/io/warehouse"
)

const upsertRun = `
INSERT INTO runs (run_id, kind, window_start, window_end, started_at, finished_at, fetched,
	duplicates, validated, quarantined, promoted, dead_lettered, outcome, detail, corrected, withdrawn)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
ON CONFLICT (run_id) DO UPDATE SET
	kind = excluded.kind, window_start = excluded.window_start, window_end = excluded.window_end,
	started_at = excluded.started_at, finished_at = excluded.finished_at,
	fetched = excluded.fetched, duplicates = excluded.duplicates, validated = excluded.validated,
	quarantined = excluded.quarantined, promoted = excluded.promoted,
	dead_lettered = excluded.dead_lettered, outcome = excluded.outcome, detail = excluded.detail,
	corrected = excluded.corrected, withdrawn = excluded.withdrawn`

// RecordRun inserts the run's ledger row, or replaces it if the run id is
// stored. Zero times are stored as NULL. Times keep microseconds.
func (w *Warehouse) RecordRun(ctx context.Context, r warehouse.Run) error {
	_, err := w.db.ExecContext(ctx, upsertRun, r.RunID, r.Kind,
		nullTime(r.WindowStart), nullTime(r.WindowEnd), nullTime(r.StartedAt), nullTime(r.FinishedAt),
		r.Fetched, r.Duplicates, r.Validated, r.Quarantined, r.Promoted, r.DeadLettered,
		r.Outcome, r.Detail, r.Corrected, r.Withdrawn)
	if err != nil {
		return fmt.Errorf("recording run %s: %w", r.RunID, err)
	}
	return nil
}

// Runs returns the newest n ledger rows by started_at, newest first (ties
// by run id, descending). Times are in UTC.
func (w *Warehouse) Runs(ctx context.Context, n int) ([]warehouse.Run, error) {
	rows, err := w.db.QueryContext(ctx, `SELECT run_id, kind, window_start, window_end, started_at,
		finished_at, fetched, duplicates, validated, quarantined, promoted, dead_lettered, outcome, detail,
		coalesce(corrected, 0), coalesce(withdrawn, 0)
		FROM runs ORDER BY started_at DESC NULLS LAST, run_id DESC LIMIT $1`, n)
	if err != nil {
		return nil, fmt.Errorf("listing %d runs: %w", n, err)
	}
	defer rows.Close()
	var out []warehouse.Run
	for rows.Next() {
		var r warehouse.Run
		var ws, we, sa, fa sql.NullTime
		var kind, outcome, detail sql.NullString
		if err := rows.Scan(&r.RunID, &kind, &ws, &we, &sa, &fa, &r.Fetched, &r.Duplicates,
			&r.Validated, &r.Quarantined, &r.Promoted, &r.DeadLettered, &outcome, &detail,
			&r.Corrected, &r.Withdrawn); err != nil {
			return nil, fmt.Errorf("listing %d runs: reading row: %w", n, err)
		}
		r.Kind, r.Outcome, r.Detail = kind.String, outcome.String, detail.String
		r.WindowStart, r.WindowEnd = utc(ws), utc(we)
		r.StartedAt, r.FinishedAt = utc(sa), utc(fa)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing %d runs: %w", n, err)
	}
	return out, nil
}

func nullTime(t time.Time) sql.NullTime {
	return sql.NullTime{Time: t.UTC(), Valid: !t.IsZero()}
}

func utc(t sql.NullTime) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time.UTC()
}
