//go:build cgo

// Package duckdb is the local warehouse back end: one DuckDB file holding
// the settlements, settlements_quarantine and runs tables and their staging
// tables. It needs cgo; URIs look like duckdb:///abs/path/warehouse.duckdb.
package duckdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	duckdbdriver "github.com/duckdb/duckdb-go/v2"

	"github.com/marketplace/settle/io/warehouse"
)

func init() {
	warehouse.Register("duckdb", func(ctx context.Context, u *url.URL) (warehouse.Warehouse, error) {
		return OpenURL(ctx, u)
	})
}

var _ warehouse.Warehouse = (*Warehouse)(nil)

// Config holds the DuckDB settings applied when the file is opened. The
// defaults fit a 2-core machine whose whole process budget is about 3 GiB:
// DuckDB spills to TempDirectory beyond MemoryLimit.
type Config struct {
	// MemoryLimit is DuckDB's memory_limit ("1GB").
	MemoryLimit string
	// Threads is DuckDB's worker thread count; 0 means DuckDB's default
	// (one per core).
	Threads int
	// TempDirectory is where DuckDB spills; "" means "<path>.tmp".
	TempDirectory string
	// ReadOnly opens an existing file for reading only (DuckDB's
	// access_mode=READ_ONLY): it creates nothing, not even the tables, and
	// a missing file is an error wrapping warehouse.ErrNotExist.
	ReadOnly bool
}

// DefaultConfig returns the settings used when a URI names none:
// memory_limit 1GB, 2 threads.
func DefaultConfig() Config {
	return Config{MemoryLimit: "1GB", Threads: 2}
}

// Warehouse is a DuckDB file holding the warehouse tables. It is safe for
// use by one goroutine at a time.
type Warehouse struct {
	db   *sql.DB
	path string
}

// OpenURL opens the warehouse named by a duckdb:///abs/path URI. The query
// may set memory_limit, threads and temp_directory
// (duckdb:///w.duckdb?memory_limit=2GB&threads=4) and access_mode
// (read_only or read_write, see Config.ReadOnly); any other key is an
// error.
func OpenURL(ctx context.Context, u *url.URL) (*Warehouse, error) {
	if u.Host != "" || u.Path == "" {
		return nil, fmt.Errorf("opening duckdb warehouse %q: want duckdb:///absolute/path/file.duckdb", u.String())
	}
	cfg := DefaultConfig()
	for k, vs := range u.Query() {
		v := vs[len(vs)-1]
		switch k {
		case "memory_limit":
			cfg.MemoryLimit = v
		case "threads":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("opening duckdb warehouse: threads=%q is not a count", v)
			}
			cfg.Threads = n
		case "temp_directory":
			cfg.TempDirectory = v
		case "access_mode":
			switch strings.ToLower(v) {
			case "read_only":
				cfg.ReadOnly = true
			case "read_write", "automatic":
				cfg.ReadOnly = false
			default:
				return nil, fmt.Errorf("opening duckdb warehouse: access_mode=%q: want read_only or read_write", v)
			}
		default:
			return nil, fmt.Errorf("opening duckdb warehouse: unknown setting %q (want memory_limit, threads, temp_directory or access_mode)", k)
		}
	}
	return Open(ctx, u.Path, cfg)
}

