//go:build cgo

package pipeline_test

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	_ "github.com/duckdb/duckdb-go/v2"
	_ "github.com/marketplace/settle/io/warehouse/duckdb"

	"github.com/marketplace/settle/io/cursorstore"
	"github.com/marketplace/settle/io/warehouse"
	"github.com/marketplace/settle/pipeline"
	"github.com/marketplace/settle/testing/vendorsim"
)

var simFrom = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// e2eEnv is a simulator behind a loopback server, and a local
// configuration under a temp dir.
type e2eEnv struct {
	sim     *vendorsim.Sim
	simCfg  vendorsim.Config
	handler atomic.Pointer[http.Handler]
	cfg     pipeline.Config
}

const e2eToken = "sim_e2e_token_do_not_log"

func newE2E(t *testing.T, hours, records int, faults vendorsim.Faults) *e2eEnv {
	t.Helper()
	t.Setenv(pipeline.DefaultTokenEnv, e2eToken)
	e := &e2eEnv{simCfg: vendorsim.Config{
		Seed: 7, Records: records, From: simFrom, To: simFrom.Add(time.Duration(hours) * time.Hour),
		Token: e2eToken, Faults: faults,
	}}
	e.setFaults(t, faults)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		(*e.handler.Load()).ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	cfg := pipeline.DefaultConfig(t.TempDir())
	cfg.VendorURL = srv.URL
	cfg.From, cfg.To = simFrom, simFrom.Add(time.Duration(hours)*time.Hour)
	cfg.Rate, cfg.Burst = 200, 200
	cfg.RetryBudget = 90 * time.Second
	cfg.ChunkWindows = 2
	e.cfg = cfg
	return e
}

// setFaults swaps in a simulator of the same data with other faults: the
// vendor recovering, for instance.
func (e *e2eEnv) setFaults(t *testing.T, f vendorsim.Faults) {
	t.Helper()
	c := e.simCfg
	c.Faults = f
	sim, err := vendorsim.New(c)
	if err != nil {
		t.Fatalf("creating simulator: %v", err)
	}
	h := sim.Handler()
	e.sim = sim
	e.handler.Store(&h)
}

