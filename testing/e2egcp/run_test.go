package e2egcp_test

import (
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/marketplace/settle/io/warehouse"
	"github.com/marketplace/settle/pipeline"
	"github.com/marketplace/settle/testing/truthcheck"
	"github.com/marketplace/settle/testing/vendorsim"
	"github.com/marketplace/settle/testing/warehousetest"
)

const simToken = "sim_e2egcp_token_do_not_log"

// testOptions logs the pipeline's few Info lines (phases and their
// durations) to the test's log.
func testOptions(t *testing.T) pipeline.Options {
	t.Helper()
	return pipeline.Options{Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil))}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestRunOnTheEmulatorsMatchesGroundTruthAndARerunChangesNothing runs
// pipeline.Run in this process (prism) with firestore://, gs:// and
// bigquery:// back ends against a simulated vendor with faults on.
func TestRunOnTheEmulatorsMatchesGroundTruthAndARerunChangesNothing(t *testing.T) {
	e := newGCPEnv(t)
	const hours, records = 3, 3000
	t.Setenv(envToken, simToken)
	sim, err := vendorsim.New(vendorsim.Config{
		Seed: 11, Records: records, From: simFrom, To: simFrom.Add(hours * time.Hour),
		Token: simToken, Faults: testFaults(),
	})
	if err != nil {
		t.Fatalf("creating simulator: %v", err)
	}
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)

	cfg := e.config(t)
	cfg.VendorURL = srv.URL
	cfg.From, cfg.To = simFrom, simFrom.Add(hours*time.Hour)
	cfg.PageSize = 40
	cfg.Rate, cfg.Burst = 200, 200
	cfg.RetryBudget = 90 * time.Second
	cfg.ChunkWindows = 2

	began := time.Now()
	sum, err := pipeline.Run(t.Context(), cfg, testOptions(t))
	if err != nil {
		t.Fatalf("Run: %v (summary %+v)", err, sum)
	}
	t.Logf("first run took %s: %d pages landed, %d records read, %d duplicates, %d validated, %d quarantined %v, %d promoted",
		time.Since(began).Round(time.Millisecond), sum.PagesLanded, sum.RecordsRead, sum.Duplicates, sum.Validated, sum.Quarantined, sum.QuarantinedBy, sum.Promoted)
	st := sim.Stats()
	t.Logf("simulator: %d requests, %d pages, 429s %d, 5xx %d, truncated %d, resets %d, bad json %d, resends %d, duplicates %d, junk %d",
		st.Requests, st.Pages, st.RateLimited, st.ServerErrors, st.Truncated, st.Resets, st.BadJSON, st.Resends, st.Duplicates, st.Junk)
	if st.RateLimited == 0 || st.ServerErrors == 0 || st.Truncated+st.Resets+st.BadJSON == 0 || st.Resends == 0 || st.Junk == 0 {
		t.Errorf("the faults this test is about did not fire: %+v", st)
	}
	if sum.Outcome != warehouse.OutcomePromoted {
		t.Fatalf("outcome = %s (%s), want %s", sum.Outcome, sum.Detail, warehouse.OutcomePromoted)
	}
	if sum.WindowsDone != hours {
		t.Errorf("%d windows done, want %d", sum.WindowsDone, hours)
	}
	before := e.rows(t)
	checkAgainstTruth(t, before, sim.Truth())
	if got, want := int64(len(before.settlements)), sum.Promoted-sum.Withdrawn; got != want {
		t.Errorf("settlements has %d rows, the run says it promoted %d", got, want)
	}
	if got, want := unkeyed(before.quarantine), st.Junk; got == 0 || int64(got) > want {
		t.Errorf("quarantine holds %d rows without an id, want between 1 and the %d junk elements sent", got, want)
	}

	// Rerunning the same range fetches nothing and changes nothing.
	pages := sim.Stats().Pages
	again, err := pipeline.Run(t.Context(), cfg, testOptions(t))
	if err != nil {
		t.Fatalf("second Run: %v (summary %+v)", err, again)
	}
	if again.Outcome != warehouse.OutcomePromoted {
		t.Errorf("rerun outcome = %s (%s), want %s", again.Outcome, again.Detail, warehouse.OutcomePromoted)
	}
	if again.Promoted != 0 {
		t.Errorf("rerun changed %d settlements rows, want 0", again.Promoted)
	}
	if got := sim.Stats().Pages - pages; got != 0 {
		t.Errorf("rerun fetched %d pages, want 0 (every window is done)", got)
	}
	if diff := cmp.Diff(before, e.rows(t), cmp.AllowUnexported(warehouseRows{})); diff != "" {
		t.Errorf("the warehouse changed by the rerun (-before +after):\n%s", diff)
	}

	// The batching property on BigQuery: a replay cut into one window a
	// chunk (the run used two) changes nothing, and both equal the plain
	// fold over the raw zone on GCS.
	cfg.ChunkWindows = 1
	replay, err := pipeline.Replay(t.Context(), cfg, testOptions(t), cfg.From, cfg.To)
	if err != nil {
		t.Fatalf("Replay with one window a chunk: %v (summary %+v)", err, replay)
	}
	if replay.Promoted != 0 || replay.Withdrawn != 0 {
		t.Errorf("replay with another chunk size changed %d rows and withdrew %d, want 0", replay.Promoted, replay.Withdrawn)
	}
	after := e.rows(t)
	if diff := cmp.Diff(before, after, cmp.AllowUnexported(warehouseRows{})); diff != "" {
		t.Errorf("the warehouse changed by a replay with another chunk size (-before +after):\n%s", diff)
	}
	fold := truthcheck.FoldRawZone(t, cfg.RawZone, cfg.Source, cfg.Rules())
	truthcheck.CompareFold(t, fold, after.settlements, after.withheld)
	// The accounting identity of the run, the rerun and the replay, as
	// stored in BigQuery.
	w, err := warehouse.Open(t.Context(), cfg.Warehouse)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if n := warehousetest.CheckRunAccounts(t, w); n != 3 {
		t.Errorf("checked the accounts of %d runs, want 3", n)
	}
	t.Logf("whole test (emulators started before) took %s", time.Since(began).Round(time.Millisecond))
}