// Open opens (creating if absent) the DuckDB file at path and creates the
// warehouse tables that do not exist yet. Returns an error wrapping
// warehouse.ErrLocked while another process has the file open (DuckDB
// locks it for one process at a time).
func Open(ctx context.Context, path string, cfg Config) (*Warehouse, error) {
	if !filepath.IsAbs(path) {
		return nil, fmt.Errorf("opening duckdb warehouse %q: path is not absolute", path)
	}
	q := url.Values{}
	// Rows need no order while loading and merging; keeping it costs memory.
	q.Set("preserve_insertion_order", "false")
	if cfg.MemoryLimit != "" {
		q.Set("memory_limit", cfg.MemoryLimit)
	}
	if cfg.Threads > 0 {
		q.Set("threads", strconv.Itoa(cfg.Threads))
	}
	if cfg.TempDirectory != "" {
		q.Set("temp_directory", cfg.TempDirectory)
	}
	if cfg.ReadOnly {
		if _, err := os.Stat(path); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("opening duckdb warehouse %q read-only: %w", path, warehouse.ErrNotExist)
			}
			return nil, openError(path, err)
		}
		q.Set("access_mode", "READ_ONLY")
	}
	connector, err := duckdbdriver.NewConnector(path+"?"+q.Encode(), nil)
	if err != nil {
		return nil, openError(path, err)
	}
	db := sql.OpenDB(connector)
	// One connection: the contract is one goroutine at a time, and DuckDB
	// runs a single statement on all its threads anyway.
	db.SetMaxOpenConns(1)
	w := &Warehouse{db: db, path: path}
	if cfg.ReadOnly {
		// The connector opens the file lazily: open it now, so a lock
		// held by another process is Open's error.
		if err := db.PingContext(ctx); err != nil {
			return nil, errors.Join(openError(path, err), db.Close())
		}
		return w, nil
	}
	if err := w.createTables(ctx); err != nil {
		return nil, errors.Join(openError(path, err), db.Close())
	}
	return w, nil
}

// openError wraps an error of opening the file at path; DuckDB's refusal of
// its file lock (another process has the file open) also wraps
// warehouse.ErrLocked.
func openError(path string, err error) error {
	if strings.Contains(err.Error(), "Could not set lock on file") {
		le := &warehouse.LockedError{Path: path, Err: err}
		if m := lockHolderRE.FindStringSubmatch(err.Error()); m != nil {
			le.Program = m[1]
			le.PID, _ = strconv.Atoi(m[2])
		}
		return fmt.Errorf("opening duckdb warehouse: %w", le)
	}
	return fmt.Errorf("opening duckdb warehouse %q: %w", path, err)
}

// lockHolderRE finds the holder in DuckDB's lock error: `Conflicting lock
// is held in /usr/bin/settle (PID 1234) by user ...`.
var lockHolderRE = regexp.MustCompile(`Conflicting lock is held in (.*?) \(PID (\d+)\)`)

// Close closes the database file.
func (w *Warehouse) Close() error {
	if err := w.db.Close(); err != nil {
		return fmt.Errorf("closing duckdb warehouse %q: %w", w.path, err)
	}
	return nil
}

// LocksAcrossProcesses reports that while this Warehouse is open no other
// process can open the file (DuckDB's lock): callers should hold it only
// while they use it.
func (w *Warehouse) LocksAcrossProcesses() bool { return true }

// DB returns the underlying database handle, for reconciliation queries.
// Callers must not use it concurrently with the Warehouse methods.
func (w *Warehouse) DB() *sql.DB { return w.db }

