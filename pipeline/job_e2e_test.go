//go:build cgo

package pipeline_test

import (
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/marketplace/settle/io/cursorstore"
	"github.com/marketplace/settle/io/warehouse"
	"github.com/marketplace/settle/pipeline"
	"github.com/marketplace/settle/testing/truthcheck"
	"github.com/marketplace/settle/testing/vendorsim"
)

// TestOneJobRunAndReplayOnPrism runs the one-job shape (the Dataflow one)
// on prism at small scale: a run with the vendor's faults lands the ground
// truth and moves the watermark, a rerun fetches and changes nothing, and
// a replay after the warehouse was damaged repairs it without calling the
// vendor, each as one pipeline.
func TestOneJobRunAndReplayOnPrism(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end: runs a simulated vendor through prism")
	}
	f := vendorsim.AllFaults()
	f.Poison = 0
	f.StickyFor = 2 * time.Second
	f.RetryAfter = 50 * time.Millisecond
	f.SlowDelay = 20 * time.Millisecond
	f.RateLimit, f.Burst = 0, 0
	e := newE2E(t, 3, 1500, f)
	e.cfg.PageSize = 50
	ctx := t.Context()

	sum, err := pipeline.RunJob(ctx, e.cfg, quietOptions(), pipeline.KindRun, time.Time{}, time.Time{})
	if err != nil {
		t.Fatalf("RunJob(run): %v", err)
	}
	if sum.Outcome != warehouse.OutcomePromoted || sum.Promoted == 0 {
		t.Fatalf("one-job run outcome %s (%s), promoted %d; want promoted with rows", sum.Outcome, sum.Detail, sum.Promoted)
	}
	truthcheck.Compare(t, readWarehouse(t, e.cfg), e.sim.Truth())
	checkAccounts(t, e.cfg)
	if runs := ledger(t, e.cfg); runs[0].RunID != sum.RunID || runs[0].Kind != pipeline.KindRun || !runs[0].WindowEnd.Equal(e.cfg.To) {
		t.Errorf("newest ledger row = %+v, want run %s over [.., %s)", runs[0], sum.RunID, e.cfg.To)
	}
	cursors, err := cursorstore.Open(ctx, e.cfg.CursorStore)
	if err != nil {
		t.Fatal(err)
	}
	wm, _, err := cursorstore.LoadWatermark(ctx, cursors, e.cfg.Source)
	cursors.Close()
	if err != nil || !wm.Equal(e.cfg.To) {
		t.Errorf("watermark after the job = %v, %v; want %s", wm, err, e.cfg.To)
	}

	pages := e.sim.Stats().Pages
	again, err := pipeline.RunJob(ctx, e.cfg, quietOptions(), pipeline.KindRun, time.Time{}, time.Time{})
	if err != nil {
		t.Fatalf("RunJob(run) again: %v", err)
	}
	if again.Promoted != 0 || e.sim.Stats().Pages != pages {
		t.Errorf("rerun changed %d rows and fetched %d pages, want 0 and 0", again.Promoted, e.sim.Stats().Pages-pages)
	}

	const damaged = 50
	db, err := sql.Open("duckdb", strings.TrimPrefix(e.cfg.Warehouse, "duckdb://"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE settlements SET amount = amount + 1
		WHERE vendor_txn_id IN (SELECT vendor_txn_id FROM settlements ORDER BY vendor_txn_id LIMIT $1)`, damaged); err != nil {
		t.Fatal(err)
	}
	db.Close()
	requests := e.sim.Stats().Requests
	rep, err := pipeline.RunJob(ctx, e.cfg, quietOptions(), pipeline.KindReplay, simFrom, simFrom.Add(3*time.Hour))
	if err != nil {
		t.Fatalf("RunJob(replay): %v", err)
	}
	if rep.Corrected != damaged || rep.Outcome != warehouse.OutcomePromoted {
		t.Errorf("replay corrected %d (%s), want %d promoted", rep.Corrected, rep.Outcome, damaged)
	}
	if got := e.sim.Stats().Requests - requests; got != 0 {
		t.Errorf("replay sent %d requests to the vendor, want 0", got)
	}
	truthcheck.Compare(t, readWarehouse(t, e.cfg), e.sim.Truth())
	checkAccounts(t, e.cfg)
}

// TestOneJobRunThatLosesAStagedFileFailsReconciliation: the one-job shape
// checks its run's account with the process counts it carries as data, so
// a staging step that drops a validated file fails the job loudly, and the
// run is recorded as failed with its unbalanced account, promoting nothing.
func TestOneJobRunThatLosesAStagedFileFailsReconciliation(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end: runs a simulated vendor through prism")
	}
	e := newE2E(t, 2, 400, vendorsim.Faults{})
	clean := e.cfg.Warehouse
	e.cfg.Warehouse = strings.Replace(clean, "duckdb://", dropFileScheme+"://", 1)
	sum, err := pipeline.RunJob(t.Context(), e.cfg, quietOptions(), pipeline.KindRun, time.Time{}, time.Time{})
	if err == nil || !strings.Contains(err.Error(), "reconciliation failed") || !strings.Contains(err.Error(), "staged_valid") {
		t.Fatalf("RunJob() error = %v, want the job failed on \"reconciliation failed\" naming staged_valid", err)
	}
	assertReconciliationFailed(t, clean, sum.RunID)
}

// TestOneJobDoesNothingWhileTheLeaseIsHeld: the job of a run that finds
// another run holding the lease touches nothing and says so.
func TestOneJobDoesNothingWhileTheLeaseIsHeld(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	e := newE2E(t, 1, 10, vendorsim.NoFaults())
	release, err := acquireForTest(t.Context(), e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	_, err = pipeline.RunJob(t.Context(), e.cfg, quietOptions(), pipeline.KindRun, time.Time{}, time.Time{})
	if !errors.Is(err, cursorstore.ErrLeaseHeld) {
		t.Fatalf("RunJob with the lease held = %v, want ErrLeaseHeld", err)
	}
	if st := e.sim.Stats(); st.Requests != 0 {
		t.Errorf("the job sent %d vendor requests, want 0", st.Requests)
	}
}
