package main

import (
	"context"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/marketplace/settle/io/cursorstore"
	"github.com/marketplace/settle/io/rawzone"
	"github.com/marketplace/settle/pipeline"
)

func cmdDeadLetters(ctx context.Context, args []string) int {
	fs := newFlagSet("deadletters", "[flags]", "List parked windows and their dead letters.")
	var (
		b backendFlags
		o outputFlags
	)
	addBackendFlags(fs, &b)
	addLogFlags(fs, &o)
	if err := parse(fs, args); err != nil {
		return fail("deadletters", err)
	}
	cfg, err := b.config(&o)
	if err != nil {
		return fail("deadletters", err)
	}
	o.logger()
	ro, err := openReadOnly(ctx, cfg, roCursors|roRaw, 0)
	if err != nil {
		return fail("deadletters", err)
	}
	defer ro.Close()
	cursors, raw := ro.Cursors, ro.Raw
	parked, err := pipeline.ParkedWindows(ctx, cfg, cursors)
	if err != nil {
		return fail("deadletters", err)
	}
	dls, err := rawzone.ListDeadLetters(ctx, raw, cfg.Source)
	if err != nil {
		return fail("deadletters", err)
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "WINDOW\tSTATE\tPAGE\tATTEMPTS\tLAST FAILURE\tLAST ERROR")
	isParked := map[string]bool{}
	for _, p := range parked {
		isParked[p.Start.Format(time.RFC3339Nano)+p.End.Format(time.RFC3339Nano)] = true
	}
	for _, d := range dls {
		state := "redriven"
		if isParked[d.WindowStart.UTC().Format(time.RFC3339Nano)+d.WindowEnd.UTC().Format(time.RFC3339Nano)] {
			state = "PARKED"
		} else if st, _, err := cursorstore.LoadWindow(ctx, cursors, cursorstore.WindowKey(cfg.Source, d.WindowStart, d.WindowEnd)); err == nil && st.Status == cursorstore.StatusSuperseded {
			state = "superseded (range read since)"
		}
		fmt.Fprintf(w, "%s/%s\t%s\t%d\t%d\t%s\t%s\n", d.WindowStart.UTC().Format(time.RFC3339Nano), d.WindowEnd.UTC().Format(time.RFC3339Nano),
			state, d.Page, d.Attempts, d.LastFailure.UTC().Format(time.RFC3339), oneLine(d.LastError, 120))
	}
	w.Flush()
	fmt.Printf("\n%d parked window(s), %d dead letter(s) in all. Retry parked windows with `settle redrive --vendor-url ...`.\n", len(parked), len(dls))
	if len(parked) > 0 {
		return exitAttention
	}
	return exitOK
}
