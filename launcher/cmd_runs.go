package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/marketplace/settle/io/warehouse"
)

func cmdRuns(ctx context.Context, args []string) int {
	fs := newFlagSet("runs", "[-n N] [flags]", "Print the runs ledger, newest first.")
	var (
		b    backendFlags
		o    outputFlags
		n    int
		wait time.Duration
	)
	fs.IntVar(&n, "n", 20, "newest runs to print, at least 1")
	addBackendFlags(fs, &b)
	addWaitFlag(fs, &wait)
	addLogFlags(fs, &o)
	if err := parse(fs, args); err != nil {
		return fail("runs", err)
	}
	if n < 1 {
		return fail("runs", usageErr("-n=%d: want at least 1", n))
	}
	if wait < 0 {
		return fail("runs", usageErr("--wait=%v: want 0 or more", wait))
	}
	cfg, err := b.config(&o)
	if err != nil {
		return fail("runs", err)
	}
	o.logger()
	ro, err := openReadOnly(ctx, cfg, roWarehouse, wait)
	if errors.Is(err, warehouse.ErrNotExist) {
		fmt.Fprintf(os.Stderr, "settle runs: no runs recorded yet: no warehouse at %s\n", cfg.Warehouse)
		return exitOK
	}
	if err != nil {
		return fail("runs", err)
	}
	runs, err := ro.Warehouse.Runs(ctx, n)
	// The ledger is in memory: let a run have the warehouse back at once.
	ro.Close()
	if err != nil {
		return fail("runs", err)
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "RUN ID\tKIND\tWINDOW\tREAD FROM RAW\tDUPLICATES\tVALIDATED\tQUARANTINED\tPROMOTED\tCORRECTED\tWITHDRAWN\tPARKED\tOUTCOME\tDETAIL")
	for _, r := range runs {
		fmt.Fprintf(w, "%s\t%s\t%s/%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n", r.RunID, r.Kind,
			r.WindowStart.UTC().Format(time.RFC3339Nano), r.WindowEnd.UTC().Format(time.RFC3339Nano),
			r.Fetched, r.Duplicates, r.Validated, r.Quarantined, r.Promoted, r.Corrected, r.Withdrawn,
			r.DeadLettered, r.Outcome, oneLine(r.Detail, 100))
	}
	w.Flush()
	return exitOK
}
