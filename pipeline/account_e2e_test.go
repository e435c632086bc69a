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
	"github.com/marketplace/settle/testing/warehousetest"
)

// checkAccounts asserts the accounting identity of every run in the
// ledger that reached a verdict (warehousetest.CheckRunAccounts).
func checkAccounts(t *testing.T, cfg pipeline.Config) {
	t.Helper()
	w, err := warehouse.Open(t.Context(), cfg.Warehouse)
	if err != nil {
		t.Fatalf("opening warehouse: %v", err)
	}
	defer w.Close()
	warehousetest.CheckRunAccounts(t, w)
}

// storedAccount reads the account of runID from cfg's warehouse.
func storedAccount(t *testing.T, cfg pipeline.Config, runID string) (warehouse.RunAccount, []warehouse.CurrencyTotal) {
	t.Helper()
	w, err := warehouse.Open(t.Context(), cfg.Warehouse)
	if err != nil {
		t.Fatalf("opening warehouse: %v", err)
	}
	defer w.Close()
	a, totals, err := w.(warehouse.Accounts).Account(t.Context(), runID)
	if err != nil {
		t.Fatalf("reading the account of %s: %v", runID, err)
	}
	return a, totals
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
	assertReconciliationFailed(t, clean, sum.RunID)
}

// assertReconciliationFailed asserts that the warehouse at uri holds run
// runID as its one failed run naming the reconciliation, with a stored
// account that does not balance on staged_valid, and no settlements.
func assertReconciliationFailed(t *testing.T, uri, runID string) {
	t.Helper()
	w, err := warehouse.Open(t.Context(), uri)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	runs, err := w.Runs(t.Context(), 1)
	if err != nil || len(runs) != 1 || runs[0].RunID != runID || runs[0].Outcome != warehouse.OutcomeFailed || !strings.Contains(runs[0].Detail, "reconciliation failed") {
		t.Fatalf("ledger = %+v, %v; want run %s failed, naming the reconciliation", runs, err, runID)
	}
	a, _, err := w.(warehouse.Accounts).Account(t.Context(), runID)
	if err != nil || a.Balanced || !strings.Contains(a.Detail, "staged_valid") {
		t.Errorf("stored account = %+v, %v; want unbalanced, naming staged_valid", a, err)
	}
	rows, err := w.(*duckdb.Warehouse).Settlements(t.Context())
	if err != nil || len(rows) != 0 {
		t.Errorf("settlements hold %d rows (%v), want none: an unbalanced batch is never promoted", len(rows), err)
	}
}
