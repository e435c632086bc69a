//go:build cgo

package pipeline_test

import (
	"context"
	"net/http"
	"sync"
	"testing"

	"github.com/marketplace/settle/io/warehouse"
	"github.com/marketplace/settle/pipeline"
	"github.com/marketplace/settle/testing/vendorsim"
)

// TestAnInterruptedRunLeavesAnInterruptedLedgerRow cancels a run's context
// (what SIGINT does) while the vendor holds its first requests: the run
// returns, and the runs ledger holds its row, saying interrupted.
func TestAnInterruptedRunLeavesAnInterruptedLedgerRow(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end: runs prism")
	}
	e := newE2E(t, 2, 200, vendorsim.Faults{})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var once sync.Once
	var held http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		once.Do(cancel) // the operator presses ^C as the first request goes out
		<-r.Context().Done()
	})
	e.handler.Store(&held)

	sum, err := pipeline.Run(ctx, e.cfg, pipeline.Options{})
	if err == nil {
		t.Fatalf("Run after its context was cancelled = nil error, want one")
	}
	if sum.Outcome != warehouse.OutcomeInterrupted {
		t.Errorf("Run outcome = %q, want %q", sum.Outcome, warehouse.OutcomeInterrupted)
	}
	w, err := warehouse.Open(t.Context(), e.cfg.Warehouse)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	runs, err := w.Runs(t.Context(), 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 || runs[0].RunID != sum.RunID || runs[0].Outcome != warehouse.OutcomeInterrupted {
		t.Fatalf("runs ledger = %+v, want one row of run %s, interrupted", runs, sum.RunID)
	}
}