func quietOptions() pipeline.Options {
	return pipeline.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

func (e *e2eEnv) run(t *testing.T) pipeline.Summary {
	t.Helper()
	sum, err := pipeline.Run(t.Context(), e.cfg, quietOptions())
	if err != nil {
		t.Fatalf("Run: %v (summary %+v)", err, sum)
	}
	return sum
}

// settlementRow is what the warehouse holds for one id.
type settlementRow struct {
	SellerID, Type, Status, Amount, Fee, Currency string
	UpdatedAt                                     time.Time
}

func readWarehouse(t *testing.T, cfg pipeline.Config) (map[string]settlementRow, map[string]string, []string) {
	t.Helper()
	path := strings.TrimPrefix(cfg.Warehouse, "duckdb://")
	db, err := sql.Open("duckdb", path+"?access_mode=read_only")
	if err != nil {
		t.Fatalf("opening warehouse: %v", err)
	}
	defer db.Close()
	rows, err := db.QueryContext(t.Context(), `SELECT vendor_txn_id, seller_id, type, status, amount::VARCHAR, fee::VARCHAR, currency, updated_at FROM settlements`)
	if err != nil {
		t.Fatalf("reading settlements: %v", err)
	}
	got := map[string]settlementRow{}
	for rows.Next() {
		var id string
		var r settlementRow
		if err := rows.Scan(&id, &r.SellerID, &r.Type, &r.Status, &r.Amount, &r.Fee, &r.Currency, &r.UpdatedAt); err != nil {
			t.Fatalf("scanning settlement: %v", err)
		}
		if _, dup := got[id]; dup {
			t.Errorf("settlements holds %s twice", id)
		}
		got[id] = r
	}
	rows.Close()
	qrows, err := db.QueryContext(t.Context(), `SELECT vendor_txn_id, reason FROM settlements_quarantine`)
	if err != nil {
		t.Fatalf("reading quarantine: %v", err)
	}
	quarantined := map[string]string{}
	var unkeyed []string
	for qrows.Next() {
		var id sql.NullString
		var reason string
		if err := qrows.Scan(&id, &reason); err != nil {
			t.Fatalf("scanning quarantine: %v", err)
		}
		if id.Valid {
			quarantined[id.String] = reason
		} else {
			unkeyed = append(unkeyed, reason)
		}
	}
	qrows.Close()
	return got, quarantined, unkeyed
}

// checkAgainstTruth compares the warehouse with the simulator's ground
// truth for records visible at now: every valid record once, newest
// version, exact amounts; every invalid one in quarantine with its reason;
// nothing else anywhere.
func checkAgainstTruth(t *testing.T, e *e2eEnv, truth []vendorsim.TruthRecord) {
	t.Helper()
	got, quarantined, _ := readWarehouse(t, e.cfg)
	valid := 0
	for _, tr := range truth {
		row, inSettlements := got[tr.VendorTxnID]
		reason, inQuarantine := quarantined[tr.VendorTxnID]
		if !tr.Valid {
			if inSettlements {
				t.Errorf("%s is invalid (%s) but reached settlements", tr.VendorTxnID, tr.Reason)
			}
			if !inQuarantine {
				t.Errorf("%s is invalid (%s) but is not in quarantine", tr.VendorTxnID, tr.Reason)
			} else if reason != tr.Reason {
				t.Errorf("%s quarantined for %q, want %q", tr.VendorTxnID, reason, tr.Reason)
			}
			continue
		}
		valid++
		if !inSettlements {
			t.Errorf("%s (valid, version %d) is missing from settlements (quarantined: %q)", tr.VendorTxnID, tr.Version, reason)
			continue
		}
		if !row.UpdatedAt.Equal(tr.UpdatedAt) {
			t.Errorf("%s updated_at = %s, want newest %s", tr.VendorTxnID, row.UpdatedAt, tr.UpdatedAt)
		}
		if !vendorsim.DecimalEqual(row.Amount, tr.Amount) || !vendorsim.DecimalEqual(row.Fee, tr.Fee) {
			t.Errorf("%s amount, fee = %s, %s, want %s, %s", tr.VendorTxnID, row.Amount, row.Fee, tr.Amount, tr.Fee)
		}
		if row.Currency != tr.Currency || row.Status != tr.Status || row.SellerID != tr.SellerID || row.Type != tr.Type {
			t.Errorf("%s = %+v, want currency %s status %s seller %s type %s", tr.VendorTxnID, row, tr.Currency, tr.Status, tr.SellerID, tr.Type)
		}
	}
	want := map[string]bool{}
	for _, tr := range truth {
		want[tr.VendorTxnID] = true
	}
	for id := range got {
		if !want[id] {
			t.Errorf("settlements holds %s, which the vendor never listed", id)
		}
	}
	if len(got) != valid {
		t.Errorf("settlements has %d rows, want %d valid records", len(got), valid)
	}
}

func TestRunWithEveryFaultMatchesGroundTruth(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end: runs a simulated vendor through prism")
	}
	f := vendorsim.AllFaults()
	f.Poison = 0 // every window must complete here; dead letters have their own test
	f.StickyFor = 2 * time.Second
	f.RetryAfter = 50 * time.Millisecond
	f.SlowDelay = 20 * time.Millisecond
	f.RateLimit, f.Burst = 0, 0
	e := newE2E(t, 4, 3000, f)
	e.cfg.PageSize = 40
	sum := e.run(t)
	st := e.sim.Stats()
	t.Logf("simulator: %d requests, %d pages, 429s %d, 5xx %d, truncated %d, resets %d, bad json %d, resends %d, duplicates %d, junk %d, expired cursors %d",
		st.Requests, st.Pages, st.RateLimited, st.ServerErrors, st.Truncated, st.Resets, st.BadJSON, st.Resends, st.Duplicates, st.Junk, st.CursorsExpired)
	if st.RateLimited == 0 || st.ServerErrors == 0 || st.Truncated+st.Resets+st.BadJSON == 0 {
		t.Errorf("the faults this test is about did not fire: %+v", st)
	}
	if sum.Outcome != warehouse.OutcomePromoted {
		t.Fatalf("outcome = %s (%s), want promoted", sum.Outcome, sum.Detail)
	}
	checkAgainstTruth(t, e, e.sim.Truth())
	if sum.Duplicates == 0 {
		t.Errorf("summary counts no duplicates, but the simulator resent %d records", e.sim.Stats().Resends)
	}
	_, _, unkeyed := readWarehouse(t, e.cfg)
	if st := e.sim.Stats(); st.Junk > 0 && len(unkeyed) == 0 {
		t.Errorf("simulator sent %d junk elements, quarantine holds no unkeyed row", st.Junk)
	}

	// Rerunning the same range is safe: nothing fetched, nothing changed.
	before := e.sim.Stats().Pages
	again := e.run(t)
	if again.Promoted != 0 {
		t.Errorf("rerun changed %d settlements rows, want 0", again.Promoted)
	}
	if got := e.sim.Stats().Pages - before; got != 0 {
		t.Errorf("rerun fetched %d pages, want 0 (every window is done)", got)
	}
	checkAgainstTruth(t, e, e.sim.Truth())
}

