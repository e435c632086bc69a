//go:build cgo

package pipeline

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/marketplace/settle/io/warehouse"
	_ "github.com/marketplace/settle/io/warehouse/duckdb"
)

func TestOpenPerCallPassesTheOperationsTablesThrough(t *testing.T) {
	ctx := t.Context()
	uri := "duckdb://" + filepath.Join(t.TempDir(), "w.duckdb")
	wh, err := warehouse.Open(ctx, uri)
	if err != nil {
		t.Fatal(err)
	}
	held, err := holdOnlyWhileUsed(wh, uri)
	if err != nil {
		t.Fatal(err)
	}
	mr, ok := held.(warehouse.MetricsRecorder)
	if !ok {
		t.Fatalf("%T is not a warehouse.MetricsRecorder", held)
	}
	fr, ok := held.(warehouse.FreshnessRecorder)
	if !ok {
		t.Fatalf("%T is not a warehouse.FreshnessRecorder", held)
	}
	at := time.Date(2026, 11, 1, 6, 0, 0, 0, time.UTC)
	if err := mr.RecordRunMetrics(ctx, warehouse.RunMetrics{RunID: "r1", FinishedAt: at, Retries: 3}); err != nil {
		t.Fatalf("RecordRunMetrics() = %v", err)
	}
	if err := fr.SetFreshness(ctx, warehouse.Freshness{Source: "s", CompleteUpTo: at, AsOf: at}); err != nil {
		t.Fatalf("SetFreshness() = %v", err)
	}
	ms, err := mr.RunMetrics(ctx, 10)
	if err != nil || len(ms) != 1 || ms[0].Retries != 3 {
		t.Errorf("RunMetrics() = %+v, %v; want r1 with 3 retries", ms, err)
	}
	fs, err := fr.Freshness(ctx)
	if err != nil || len(fs) != 1 || !fs[0].CompleteUpTo.Equal(at) {
		t.Errorf("Freshness() = %+v, %v; want s complete up to %v", fs, err, at)
	}
}

// TestOpenPerCallForwardsEveryCapability fails when the DuckDB back end
// gains an optional capability that openPerCall does not pass through:
// the pipeline's type assertions would then skip it without a word.
func TestOpenPerCallForwardsEveryCapability(t *testing.T) {
	ctx := t.Context()
	uri := "duckdb://" + filepath.Join(t.TempDir(), "w.duckdb")
	wh, err := warehouse.Open(ctx, uri)
	if err != nil {
		t.Fatal(err)
	}
	held, err := holdOnlyWhileUsed(wh, uri)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := held.(*openPerCall); !ok {
		t.Fatalf("holdOnlyWhileUsed(duckdb) = %T, want *openPerCall", held)
	}
	direct, err := warehouse.Open(ctx, uri)
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	caps := []struct {
		name   string
		direct bool
		held   bool
	}{
		{"Accounts", is[warehouse.Accounts](direct), is[warehouse.Accounts](held)},
		{"RangeReader", is[warehouse.RangeReader](direct), is[warehouse.RangeReader](held)},
		{"MetricsRecorder", is[warehouse.MetricsRecorder](direct), is[warehouse.MetricsRecorder](held)},
		{"FreshnessRecorder", is[warehouse.FreshnessRecorder](direct), is[warehouse.FreshnessRecorder](held)},
	}
	for _, c := range caps {
		if !c.direct {
			t.Errorf("DuckDB warehouse lacks %s: this list is out of date", c.name)
		}
		if c.direct && !c.held {
			t.Errorf("openPerCall drops %s, which the DuckDB warehouse has", c.name)
		}
	}
}

func is[C any](v any) bool { _, ok := v.(C); return ok }