var schema = []string{
	`CREATE TABLE IF NOT EXISTS settlements (
		vendor_txn_id VARCHAR PRIMARY KEY,
		order_id      VARCHAR,
		seller_id     VARCHAR,
		type          VARCHAR,
		status        VARCHAR,
		amount        DECIMAL(38,9),
		fee           DECIMAL(38,9),
		currency      VARCHAR,
		created_at    TIMESTAMPTZ,
		updated_at    TIMESTAMPTZ,
		settled_at    TIMESTAMPTZ,
		metadata      JSON,
		run_id        VARCHAR,
		raw_ref       VARCHAR,
		version_digest VARCHAR
	)`,
	`CREATE TABLE IF NOT EXISTS settlements_quarantine (
		quarantine_key VARCHAR PRIMARY KEY,
		vendor_txn_id  VARCHAR,
		reason         VARCHAR,
		raw            JSON,
		run_id         VARCHAR,
		raw_ref        VARCHAR,
		quarantined_at TIMESTAMPTZ,
		updated_at     TIMESTAMPTZ,
		version_digest VARCHAR,
		displaced_updated_at     TIMESTAMPTZ,
		displaced_version_digest VARCHAR
	)`,
	// One row per settlement whose newest version failed the gate (see
	// the warehouse package doc): finance sees none of its versions.
	`CREATE TABLE IF NOT EXISTS settlements_withheld (
		vendor_txn_id  VARCHAR PRIMARY KEY,
		updated_at     TIMESTAMPTZ NOT NULL,
		version_digest VARCHAR NOT NULL,
		reason         VARCHAR,
		quarantine_key VARCHAR,
		run_id         VARCHAR,
		raw_ref        VARCHAR
	)`,
	`CREATE TABLE IF NOT EXISTS runs (
		run_id        VARCHAR PRIMARY KEY,
		kind          VARCHAR,
		window_start  TIMESTAMPTZ,
		window_end    TIMESTAMPTZ,
		started_at    TIMESTAMPTZ,
		finished_at   TIMESTAMPTZ,
		fetched       BIGINT,
		duplicates    BIGINT,
		validated     BIGINT,
		quarantined   BIGINT,
		promoted      BIGINT,
		dead_lettered BIGINT,
		outcome       VARCHAR,
		detail        VARCHAR,
		corrected     BIGINT,
		withdrawn     BIGINT
	)`,
	// Staging rows belong to the batch's run (stage_run_id); row_run_id is
	// the run id written in the file, which becomes settlements.run_id.
	// No keys: a run may stage several versions of one id.
	`CREATE TABLE IF NOT EXISTS staging_settlements (
		run_id        VARCHAR NOT NULL,
		vendor_txn_id VARCHAR NOT NULL,
		order_id      VARCHAR,
		seller_id     VARCHAR,
		type          VARCHAR,
		status        VARCHAR,
		amount        DECIMAL(38,9),
		fee           DECIMAL(38,9),
		currency      VARCHAR,
		created_at    TIMESTAMPTZ,
		updated_at    TIMESTAMPTZ NOT NULL,
		settled_at    TIMESTAMPTZ,
		metadata      JSON,
		row_run_id    VARCHAR,
		raw_ref       VARCHAR,
		version_digest VARCHAR
	)`,
	`CREATE TABLE IF NOT EXISTS staging_quarantine (
		run_id         VARCHAR NOT NULL,
		quarantine_key VARCHAR NOT NULL,
		vendor_txn_id  VARCHAR,
		reason         VARCHAR,
		raw            JSON,
		row_run_id     VARCHAR,
		raw_ref        VARCHAR,
		quarantined_at TIMESTAMPTZ,
		updated_at     TIMESTAMPTZ,
		version_digest VARCHAR
	)`,
}

// migrations add the columns a file created by an earlier release lacks;
// on a new file they change nothing. Every statement that writes these
// tables names its columns, so their order does not matter.
var migrations = []string{
	`ALTER TABLE settlements ADD COLUMN IF NOT EXISTS version_digest VARCHAR`,
	`ALTER TABLE settlements_quarantine ADD COLUMN IF NOT EXISTS updated_at TIMESTAMPTZ`,
	`ALTER TABLE settlements_quarantine ADD COLUMN IF NOT EXISTS version_digest VARCHAR`,
	`ALTER TABLE settlements_quarantine ADD COLUMN IF NOT EXISTS displaced_updated_at TIMESTAMPTZ`,
	`ALTER TABLE settlements_quarantine ADD COLUMN IF NOT EXISTS displaced_version_digest VARCHAR`,
	`ALTER TABLE runs ADD COLUMN IF NOT EXISTS corrected BIGINT`,
	`ALTER TABLE runs ADD COLUMN IF NOT EXISTS withdrawn BIGINT`,
	`ALTER TABLE staging_settlements ADD COLUMN IF NOT EXISTS version_digest VARCHAR`,
	`ALTER TABLE staging_quarantine ADD COLUMN IF NOT EXISTS updated_at TIMESTAMPTZ`,
	`ALTER TABLE staging_quarantine ADD COLUMN IF NOT EXISTS version_digest VARCHAR`,
}

func (w *Warehouse) createTables(ctx context.Context) error {
	for _, stmt := range schema {
		if _, err := w.db.ExecContext(ctx, stmt); err != nil {
			name := strings.Fields(stmt)[5]
			return fmt.Errorf("creating table %s in %q: %w", name, w.path, err)
		}
	}
	for _, stmt := range migrations {
		if _, err := w.db.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("migrating %q (%s): %w", w.path, stmt, err)
		}
	}
	return nil
}

// sqlString quotes s as a SQL string literal.
func sqlString(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}