func TestRunParksAPageThatNeverRecoversAndRedriveCompletesIt(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	f := vendorsim.NoFaults()
	f.PoisonWindows = []time.Time{simFrom.Add(90 * time.Minute)}
	f.PoisonPage = 1
	e := newE2E(t, 3, 2000, f)
	e.cfg.PageSize = 100
	e.cfg.RetryBudget = 2 * time.Second
	e.cfg.MaxAttempts = 4
	sum := e.run(t)
	if sum.Outcome != warehouse.OutcomeNeedsAttention || sum.ExitCode() != 2 {
		t.Fatalf("outcome = %s (exit %d), want needs_attention (exit 2)", sum.Outcome, sum.ExitCode())
	}
	if sum.WindowsParked != 1 || len(sum.DeadLetters) != 1 {
		t.Fatalf("parked %d windows with %d dead letters, want 1 and 1", sum.WindowsParked, len(sum.DeadLetters))
	}
	if dl := sum.DeadLetters[0]; !dl.WindowStart.Equal(simFrom.Add(time.Hour)) || dl.Page != 1 {
		t.Errorf("dead letter window %s page %d, want %s page 1", dl.WindowStart, dl.Page, simFrom.Add(time.Hour))
	}
	// The other windows were promoted.
	got, _, _ := readWarehouse(t, e.cfg)
	for _, tr := range e.sim.TruthWithin(simFrom, simFrom.Add(time.Hour), time.Now()) {
		if _, ok := got[tr.VendorTxnID]; tr.Valid && !ok {
			t.Fatalf("%s of a healthy window is missing after the run", tr.VendorTxnID)
		}
	}

	// The vendor recovers; redrive finishes the parked window.
	e.setFaults(t, vendorsim.NoFaults())
	red, err := pipeline.Redrive(t.Context(), e.cfg, quietOptions())
	if err != nil {
		t.Fatalf("Redrive: %v", err)
	}
	if red.Outcome != warehouse.OutcomePromoted || red.WindowsParked != 0 {
		t.Fatalf("redrive outcome %s with %d parked, want promoted with 0", red.Outcome, red.WindowsParked)
	}
	checkAgainstTruth(t, e, e.sim.Truth())
}

func TestReplayAfterATransformChangeRemergesWithoutTheVendor(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	e := newE2E(t, 2, 1500, vendorsim.NoFaults())
	e.run(t)
	// Simulate a parsing bug found later: a settlement row was damaged in
	// the warehouse (an older amount). Replay fixes it from the raw zone.
	path := strings.TrimPrefix(e.cfg.Warehouse, "duckdb://")
	db, err := sql.Open("duckdb", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE settlements SET amount = 0, updated_at = updated_at - INTERVAL 1 DAY WHERE vendor_txn_id IN (SELECT vendor_txn_id FROM settlements ORDER BY vendor_txn_id LIMIT 5)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	requests := e.sim.Stats().Requests
	sum, err := pipeline.Replay(t.Context(), e.cfg, quietOptions(), simFrom, simFrom.Add(2*time.Hour))
	if err != nil {
		t.Fatalf("Replay: %v", err)
	}
	if got := e.sim.Stats().Requests - requests; got != 0 {
		t.Errorf("replay sent %d requests to the vendor, want 0", got)
	}
	if sum.Promoted != 5 {
		t.Errorf("replay changed %d rows, want the 5 damaged ones", sum.Promoted)
	}
	checkAgainstTruth(t, e, e.sim.Truth())
}

func TestOverlappingRunIsRefusedWhileTheLeaseIsHeld(t *testing.T) {
	e := newE2E(t, 1, 10, vendorsim.NoFaults())
	ctx := t.Context()
	lease, err := acquireForTest(ctx, e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer lease()
	_, err = pipeline.Run(ctx, e.cfg, quietOptions())
	if err == nil || !strings.Contains(err.Error(), "held") {
		t.Fatalf("Run with the lease held: err = %v, want a lease-held error", err)
	}
}

// acquireForTest takes the source's run lease as another run would.
func acquireForTest(ctx context.Context, cfg pipeline.Config) (release func(), err error) {
	s, err := cursorstore.Open(ctx, cfg.CursorStore)
	if err != nil {
		return nil, err
	}
	l, err := cursorstore.AcquireLease(ctx, s, cfg.Source, "another run", time.Minute, time.Now())
	if err != nil {
		s.Close()
		return nil, err
	}
	return func() { l.Release(context.WithoutCancel(ctx)); s.Close() }, nil
}

func TestMain(m *testing.M) { ptest.MainWithDefault(m, "prism") }
