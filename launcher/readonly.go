package main

// Read-only commands (deadletters, runs, status, reconcile, report) open
// the back ends with openReadOnly: they refuse a data dir that does not
// exist and create nothing in one that does (no cursor or raw directory,
// no lock file, no warehouse file or table).
//
//	cfg, err := b.config(&o)
//	...
//	ro, err := openReadOnly(ctx, cfg, roCursors|roWarehouse, wait)
//	if err != nil {
//		return fail("status", err) // no data dir: 64; warehouse held past wait: 3
//	}
//	defer ro.Close()

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"time"

	"github.com/marketplace/settle/io/cursorstore"
	"github.com/marketplace/settle/io/rawzone"
	"github.com/marketplace/settle/io/warehouse"
	"github.com/marketplace/settle/pipeline"
)

// roPart selects the back ends openReadOnly opens.
type roPart int

const (
	roCursors roPart = 1 << iota
	roRaw
	roWarehouse
)

// defaultLockWait is how long a read-only command waits for a warehouse
// that a run holds open (DuckDB admits one process while one writes).
const defaultLockWait = 30 * time.Second

// addWaitFlag declares --wait, for read-only commands that open the
// warehouse.
func addWaitFlag(fs *flagSet, wait *time.Duration) {
	fs.group(sectionBackend, func(fs *flag.FlagSet) {
		fs.DurationVar(wait, "wait", defaultLockWait, "how long to wait for a warehouse another settle command holds open before exiting 3")
	})
}

// readOnly holds the back ends a read-only command opened; the parts not
// asked for are nil.
type readOnly struct {
	Cursors   cursorstore.Store
	Raw       rawzone.Store
	Warehouse warehouse.Warehouse
}

// openReadOnly opens the parts of cfg's back ends for reading only. A
// local data dir that does not exist is a usage error ("run `settle run`
// first"). A warehouse another process holds open is retried for up to
// wait; then the error wraps warehouse.ErrLocked (exit 3, naming the
// holder). A local warehouse file that does not exist wraps
// warehouse.ErrNotExist.
func openReadOnly(ctx context.Context, cfg pipeline.Config, parts roPart, wait time.Duration) (_ *readOnly, err error) {
	if err := requireDataDir(cfg); err != nil {
		return nil, err
	}
	ro := &readOnly{}
	defer func() {
		if err != nil {
			ro.Close()
		}
	}()
	if parts&roCursors != 0 {
		if ro.Cursors, err = cursorstore.Open(ctx, readOnlyURI(cfg.CursorStore)); err != nil {
			return nil, err
		}
	}
	if parts&roRaw != 0 {
		if ro.Raw, err = rawzone.Open(ctx, readOnlyURI(cfg.RawZone)); err != nil {
			return nil, err
		}
	}
	if parts&roWarehouse != 0 {
		if ro.Warehouse, err = warehouse.OpenWaiting(ctx, readOnlyURI(cfg.Warehouse), wait); err != nil {
			return nil, err
		}
	}
	return ro, nil
}

// Close closes what was opened.
func (r *readOnly) Close() error {
	var errs []error
	if r.Cursors != nil {
		errs = append(errs, r.Cursors.Close())
	}
	if r.Raw != nil {
		errs = append(errs, r.Raw.Close())
	}
	if r.Warehouse != nil {
		errs = append(errs, r.Warehouse.Close())
	}
	return errors.Join(errs...)
}

// requireDataDir refuses a local back end whose data dir does not exist.
func requireDataDir(cfg pipeline.Config) error {
	u, err := url.Parse(cfg.RawZone)
	if err != nil || u.Scheme != "file" || cfg.DataDir == "" {
		return nil // a cloud back end: nothing local to find
	}
	st, err := os.Stat(cfg.DataDir)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && !st.IsDir()) {
		return usageErr("no data dir at %s: run `settle run` first or pass --data-dir", cfg.DataDir)
	}
	if err != nil {
		return fmt.Errorf("reading data dir: %w", err)
	}
	return nil
}

// readOnlyURI asks a back end that would otherwise create something when
// opened (file://, duckdb://, bigquery://: directories, a lock, a file, a
// dataset and tables) for read-only access. The others (gs://, Firestore)
// create nothing when opened and are left alone.
func readOnlyURI(uri string) string {
	u, err := url.Parse(uri)
	if err != nil || (u.Scheme != "file" && u.Scheme != "duckdb" && u.Scheme != "bigquery") {
		return uri
	}
	q := u.Query()
	q.Set("access_mode", "read_only")
	u.RawQuery = q.Encode()
	return u.String()
}
