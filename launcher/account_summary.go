package main

import (
	"fmt"
	"io"

	"github.com/marketplace/settle/io/warehouse"
)

// printAccount writes the run's accounting identity and its per-currency
// totals into the summary (nothing for a run that processed nothing).
func printAccount(w io.Writer, a warehouse.RunAccount, totals []warehouse.CurrencyTotal) {
	if a.RunID == "" {
		return
	}
	verdict := "BALANCED"
	if !a.Balanced {
		verdict = "RECONCILIATION FAILED: " + a.Detail
	}
	fmt.Fprintf(w, "  account\t%s\n", verdict)
	fmt.Fprintf(w, "    records read\t%d = unkeyed %d + duplicates %d + superseded %d + stale %d + promoted %d + unchanged %d + rejected %d + held %d\n",
		a.RecordsRead, a.Unkeyed, a.Duplicates, a.Superseded, a.Stale, a.Promoted, a.Unchanged, a.Rejected, a.Held)
	fmt.Fprintf(w, "    pages listed\t%d = read %d + quarantined %d (landed by this run %d)\n",
		a.PagesListed, a.PagesRead, a.PagesQuarantined, a.PagesLanded)
	for _, t := range totals {
		fmt.Fprintf(w, "    %s\t%d rows, total %s\n", t.Currency, t.Count, t.Total)
	}
}
