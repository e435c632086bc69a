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
