//go:build cgo

package pipeline_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
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
	"github.com/marketplace/settle/testing/truthcheck"
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
	return newE2EWith(t, hours, records, faults, nil)
}

func newE2EWith(t *testing.T, hours, records int, faults vendorsim.Faults, mod func(*vendorsim.Config)) *e2eEnv {
	t.Helper()
	t.Setenv(pipeline.DefaultTokenEnv, e2eToken)
	e := &e2eEnv{simCfg: vendorsim.Config{
		Seed: 7, Records: records, From: simFrom, To: simFrom.Add(time.Duration(hours) * time.Hour),
		Token: e2eToken, Faults: faults,
	}}
	if mod != nil {
		mod(&e.simCfg)
	}
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

func readWarehouse(t *testing.T, cfg pipeline.Config) truthcheck.Warehouse {
	t.Helper()
	return truthcheck.ReadDuckDB(t, "duckdb", truthcheck.DuckDBPath(cfg.Warehouse))
}

func checkAgainstTruth(t *testing.T, e *e2eEnv, truth []vendorsim.TruthRecord) {
	t.Helper()
	truthcheck.Compare(t, readWarehouse(t, e.cfg), truth)
	checkAccounts(t, e.cfg)
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
	// The Beam counters vendorapi/rate_limited and vendorapi/retries reach
	// the summary (and so run_metrics and --metrics-file): every
	// rate-limit answer is retried, since no page is given up here.
	if sum.RateLimited == 0 || sum.Retries < sum.RateLimited || sum.Requests <= sum.Retries {
		t.Errorf("summary: %d requests, %d rate limited, %d retries; want 0 < rate limited <= retries < requests (simulator sent %d 429s)",
			sum.Requests, sum.RateLimited, sum.Retries, st.RateLimited)
	}
	checkAgainstTruth(t, e, e.sim.Truth())
	if sum.Duplicates == 0 {
		t.Errorf("summary counts no duplicates, but the simulator resent %d records", e.sim.Stats().Resends)
	}
	if st := e.sim.Stats(); st.Junk > 0 && len(readWarehouse(t, e.cfg).Unkeyed) == 0 {
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
	got := readWarehouse(t, e.cfg).Settlements
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
	// A parsing bug found later derived wrong amounts from the versions the
	// raw zone holds (same updated_at: the bug, not the vendor, was wrong),
	// and some rows were lost. Replay puts both right from the raw zone.
	const damaged, deleted = 200, 30
	path := strings.TrimPrefix(e.cfg.Warehouse, "duckdb://")
	db, err := sql.Open("duckdb", path)
	if err != nil {
		t.Fatal(err)
	}
	res, err := db.Exec(`UPDATE settlements SET amount = amount + 1, status = 'pending'
		WHERE vendor_txn_id IN (SELECT vendor_txn_id FROM settlements ORDER BY vendor_txn_id LIMIT $1)`, damaged)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != damaged {
		t.Fatalf("damaged %d rows, want %d", n, damaged)
	}
	if _, err := db.Exec(`DELETE FROM settlements WHERE vendor_txn_id IN
		(SELECT vendor_txn_id FROM settlements ORDER BY vendor_txn_id DESC LIMIT $1)`, deleted); err != nil {
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
	if sum.Corrected != damaged || sum.Promoted != damaged+deleted {
		t.Errorf("replay corrected %d and changed %d rows, want the %d damaged corrected and %d changed with the %d deleted",
			sum.Corrected, sum.Promoted, damaged, damaged+deleted, deleted)
	}
	checkAgainstTruth(t, e, e.sim.Truth())
	runs := ledger(t, e.cfg)
	if runs[0].RunID != sum.RunID || runs[0].Corrected != damaged {
		t.Errorf("newest ledger row = %s corrected %d, want %s corrected %d", runs[0].RunID, runs[0].Corrected, sum.RunID, damaged)
	}
}

// ledger returns the runs ledger, newest first.
func ledger(t *testing.T, cfg pipeline.Config) []warehouse.Run {
	t.Helper()
	wh, err := warehouse.Open(t.Context(), cfg.Warehouse)
	if err != nil {
		t.Fatal(err)
	}
	defer wh.Close()
	runs, err := wh.Runs(t.Context(), 100)
	if err != nil {
		t.Fatal(err)
	}
	return runs
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

func TestMain(m *testing.M) {
	restore, err := pipeline.PrivateTempDir()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := ptest.MainRetWithDefault(m, "prism")
	restore()
	os.Exit(code)
}

func TestLateRecordsAreReadByTheNextScheduledRunsLookback(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	f := vendorsim.NoFaults()
	f.Late, f.MaxLag = 0.5, 10*time.Minute
	var now atomic.Int64
	now.Store(simFrom.Add(150 * time.Minute).UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()).UTC() }
	e := newE2EWith(t, 3, 3000, f, func(c *vendorsim.Config) { c.Now = clock })
	e.cfg.From, e.cfg.To = time.Time{}, time.Time{}
	e.cfg.VisibilityLag = 0 // read right up to now: the lookback must make up for it
	e.cfg.Lookback = time.Hour
	opts := quietOptions()
	opts.Now = clock

	// First run: an explicit start, up to "now" (02:30).
	first := e.cfg
	first.From = simFrom
	if _, err := pipeline.Run(t.Context(), first, opts); err != nil {
		t.Fatalf("first run: %v", err)
	}
	to1 := clock()
	missed := len(e.sim.TruthWithin(simFrom, to1, to1.Add(time.Hour))) - len(e.sim.TruthWithin(simFrom, to1, to1))
	late := 0
	for _, tr := range e.sim.TruthWithin(simFrom, to1, to1.Add(time.Hour)) {
		if tr.VisibleAt.After(to1) {
			late++
		}
	}
	if late == 0 {
		t.Fatalf("no record of the first run's range became visible after it (missed %d): the test proves nothing", missed)
	}

	// Second, scheduled run (no --from, no --to) half an hour later.
	now.Store(simFrom.Add(180 * time.Minute).UnixNano())
	sum, err := pipeline.Run(t.Context(), e.cfg, opts)
	if err != nil {
		t.Fatalf("scheduled run: %v", err)
	}
	if want := simFrom.Add(90 * time.Minute); !sum.From.Equal(want) {
		t.Errorf("scheduled run started at %s, want watermark 02:30 minus 1h lookback = %s", sum.From, want)
	}
	truthcheck.Compare(t, readWarehouse(t, e.cfg), e.sim.TruthWithin(simFrom, clock(), clock()))
	t.Logf("%d versions of the first run's range became visible after it; the second run read them", late)
}

func TestCursorExpiryMidWindowRestartsTheChain(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	f := vendorsim.NoFaults()
	f.CursorTTL = 5 * time.Minute
	var skew atomic.Int64
	clock := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	e := newE2EWith(t, 2, 2000, f, func(c *vendorsim.Config) { c.Now = clock })
	e.cfg.PageSize = 50
	e.cfg.Concurrency = 1
	// After a few requests the vendor's clock jumps past every cursor's
	// life: the next page of the chain in flight answers 410.
	var requests atomic.Int64
	inner := *e.handler.Load()
	h := http.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if requests.Add(1) == 8 {
			skew.Store(int64(time.Hour))
		}
		inner.ServeHTTP(w, r)
	}))
	e.handler.Store(&h)
	sum := e.run(t)
	if got := e.sim.Stats().CursorsExpired; got == 0 {
		t.Fatalf("no cursor expired: the test proves nothing")
	}
	if sum.Outcome != warehouse.OutcomePromoted {
		t.Fatalf("outcome %s (%s), want promoted", sum.Outcome, sum.Detail)
	}
	truthcheck.Compare(t, readWarehouse(t, e.cfg), e.sim.Truth())
}

