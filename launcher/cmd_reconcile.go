package main

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/marketplace/settle/pipeline"
)

// exitDifferent is reconcile's status when the warehouse and the raw zone
// differ (the differences are printed).
const exitDifferent = 2

func cmdReconcile(ctx context.Context, args []string) int {
	fs := newFlagSet("reconcile", "--date D [flags]",
		"Recompute day D (UTC) from the raw zone alone and compare it with the warehouse, per seller and currency\n"+
			"and per settlement; print every difference. Exit 0 equal, 2 different, 1 failure, 3 warehouse in use, 64 usage.")
	var (
		b    backendFlags
		o    outputFlags
		date string
	)
	fs.StringVar(&date, "date", "", "the UTC `day` to reconcile, YYYY-MM-DD: settlements whose newest version's updated_at is in it")
	addBackendFlags(fs, &b)
	addLogFlags(fs, &o)
	if err := parse(fs, args); err != nil {
		return fail("reconcile", err)
	}
	if date == "" {
		return fail("reconcile", usageErr("--date is required (YYYY-MM-DD)"))
	}
	day, err := time.Parse(time.DateOnly, date)
	if err != nil {
		return fail("reconcile", usageErr("--date=%s: want YYYY-MM-DD", date))
	}
	cfg, err := b.config(&o)
	if err != nil {
		return fail("reconcile", err)
	}
	if err := existingLocalData(b, cfg); err != nil {
		return fail("reconcile", err)
	}
	o.logger()
	rep, err := pipeline.Reconcile(ctx, cfg, day, time.Now())
	if err != nil {
		return fail("reconcile", err)
	}
	if err := rep.Write(os.Stdout); err != nil {
		return fail("reconcile", err)
	}
	if !rep.Equal() {
		return exitDifferent
	}
	return exitOK
}

// existingLocalData refuses, as a usage error, a local data directory or
// DuckDB warehouse file that does not exist: a read-only command must not
// create them (opening DuckDB creates its file).
func existingLocalData(b backendFlags, cfg pipeline.Config) error {
	if b.backend != "local" {
		return nil
	}
	if _, err := os.Stat(b.dataDir); errors.Is(err, fs.ErrNotExist) {
		return usageErr("--data-dir=%s does not exist: nothing has run there", b.dataDir)
	}
	if p, ok := strings.CutPrefix(cfg.Warehouse, "duckdb://"); ok {
		p, _, _ = strings.Cut(p, "?")
		if _, err := os.Stat(filepath.FromSlash(p)); errors.Is(err, fs.ErrNotExist) {
			return usageErr("no warehouse at %s: nothing has been promoted from this data dir", p)
		}
	}
	return nil
}
