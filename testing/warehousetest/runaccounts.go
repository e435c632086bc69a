package warehousetest

import (
	"testing"

	"github.com/marketplace/settle/io/warehouse"
	"github.com/marketplace/settle/pipeline/account"
)

// CheckRunAccounts asserts the accounting identity of every run in w's
// ledger that reached a verdict (not failed or interrupted, not an
// operator's promote): its stored account balances, matches the ledger's
// records read and promoted, and its currency totals count between the
// rows it promoted and those plus the ones it found unchanged. It fails t
// when no run has an account. It returns how many runs it checked.
func CheckRunAccounts(t *testing.T, w warehouse.Warehouse) int {
	t.Helper()
	acc, ok := w.(warehouse.Accounts)
	if !ok {
		t.Fatalf("%T keeps no run accounts", w)
	}
	runs, err := w.Runs(t.Context(), 1000)
	if err != nil {
		t.Fatalf("reading runs: %v", err)
	}
	checked := 0
	for _, r := range runs {
		switch r.Outcome {
		case warehouse.OutcomePromoted, warehouse.OutcomeNeedsAttention, warehouse.OutcomeHeld:
		default:
			continue
		}
		if r.Kind == "promote" {
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
		t.Errorf("no run with a verdict and an account in the ledger (%d runs)", len(runs))
	}
	return checked
}