func TestVolumeOutOfBandIsHeldUntilPromoted(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	e := newE2E(t, 3, 1500, vendorsim.NoFaults())
	e.cfg.VolumeMinRuns, e.cfg.VolumeBand = 1, 0.5
	first := e.cfg
	first.To = simFrom.Add(time.Hour)
	if sum, err := pipeline.Run(t.Context(), first, quietOptions()); err != nil || sum.Outcome != warehouse.OutcomePromoted {
		t.Fatalf("first run: %v, outcome %s: want promoted (warm-up)", err, sum.Outcome)
	}
	before := len(readWarehouse(t, e.cfg).Settlements)

	// A sale day: the vendor lists ten times the volume.
	e.simCfg.Records *= 10
	e.setFaults(t, vendorsim.NoFaults())
	second := e.cfg
	second.From = simFrom.Add(time.Hour)
	sum, err := pipeline.Run(t.Context(), second, quietOptions())
	if err != nil {
		t.Fatalf("second run: %v", err)
	}
	if !sum.Held || sum.Outcome != warehouse.OutcomeHeld || sum.ExitCode() != 2 {
		t.Fatalf("second run: held %v, outcome %s, exit %d; want held, exit 2", sum.Held, sum.Outcome, sum.ExitCode())
	}
	if got := len(readWarehouse(t, e.cfg).Settlements); got != before {
		t.Fatalf("a held batch reached settlements: %d rows, want %d", got, before)
	}

	promoted, err := pipeline.PromoteHeld(t.Context(), e.cfg, quietOptions(), sum.RunID)
	if err != nil {
		t.Fatalf("PromoteHeld: %v", err)
	}
	if promoted.Promoted == 0 {
		t.Errorf("promoting the held batch changed no row")
	}
	if got := len(readWarehouse(t, e.cfg).Settlements); got <= before {
		t.Errorf("after promotion settlements has %d rows, want more than %d", got, before)
	}
	if _, err := pipeline.PromoteHeld(t.Context(), e.cfg, quietOptions(), sum.RunID); err == nil {
		t.Errorf("promoting the same run twice: want an error saying it is not held")
	}
}

