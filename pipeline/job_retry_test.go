//go:build cgo

package pipeline

import (
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/marketplace/settle/io/cursorstore"
	"github.com/marketplace/settle/io/vendorapi"
	"github.com/marketplace/settle/io/warehouse"
	"github.com/marketplace/settle/testing/vendorsim"
)

// TestJobStepsAreSafeToRetry runs a one-job run on prism, then runs its
// plan and land steps again as Dataflow does with a retried bundle (same
// spec, same load files, object names and process counts): the lease is
// resumed, the warehouse, the watermark, the run's one ledger row and its
// balanced account are unchanged.
func TestJobStepsAreSafeToRetry(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	from := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	to := from.Add(2 * time.Hour)
	const token = "sim_retry_test_token"
	t.Setenv(DefaultTokenEnv, token)
	sim, url, err := vendorsim.Start(vendorsim.Config{Seed: 5, Records: 400, From: from, To: to, Token: token, Faults: vendorsim.NoFaults()})
	if err != nil {
		t.Fatalf("starting the simulator: %v", err)
	}
	t.Cleanup(func() { sim.Close() })
	cfg := DefaultConfig(t.TempDir())
	cfg.VendorURL, cfg.From, cfg.To = url, from, to
	ctx := t.Context()

	spec := NewJobSpec(cfg, KindRun, time.Time{}, time.Time{}, time.Now())
	p, _ := JobPipeline(spec)
	if _, err := beam.Run(ctx, "prism", p); err != nil {
		t.Fatalf("running the job: %v", err)
	}
	type snapshot struct {
		runs      []warehouse.Run
		watermark time.Time
	}
	snap := func(t *testing.T) snapshot {
		t.Helper()
		b, err := openBackends(ctx, cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer b.close()
		runs, err := b.wh.Runs(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		wm, _, err := cursorstore.LoadWatermark(ctx, b.cursors, cfg.Source)
		if err != nil {
			t.Fatal(err)
		}
		return snapshot{runs, wm}
	}
	before := snap(t)
	if len(before.runs) != 1 || before.runs[0].Outcome != warehouse.OutcomePromoted || before.runs[0].Promoted == 0 || !before.watermark.Equal(to) {
		t.Fatalf("after the job: runs %+v, watermark %s; want one promoted run and the watermark at %s", before.runs, before.watermark, to)
	}

	// The plan step again: the lease is free (the job released it) or
	// still the run's, so it resolves the same windows.
	var plans []JobPlan
	if err := (&planFn{Spec: spec}).ProcessElement(ctx, nil, func(p JobPlan) { plans = append(plans, p) }); err != nil {
		t.Fatalf("plan step again: %v", err)
	}
	if len(plans) != 1 || plans[0].Skip != "" || len(plans[0].Windows) != 2 {
		t.Fatalf("plan step again emitted %+v, want the run's 2 windows", plans)
	}
	files, err := listStaged(ctx, cfg.Staging+"/"+spec.RunID+"/job")
	if err != nil || len(files) == 0 {
		t.Fatalf("the job's load files: %v, %v", files, err)
	}
	// The side inputs a retried land bundle gets are the job's own: its
	// object names and process counts, here summed from its stored account.
	acc := storedJobAccount(t, cfg, spec.RunID)
	counts := ProcessCounts{PagesRead: acc.PagesRead, PagesQuarantined: acc.PagesQuarantined, RecordsRead: acc.RecordsRead,
		Unkeyed: acc.Unkeyed, Winners: acc.Winners, Valid: acc.Valid, Failed: acc.Failed}
	var results []JobResult
	err = (&landFn{Spec: spec}).ProcessElement(ctx, plans[0], iter(files),
		func(*vendorapi.LandedPage) bool { return false }, iter(make([]string, acc.PagesListed)), iter([]ProcessCounts{counts}),
		func(r JobResult) { results = append(results, r) })
	if err != nil {
		t.Fatalf("land step again: %v", err)
	}
	if len(results) != 1 || results[0].Outcome != warehouse.OutcomePromoted || results[0].Promoted != 0 {
		t.Errorf("land step again = %+v, want promoted with nothing changed", results)
	}
	after := snap(t)
	if len(after.runs) != 1 || after.runs[0].RunID != spec.RunID || after.runs[0].Validated != before.runs[0].Validated || !after.watermark.Equal(before.watermark) {
		t.Errorf("after the retried steps: runs %+v, watermark %s; want the one run (validated %d) and watermark %s",
			after.runs, after.watermark, before.runs[0].Validated, before.watermark)
	}
	if again := storedJobAccount(t, cfg, spec.RunID); !again.Balanced || again.RecordsRead != acc.RecordsRead || again.Valid != acc.Valid {
		t.Errorf("account after the retried steps = %+v, want balanced with the job's counts (%+v)", again, acc)
	}
}

// iter returns a side input's iterator over items.
func iter[T any](items []T) func(*T) bool {
	return func(v *T) bool {
		if len(items) == 0 {
			return false
		}
		*v, items = items[0], items[1:]
		return true
	}
}

// storedJobAccount reads the stored account of runID from cfg's warehouse.
func storedJobAccount(t *testing.T, cfg Config, runID string) warehouse.RunAccount {
	t.Helper()
	b, err := openBackends(t.Context(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.close()
	a, _, err := b.wh.(warehouse.Accounts).Account(t.Context(), runID)
	if err != nil {
		t.Fatalf("reading the account of %s: %v", runID, err)
	}
	if !a.Balanced {
		t.Errorf("account of %s = %+v, want balanced", runID, a)
	}
	return a
}
