//go:build cgo

package duckdb

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	duckdbdriver "github.com/duckdb/duckdb-go/v2"

	"github.com/marketplace/settle/io/warehouse"
)

var (
	_ warehouse.MetricsRecorder   = (*Warehouse)(nil)
	_ warehouse.FreshnessRecorder = (*Warehouse)(nil)
)

// opsSchema are the operations tables: run_metrics beside the runs ledger
// (same run id) and freshness, one row per source, for payout queries.
var opsSchema = []string{
	`CREATE TABLE IF NOT EXISTS run_metrics (
		run_id          VARCHAR PRIMARY KEY,
		source          VARCHAR,
		kind            VARCHAR,
		finished_at     TIMESTAMPTZ,
		requests        BIGINT,
		rate_limited    BIGINT,
		retries         BIGINT,
		pages_landed    BIGINT,
		records_landed  BIGINT,
		pages_read      BIGINT,
		windows_parked  BIGINT,
		parked_total    BIGINT,
		quarantined_by  VARCHAR,
		complete_up_to  TIMESTAMPTZ
	)`,
	`CREATE TABLE IF NOT EXISTS freshness (
		source          VARCHAR PRIMARY KEY,
		complete_up_to  TIMESTAMPTZ,
		watermark       TIMESTAMPTZ,
		oldest_parked   TIMESTAMPTZ,
		parked_windows  BIGINT,
		run_id          VARCHAR,
		as_of           TIMESTAMPTZ
	)`,
}

func init() { schema = append(schema, opsSchema...) }

// RecordRunMetrics upserts the run's run_metrics row.
func (w *Warehouse) RecordRunMetrics(ctx context.Context, m warehouse.RunMetrics) error {
	by, err := json.Marshal(m.QuarantinedBy)
	if err != nil {
		return fmt.Errorf("recording metrics of run %s: encoding reasons: %w", m.RunID, err)
	}
	_, err = w.db.ExecContext(ctx, `INSERT OR REPLACE INTO run_metrics (run_id, source, kind, finished_at,
		requests, rate_limited, retries, pages_landed, records_landed, pages_read, windows_parked,
		parked_total, quarantined_by, complete_up_to)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
		m.RunID, m.Source, m.Kind, nullTime(m.FinishedAt), m.Requests, m.RateLimited, m.Retries,
		m.PagesLanded, m.RecordsLanded, m.PagesRead, m.WindowsParked, m.ParkedTotal, string(by),
		nullTime(m.CompleteUpTo))
	if err != nil {
		return fmt.Errorf("recording metrics of run %s: %w", m.RunID, err)
	}
	return nil
}

// RunMetrics returns the newest n run_metrics rows by finished_at, newest
// first (ties by run id, descending). A file without the table (written by
// an earlier release, opened read-only) has no rows.
func (w *Warehouse) RunMetrics(ctx context.Context, n int) ([]warehouse.RunMetrics, error) {
	if ok, err := w.hasTable(ctx, "run_metrics"); err != nil || !ok {
		return nil, err
	}
	rows, err := w.db.QueryContext(ctx, `SELECT run_id, source, kind, finished_at, requests, rate_limited,
		retries, pages_landed, records_landed, pages_read, windows_parked, parked_total, quarantined_by,
		complete_up_to FROM run_metrics ORDER BY finished_at DESC NULLS LAST, run_id DESC LIMIT $1`, n)
	if err != nil {
		return nil, fmt.Errorf("listing %d run metrics: %w", n, err)
	}
	defer rows.Close()
	var out []warehouse.RunMetrics
	for rows.Next() {
		var m warehouse.RunMetrics
		var source, kind, by sql.NullString
		var fin, cut sql.NullTime
		var req, rl, retr, pl, rec, pr, wp, pt sql.NullInt64
		if err := rows.Scan(&m.RunID, &source, &kind, &fin, &req, &rl, &retr, &pl, &rec, &pr, &wp, &pt, &by, &cut); err != nil {
			return nil, fmt.Errorf("listing %d run metrics: reading row: %w", n, err)
		}
		m.Source, m.Kind, m.FinishedAt, m.CompleteUpTo = source.String, kind.String, utc(fin), utc(cut)
		m.Requests, m.RateLimited, m.Retries = req.Int64, rl.Int64, retr.Int64
		m.PagesLanded, m.RecordsLanded, m.PagesRead = pl.Int64, rec.Int64, pr.Int64
		m.WindowsParked, m.ParkedTotal = wp.Int64, pt.Int64
		if by.Valid && by.String != "" && by.String != "null" {
			if err := json.Unmarshal([]byte(by.String), &m.QuarantinedBy); err != nil {
				m.QuarantinedBy = nil
				m.Unreadable = fmt.Sprintf("quarantined_by is not a JSON object of counts: %v", err)
			}
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing %d run metrics: %w", n, err)
	}
	return out, nil
}

// SetFreshness upserts the source's freshness row.
func (w *Warehouse) SetFreshness(ctx context.Context, f warehouse.Freshness) error {
	_, err := w.db.ExecContext(ctx, `INSERT OR REPLACE INTO freshness (source, complete_up_to, watermark,
		oldest_parked, parked_windows, run_id, as_of) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		f.Source, nullTime(f.CompleteUpTo), nullTime(f.Watermark), nullTime(f.OldestParked),
		f.ParkedWindows, f.RunID, nullTime(f.AsOf))
	if err != nil {
		return fmt.Errorf("setting freshness of %s: %w", f.Source, err)
	}
	return nil
}

