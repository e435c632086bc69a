//go:build cgo

package pipeline_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"testing"

	"github.com/marketplace/settle/io/warehouse"
	"github.com/marketplace/settle/io/warehouse/duckdb"
	"github.com/marketplace/settle/pipeline"
	"github.com/marketplace/settle/pipeline/account"
	"github.com/marketplace/settle/testing/vendorsim"
)

// checkAccounts asserts the accounting identity of every run in the
// ledger that reached a verdict: its stored account balances, matches the
// ledger, and its currency totals count between the rows it promoted and
// those plus the ones it found unchanged.
func checkAccounts(t *testing.T, cfg pipeline.Config) {
	t.Helper()
	w, err := warehouse.Open(t.Context(), cfg.Warehouse)
	if err != nil {
		t.Fatalf("opening warehouse: %v", err)
	}
	defer w.Close()
	acc, ok := w.(warehouse.Accounts)
	if !ok {
		t.Fatalf("%T keeps no accounts", w)
	}
	runs, err := w.Runs(t.Context(), 1000)
	if err != nil {
		t.Fatalf("reading runs: %v", err)
	}
	checked := 0
	for _, r := range runs {
		if r.Outcome == warehouse.OutcomeFailed || r.Kind == pipeline.KindPromote {
			continue
		}
		a, totals, err := acc.Account(t.Context(), r.RunID)
		if err != nil {
			t.Errorf("run %s (%s): %v", r.RunID, r.Outcome, err)
			continue
		}
		checked++
		if err := account.Check(a, account.Promoted); err != nil || !a.Balanced {
			t.Errorf("run %s: stored account %+v: balanced %v, Check() = %v", r.RunID, a, a.Balanced, err)
		}
		if a.RecordsRead != r.Fetched || a.Promoted != r.Promoted {
			t.Errorf("run %s: account read %d promoted %d, ledger fetched %d promoted %d", r.RunID, a.RecordsRead, a.Promoted, r.Fetched, r.Promoted)
		}
		var n int64
		for _, c := range totals {
			n += c.Count
		}
		if n < a.Promoted || n > a.Promoted+a.Unchanged {
			t.Errorf("run %s: currency totals count %d rows, want between promoted %d and promoted + unchanged %d", r.RunID, n, a.Promoted, a.Promoted+a.Unchanged)
		}
	}
	if checked == 0 {
		t.Errorf("no run with an account in the ledger (%d runs)", len(runs))
	}
}

// dropFileScheme is a DuckDB warehouse whose Stage loses the first
// validated file of every batch: a staging step that silently drops data.
const dropFileScheme = "duckdb-dropfile"

type dropFileWarehouse struct{ *duckdb.Warehouse }

func (w dropFileWarehouse) Stage(ctx context.Context, b warehouse.Batch) (warehouse.StageStats, error) {
	if len(b.ValidatedFiles) > 0 {
		b.ValidatedFiles = b.ValidatedFiles[1:]
	}
	return w.Warehouse.Stage(ctx, b)
}

func init() {
	warehouse.Register(dropFileScheme, func(ctx context.Context, u *url.URL) (warehouse.Warehouse, error) {
		w, err := duckdb.OpenURL(ctx, u)
		if err != nil {
			return nil, err
		}
		return dropFileWarehouse{w}, nil
	})
}

func TestARunThatLosesAStagedFileFailsReconciliation(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end: runs a simulated vendor through prism")
	}
	e := newE2E(t, 2, 400, vendorsim.Faults{})
	clean := e.cfg.Warehouse
	e.cfg.Warehouse = strings.Replace(clean, "duckdb://", dropFileScheme+"://", 1)
	var logs bytes.Buffer
	opts := pipeline.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	sum, err := pipeline.Run(t.Context(), e.cfg, opts)
	if !errors.Is(err, account.ErrUnbalanced) {
		t.Fatalf("Run() error = %v, want account.ErrUnbalanced", err)
	}
	if sum.Outcome != warehouse.OutcomeFailed || sum.ExitCode() != 1 {
		t.Errorf("outcome %s exit %d, want failed and 1", sum.Outcome, sum.ExitCode())
	}
	if !strings.Contains(logs.String(), "reconciliation failed") || !strings.Contains(logs.String(), "staged_valid") {
		t.Errorf("log has no ERROR line \"reconciliation failed\" naming staged_valid:\n%s", logs.String())
	}
	w, err := warehouse.Open(t.Context(), clean)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	runs, err := w.Runs(t.Context(), 1)
	if err != nil || len(runs) != 1 || runs[0].Outcome != warehouse.OutcomeFailed || !strings.Contains(runs[0].Detail, "reconciliation failed") {
		t.Fatalf("ledger = %+v, %v; want one failed run naming the reconciliation", runs, err)
	}
	a, _, err := w.(warehouse.Accounts).Account(t.Context(), sum.RunID)
	if err != nil || a.Balanced || !strings.Contains(a.Detail, "staged_valid") {
		t.Errorf("stored account = %+v, %v; want unbalanced, naming staged_valid", a, err)
	}
	rows, err := w.(*duckdb.Warehouse).Settlements(t.Context())
	if err != nil || len(rows) != 0 {
		t.Errorf("settlements hold %d rows (%v), want none: an unbalanced batch is never promoted", len(rows), err)
	}
}
