package pipeline

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/marketplace/settle/io/cursorstore"
	"github.com/marketplace/settle/io/warehouse"
)

// opsWarehouse records what writeOps writes; the Warehouse methods are
// not called.
type opsWarehouse struct {
	warehouse.Warehouse
	metrics   []warehouse.RunMetrics
	freshness []warehouse.Freshness
}

func (w *opsWarehouse) RecordRunMetrics(_ context.Context, m warehouse.RunMetrics) error {
	w.metrics = append(w.metrics, m)
	return nil
}

func (w *opsWarehouse) RunMetrics(context.Context, int) ([]warehouse.RunMetrics, error) {
	return w.metrics, nil
}

func (w *opsWarehouse) SetFreshness(_ context.Context, f warehouse.Freshness) error {
	w.freshness = append(w.freshness, f)
	return nil
}

func (w *opsWarehouse) Freshness(context.Context) ([]warehouse.Freshness, error) {
	return w.freshness, nil
}

func TestWriteOpsRecordsMetricsAndFreshnessHeldBackByTheOldestParkedWindow(t *testing.T) {
	ctx := t.Context()
	cursors, err := cursorstore.OpenFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	wm := time.Date(2026, 11, 1, 6, 0, 0, 0, time.UTC)
	if _, err := cursorstore.SaveWatermark(ctx, cursors, "s", 0, wm); err != nil {
		t.Fatal(err)
	}
	for _, h := range []int{3, 1} {
		start := time.Date(2026, 11, 1, h, 0, 0, 0, time.UTC)
		key := cursorstore.WindowKey("s", start, start.Add(time.Hour))
		if _, err := cursorstore.SaveWindow(ctx, cursors, key, 0, cursorstore.WindowState{Status: cursorstore.StatusParked, LastError: "503"}); err != nil {
			t.Fatal(err)
		}
	}
	wh := &opsWarehouse{}
	now := time.Date(2026, 11, 1, 7, 0, 0, 0, time.UTC)
	b := &backends{cursors: cursors, wh: wh, source: "s"}
	sum := Summary{RunID: "r1", Kind: KindRun, Requests: 20, RateLimited: 3, Retries: 4, PagesLanded: 15, RecordsLanded: 700,
		ObjectsRead: 15, WindowsParked: 2, QuarantinedBy: map[string]int64{"currency_unknown": 2}}
	if err := writeOps(ctx, b, Options{Now: func() time.Time { return now }}.withDefaults(), sum); err != nil {
		t.Fatalf("writeOps() = %v", err)
	}
	oldest := time.Date(2026, 11, 1, 1, 0, 0, 0, time.UTC)
	wantF := []warehouse.Freshness{{Source: "s", CompleteUpTo: oldest, Watermark: wm, OldestParked: oldest, ParkedWindows: 2, RunID: "r1", AsOf: now}}
	if diff := cmp.Diff(wantF, wh.freshness); diff != "" {
		t.Errorf("freshness (-want +got):\n%s", diff)
	}
	wantM := []warehouse.RunMetrics{{RunID: "r1", Source: "s", Kind: KindRun, FinishedAt: now, Requests: 20, RateLimited: 3, Retries: 4,
		PagesLanded: 15, RecordsLanded: 700, PagesRead: 15, WindowsParked: 2, ParkedTotal: 2,
		QuarantinedBy: map[string]int64{"currency_unknown": 2}, CompleteUpTo: oldest}}
	if diff := cmp.Diff(wantM, wh.metrics); diff != "" {
		t.Errorf("run metrics (-want +got):\n%s", diff)
	}
}
