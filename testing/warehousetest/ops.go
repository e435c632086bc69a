package warehousetest

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/marketplace/settle/io/warehouse"
)

// The behaviours of the operations tables (warehouse.MetricsRecorder and
// warehouse.FreshnessRecorder), by subtest name. A back end without the
// capability skips them.
const (
	NameRunMetricsUpsertAndOrder = "run metrics upsert by run id and list newest first"
	NameFreshnessOneRowPerSource = "freshness keeps one row per source, the last one set"
)

var opsTests = []struct {
	name string
	fn   func(t *testing.T, h *harness)
}{
	{NameRunMetricsUpsertAndOrder, testRunMetricsUpsertAndOrder},
	{NameFreshnessOneRowPerSource, testFreshnessOneRowPerSource},
}

func testRunMetricsUpsertAndOrder(t *testing.T, h *harness) {
	m, ok := h.w.(warehouse.MetricsRecorder)
	if !ok {
		t.Skipf("%T does not implement warehouse.MetricsRecorder", h.w)
	}
	ctx := t.Context()
	t0 := time.Date(2026, 11, 1, 6, 0, 0, 123000, time.UTC)
	first := warehouse.RunMetrics{
		RunID: "r1", Source: "settlements", Kind: "run", FinishedAt: t0,
		Requests: 120, RateLimited: 7, Retries: 9, PagesLanded: 110, RecordsLanded: 54000,
		PagesRead: 110, WindowsParked: 1, ParkedTotal: 2,
		QuarantinedBy: map[string]int64{"bad_currency": 3, "negative_fee": 1},
		CompleteUpTo:  t0.Add(-6 * time.Hour),
	}
	second := warehouse.RunMetrics{RunID: "r2", Source: "settlements", Kind: "replay", FinishedAt: t0.Add(time.Hour)}
	for _, r := range []warehouse.RunMetrics{first, second} {
		if err := m.RecordRunMetrics(ctx, r); err != nil {
			t.Fatalf("RecordRunMetrics(%s) = %v", r.RunID, err)
		}
	}
	// The same run again replaces its row.
	first.Retries, first.QuarantinedBy = 10, map[string]int64{"bad_currency": 4}
	if err := m.RecordRunMetrics(ctx, first); err != nil {
		t.Fatalf("RecordRunMetrics(%s) again = %v", first.RunID, err)
	}
	got, err := m.RunMetrics(ctx, 10)
	if err != nil {
		t.Fatalf("RunMetrics() = %v", err)
	}
	want := []warehouse.RunMetrics{second, first}
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("RunMetrics(10) mismatch (-want +got):\n%s", diff)
	}
	got, err = m.RunMetrics(ctx, 1)
	if err != nil {
		t.Fatalf("RunMetrics(1) = %v", err)
	}
	if len(got) != 1 || got[0].RunID != "r2" {
		t.Errorf("RunMetrics(1) = %+v, want only r2", got)
	}
}

func testFreshnessOneRowPerSource(t *testing.T, h *harness) {
	f, ok := h.w.(warehouse.FreshnessRecorder)
	if !ok {
		t.Skipf("%T does not implement warehouse.FreshnessRecorder", h.w)
	}
	ctx := t.Context()
	got, err := f.Freshness(ctx)
	if err != nil {
		t.Fatalf("Freshness() on an empty warehouse = %v", err)
	}
	if len(got) != 0 {
		t.Errorf("Freshness() on an empty warehouse = %+v, want none", got)
	}
	t0 := time.Date(2026, 11, 2, 5, 0, 0, 0, time.UTC)
	a1 := warehouse.Freshness{Source: "a", CompleteUpTo: t0.Add(-3 * time.Hour), Watermark: t0.Add(-time.Hour),
		OldestParked: t0.Add(-3 * time.Hour), ParkedWindows: 2, RunID: "r1", AsOf: t0}
	b := warehouse.Freshness{Source: "b", CompleteUpTo: t0, Watermark: t0, RunID: "r1", AsOf: t0}
	a2 := warehouse.Freshness{Source: "a", CompleteUpTo: t0, Watermark: t0, RunID: "r2", AsOf: t0.Add(time.Minute)}
	for _, r := range []warehouse.Freshness{a1, b, a2} {
		if err := f.SetFreshness(ctx, r); err != nil {
			t.Fatalf("SetFreshness(%s) = %v", r.Source, err)
		}
	}
	got, err = f.Freshness(ctx)
	if err != nil {
		t.Fatalf("Freshness() = %v", err)
	}
	if diff := cmp.Diff([]warehouse.Freshness{a2, b}, got); diff != "" {
		t.Errorf("Freshness() mismatch (-want +got):\n%s", diff)
	}
}