// Freshness returns every source's freshness row, ordered by source.
func (w *Warehouse) Freshness(ctx context.Context) ([]warehouse.Freshness, error) {
	if ok, err := w.hasTable(ctx, "freshness"); err != nil || !ok {
		return nil, err
	}
	rows, err := w.db.QueryContext(ctx, `SELECT source, complete_up_to, watermark, oldest_parked,
		parked_windows, run_id, as_of FROM freshness ORDER BY source`)
	if err != nil {
		return nil, fmt.Errorf("reading freshness: %w", err)
	}
	defer rows.Close()
	var out []warehouse.Freshness
	for rows.Next() {
		var f warehouse.Freshness
		var cut, wm, op, asOf sql.NullTime
		var parked sql.NullInt64
		var runID sql.NullString
		if err := rows.Scan(&f.Source, &cut, &wm, &op, &parked, &runID, &asOf); err != nil {
			return nil, fmt.Errorf("reading freshness: %w", err)
		}
		f.CompleteUpTo, f.Watermark, f.OldestParked, f.AsOf = utc(cut), utc(wm), utc(op), utc(asOf)
		f.ParkedWindows, f.RunID = parked.Int64, runID.String
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading freshness: %w", err)
	}
	return out, nil
}

func (w *Warehouse) hasTable(ctx context.Context, name string) (bool, error) {
	var n int
	err := w.db.QueryRowContext(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_name = $1`, name).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("looking up table %s: %w", name, err)
	}
	return n > 0, nil
}

// OpenReadOnly opens the DuckDB file at path for reading only: it creates
// nothing, and returns an error wrapping os.ErrNotExist when the file does
// not exist. While another process has the file open for writing (a run),
// DuckDB refuses even a reader; OpenReadOnly then reads a snapshot: a copy
// of the file (and its WAL) in a temporary directory, removed by Close, and
// reports it with snapshot true. A copy taken mid-checkpoint can fail to
// open: the error then wraps warehouse.ErrLocked.
func OpenReadOnly(ctx context.Context, path string) (w *Snapshot, snapshot bool, err error) {
	if _, err := os.Stat(path); err != nil {
		return nil, false, fmt.Errorf("opening duckdb warehouse %q read-only: %w", path, err)
	}
	db, err := openDB(path, "access_mode=READ_ONLY")
	if err == nil {
		return &Snapshot{Warehouse: &Warehouse{db: db, path: path}}, false, nil
	}
	if !isLockError(err) {
		return nil, false, openError(path, err)
	}
	dir, terr := os.MkdirTemp("", "settle-snapshot-")
	if terr != nil {
		return nil, false, fmt.Errorf("opening duckdb warehouse %q read-only: %w: making snapshot dir: %w", path, warehouse.ErrLocked, terr)
	}
	cp := filepath.Join(dir, filepath.Base(path))
	if err := copyFile(path, cp); err != nil {
		os.RemoveAll(dir)
		return nil, false, fmt.Errorf("opening duckdb warehouse %q read-only: %w: copying a snapshot: %w", path, warehouse.ErrLocked, err)
	}
	if _, err := os.Stat(path + ".wal"); err == nil {
		if err := copyFile(path+".wal", cp+".wal"); err != nil {
			os.RemoveAll(dir)
			return nil, false, fmt.Errorf("opening duckdb warehouse %q read-only: %w: copying a snapshot: %w", path, warehouse.ErrLocked, err)
		}
	}
	db, err = openDB(cp, "")
	if err != nil {
		os.RemoveAll(dir)
		return nil, false, fmt.Errorf("opening duckdb warehouse %q read-only: %w: opening a snapshot: %w", path, warehouse.ErrLocked, err)
	}
	return &Snapshot{Warehouse: &Warehouse{db: db, path: cp}, dir: dir}, true, nil
}

// Snapshot is a warehouse opened by OpenReadOnly. Writing to it fails (or,
// for a snapshot copy, changes only the copy).
type Snapshot struct {
	*Warehouse
	dir string
}

// Close closes the file and removes a snapshot copy.
func (s *Snapshot) Close() error {
	err := s.Warehouse.Close()
	if s.dir != "" {
		os.RemoveAll(s.dir)
	}
	return err
}

func openDB(path, query string) (*sql.DB, error) {
	dsn := path
	if query != "" {
		dsn += "?" + query
	}
	connector, err := duckdbdriver.NewConnector(dsn, nil)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(1)
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func isLockError(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "Could not set lock on file") || strings.Contains(err.Error(), "Conflicting lock"))
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