func TestReplayAfterARuleChangePromotesWhatWasQuarantined(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	e := newE2E(t, 2, 1500, vendorsim.NoFaults())
	// A gate bug: JPY is missing from the allowed currencies.
	buggy := e.cfg
	buggy.AllowedCurrencies = []string{"USD", "EUR", "GBP", "CAD", "AUD"}
	if _, err := pipeline.Run(t.Context(), buggy, quietOptions()); err != nil {
		t.Fatal(err)
	}
	w := readWarehouse(t, e.cfg)
	jpy := 0
	for _, reason := range w.Withheld {
		if reason == "currency_unknown" {
			jpy++
		}
	}
	if jpy == 0 {
		t.Fatal("no JPY record was quarantined by the buggy rules: the test proves nothing")
	}
	requests := e.sim.Stats().Requests
	// The fix ships; replay the raw zone with it.
	if _, err := pipeline.Replay(t.Context(), e.cfg, quietOptions(), simFrom, simFrom.Add(2*time.Hour)); err != nil {
		t.Fatalf("Replay: %v", err)
	}
	if got := e.sim.Stats().Requests - requests; got != 0 {
		t.Errorf("replay sent %d requests to the vendor, want 0", got)
	}
	after := readWarehouse(t, e.cfg)
	// Every record is now where the truth says; the quarantine rows of the
	// buggy run stay as history of what was held back.
	truth := e.sim.Truth()
	for _, tr := range truth {
		if _, ok := after.Settlements[tr.VendorTxnID]; tr.Valid && !ok {
			t.Errorf("%s (valid) is still missing after the replay", tr.VendorTxnID)
		}
	}
	if len(after.Settlements) != len(w.Settlements)+jpy {
		t.Errorf("settlements grew from %d to %d rows, want +%d JPY rows", len(w.Settlements), len(after.Settlements), jpy)
	}
	for id, reason := range after.Withheld {
		if reason == "currency_unknown" {
			t.Errorf("%s is still withheld for currency_unknown after the fix", id)
		}
	}
	checkAgainstTruth(t, e, truth)
}
