//go:build cgo

package pipeline_test

import (
	"strings"
	"testing"
	"time"

	"github.com/marketplace/settle/io/cursorstore"
	"github.com/marketplace/settle/io/rawzone"
	"github.com/marketplace/settle/io/warehouse"
	"github.com/marketplace/settle/pipeline"
	"github.com/marketplace/settle/testing/vendorsim"
)

// TestParkedClippedWindowIsSupersededOnceALaterRunReadsItsRange is issue 7
// item 8: a run starting at 00:17 parks its clipped first window
// [00:17, 01:00); a redrive against a vendor still failing on that page
// writes no second dead letter; a later run over [00:00, 02:00) reads the
// whole hour, and the clipped window then stops being reported as parked.
func TestParkedClippedWindowIsSupersededOnceALaterRunReadsItsRange(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	f := vendorsim.NoFaults()
	f.PoisonWindows = []time.Time{simFrom.Add(30 * time.Minute)}
	f.PoisonPage = 1
	e := newE2E(t, 2, 1500, f)
	e.cfg.PageSize = 50
	e.cfg.RetryBudget = 2 * time.Second
	e.cfg.MaxAttempts = 3
	e.cfg.From = simFrom.Add(17 * time.Minute)
	clipped := cursorstore.WindowKey(e.cfg.Source, e.cfg.From, simFrom.Add(time.Hour))

	sum := e.run(t)
	if sum.Outcome != warehouse.OutcomeNeedsAttention || sum.WindowsParked != 1 {
		t.Fatalf("first run: outcome %s with %d parked, want needs_attention with 1", sum.Outcome, sum.WindowsParked)
	}
	raw, err := rawzone.Open(t.Context(), e.cfg.RawZone)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	deadLetterObjects := func() []string {
		t.Helper()
		names, err := raw.List(t.Context(), "deadletter/")
		if err != nil {
			t.Fatal(err)
		}
		return names
	}
	if n := deadLetterObjects(); len(n) != 1 {
		t.Fatalf("dead letter objects after the first run: %q, want 1", n)
	}

	// The vendor still fails on that page: a redrive parks the window
	// again, on the same page and cursor, and that is the same dead letter.
	red, err := pipeline.Redrive(t.Context(), e.cfg, quietOptions())
	if err != nil {
		t.Fatalf("Redrive: %v", err)
	}
	if red.WindowsParked != 1 {
		t.Fatalf("redrive against a failing vendor parked %d windows, want 1", red.WindowsParked)
	}
	if n := deadLetterObjects(); len(n) != 1 {
		t.Errorf("dead letter objects after a redrive that failed on the same page: %q, want still 1", n)
	}

	// The vendor recovers. A later run cuts the hour whole: [00:00, 01:00).
	e.setFaults(t, vendorsim.NoFaults())
	e.cfg.From = simFrom
	sum = e.run(t)
	if sum.Outcome != warehouse.OutcomePromoted {
		t.Fatalf("later run: outcome %s (%s), want promoted", sum.Outcome, sum.Detail)
	}
	cursors, err := cursorstore.Open(t.Context(), e.cfg.CursorStore)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cursors.Close() })
	parked, err := pipeline.ParkedWindows(t.Context(), e.cfg, cursors)
	if err != nil {
		t.Fatal(err)
	}
	if len(parked) != 0 {
		t.Errorf("parked windows after a later run read their whole range: %+v, want none", parked)
	}
	st, _, err := cursorstore.LoadWindow(t.Context(), cursors, clipped)
	if err != nil {
		t.Fatal(err)
	}
	if whole := cursorstore.WindowKey(e.cfg.Source, simFrom, simFrom.Add(time.Hour)); st.Status != cursorstore.StatusSuperseded || !strings.Contains(st.SupersededBy, whole) {
		t.Errorf("clipped window %s: status %q superseded by %q, want superseded by %s", clipped, st.Status, st.SupersededBy, whole)
	}
	checkAgainstTruth(t, e, e.sim.Truth())
}
