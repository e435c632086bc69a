//go:build cgo

package status_test

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/marketplace/settle/io/cursorstore"
	"github.com/marketplace/settle/io/warehouse"
	"github.com/marketplace/settle/io/warehouse/duckdb"
	"github.com/marketplace/settle/pipeline"
	"github.com/marketplace/settle/pipeline/status"
	"github.com/marketplace/settle/testing/duckdbhold"
)

func readOnly(ctx context.Context, uri string) (warehouse.Warehouse, bool, error) {
	w, snap, err := duckdb.OpenReadOnly(ctx, strings.TrimPrefix(uri, "duckdb://"))
	if err != nil {
		return nil, false, err
	}
	return w, snap, nil
}

func listTree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, _ os.DirEntry, err error) error {
		if err == nil && p != dir {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// TestGatherOnABrandNewDataDirSaysNoRunsAndCreatesNothing: also a cursor
// directory that exists but is empty gets no lock file (the file store
// opened read-write would create one).
func TestGatherOnABrandNewDataDirSaysNoRunsAndCreatesNothing(t *testing.T) {
	for _, name := range []string{"absent", "empty", "holding an empty cursor directory"} {
		t.Run("a data dir that is "+name, func(t *testing.T) {
			root := t.TempDir()
			dir := filepath.Join(root, "data")
			switch name {
			case "empty":
				if err := os.Mkdir(dir, 0o755); err != nil {
					t.Fatal(err)
				}
			case "holding an empty cursor directory":
				u, err := url.Parse(pipeline.DefaultConfig(dir).CursorStore)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.MkdirAll(u.Path, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			before := listTree(t, root)
			in, err := status.Gather(t.Context(), pipeline.DefaultConfig(dir), readOnly, 100)
			if err != nil {
				t.Fatalf("Gather() = %v", err)
			}
			r := status.Evaluate(in, status.DefaultThresholds(), time.Now())
			if r.Level != status.Unknown || r.Summary != status.NoRunsText {
				t.Errorf("Evaluate = %v %q, want UNKNOWN %q", r.Level, r.Summary, status.NoRunsText)
			}
			if after := listTree(t, root); strings.Join(after, ",") != strings.Join(before, ",") {
				t.Errorf("Gather created files: before %v, after %v", before, after)
			}
		})
	}
}

// ledger writes a warehouse with one good run and returns the config.
func ledger(t *testing.T) (pipeline.Config, *duckdb.Warehouse) {
	t.Helper()
	cfg := pipeline.DefaultConfig(t.TempDir())
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	w, err := duckdb.Open(t.Context(), strings.TrimPrefix(cfg.Warehouse, "duckdb://"), duckdb.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	if err := w.RecordRun(t.Context(), warehouse.Run{RunID: "good", Kind: "run", StartedAt: now.Add(-time.Hour),
		FinishedAt: now, WindowStart: now.Add(-2 * time.Hour), WindowEnd: now.Add(-time.Hour), Outcome: warehouse.OutcomePromoted}); err != nil {
		t.Fatal(err)
	}
	return cfg, w
}

func TestGatherReportsACorruptedLedgerRowInsteadOfCrashing(t *testing.T) {
	tests := []struct {
		name      string
		sql       string
		wantLevel status.Level
		wantText  string
	}{
		{"a run row with an unknown outcome is skipped and named",
			`INSERT INTO runs (run_id, kind, started_at, fetched, duplicates, validated, quarantined, promoted, dead_lettered, outcome)
			 VALUES ('mangled', 'run', now(), 1, 0, 1, 0, 1, 0, 'promot€d')`, status.Warning, `runs "mangled": unknown outcome "promot€d"`},
		{"a run row with NULL counts makes the ledger unreadable, reported",
			`INSERT INTO runs (run_id, kind, started_at, outcome) VALUES ('nulls', 'run', now(), 'promoted')`, status.Unknown, "runs ledger unreadable"},
		{"a metrics row with broken JSON is named",
			`INSERT INTO run_metrics (run_id, finished_at, quarantined_by) VALUES ('good', now(), '{"currency_unknown": tw')`, status.Warning, "run_metrics good: quarantined_by is not a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, w := ledger(t)
			if _, err := w.DB().ExecContext(t.Context(), tt.sql); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			in, err := status.Gather(t.Context(), cfg, readOnly, 100)
			if err != nil {
				t.Fatalf("Gather() = %v", err)
			}
			in.Watermark = time.Now() // complete: only the ledger is judged
			r := status.Evaluate(in, status.DefaultThresholds(), time.Now())
			if r.Level != tt.wantLevel {
				t.Errorf("Level = %v, want %v; checks %+v", r.Level, tt.wantLevel, r.Checks)
			}
			var all []string
			for _, c := range r.Checks {
				all = append(all, c.Text)
			}
			if !strings.Contains(strings.Join(all, "\n"), tt.wantText) {
				t.Errorf("checks do not say %q:\n%s", tt.wantText, strings.Join(all, "\n"))
			}
		})
	}
}

func TestHoldDuckDBForAParent(t *testing.T) { duckdbhold.Child(t) }

func TestGatherAnswersWhileARunHoldsTheWarehouse(t *testing.T) {
	cfg, w := ledger(t)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	path := strings.TrimPrefix(cfg.Warehouse, "duckdb://")
	duckdbhold.Hold(t, "TestHoldDuckDBForAParent", path)
	if _, err := warehouse.Open(t.Context(), cfg.Warehouse); err == nil {
		t.Fatal("the child does not hold the warehouse: a second writer could open it")
	}
	in, err := status.Gather(t.Context(), cfg, readOnly, 100)
	if err != nil {
		t.Fatalf("Gather() = %v", err)
	}
	if in.LedgerError != "" || !in.Snapshot {
		t.Fatalf("Gather while a run holds the warehouse: ledger error %q, snapshot %v; want the ledger read from a snapshot", in.LedgerError, in.Snapshot)
	}
	if len(in.Runs) != 1 || in.Runs[0].RunID != "good" {
		t.Errorf("runs read from the snapshot = %+v, want the one good run", in.Runs)
	}
	if left, _ := filepath.Glob(filepath.Join(os.TempDir(), "settle-snapshot-*", filepath.Base(path))); len(left) > 0 {
		t.Errorf("snapshot copies left behind: %v", left)
	}
}

// TestGatherReadsTheWebhookChannel: a webhook watermark alone marks the
// channel in use; a saved sweep status is read back as saved; a store
// without either leaves both empty.
func TestGatherReadsTheWebhookChannel(t *testing.T) {
	cfg, w := ledger(t)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	gather := func(t *testing.T) status.Inputs {
		t.Helper()
		in, err := status.Gather(t.Context(), cfg, readOnly, 100)
		if err != nil {
			t.Fatalf("Gather() = %v", err)
		}
		return in
	}
	cursors, err := cursorstore.Open(t.Context(), cfg.CursorStore)
	if err != nil {
		t.Fatal(err)
	}
	defer cursors.Close()
	if _, err := cursorstore.SaveWatermark(t.Context(), cursors, cfg.Source, 0, time.Now()); err != nil {
		t.Fatal(err)
	}
	if in := gather(t); in.Webhook != nil || !in.WebhookWatermark.IsZero() {
		t.Errorf("pull only: Webhook %+v, WebhookWatermark %v; want nil and zero", in.Webhook, in.WebhookWatermark)
	}
	wm := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	if _, err := cursorstore.SaveWatermark(t.Context(), cursors, pipeline.WebhookSource, 0, wm); err != nil {
		t.Fatal(err)
	}
	if in := gather(t); in.Webhook != nil || !in.WebhookWatermark.Equal(wm) {
		t.Errorf("webhook runs, no sweep: Webhook %+v, WebhookWatermark %v; want nil and %v", in.Webhook, in.WebhookWatermark, wm)
	}
	st := pipeline.WebhookStatus{CheckedAt: wm, From: wm.Add(-6 * time.Hour), To: wm, SweepVersions: 9, MissedByWebhook: 2,
		MissedSample: []string{"a", "b"}, WebhookEvents: 7, LastReceived: wm.Add(-time.Minute), LagP50: time.Second, LagP99: time.Minute, LagMax: time.Hour}
	if err := pipeline.SaveWebhookStatus(t.Context(), cursors, st); err != nil {
		t.Fatal(err)
	}
	in := gather(t)
	if in.Webhook == nil {
		t.Fatal("Gather after a sweep: Webhook = nil")
	}
	if diff := cmp.Diff(st, *in.Webhook); diff != "" {
		t.Errorf("Webhook (-saved +gathered):\n%s", diff)
	}
}
