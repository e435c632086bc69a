package warehouse

import (
	"context"
	"errors"
	"time"
)

// RunAccount is one row of run_accounts: a run's accounting identity, with
// every term stored so that an auditor can redo the sums (see package
// pipeline/account for the buckets and the equations). Counts are records
// unless named pages.
type RunAccount struct {
	RunID string `json:"run_id"`
	Kind  string `json:"kind"`

	PagesListed      int64 `json:"pages_listed"`      // raw page objects of the run's windows, each processed once
	PagesRead        int64 `json:"pages_read"`        // of which read as pages
	PagesQuarantined int64 `json:"pages_quarantined"` // of which quarantined whole (page_unparseable)
	PagesLanded      int64 `json:"pages_landed"`      // pages this run wrote to the raw zone (ingest runs)

	RecordsRead int64 `json:"records_read"` // records on the pages read
	Unkeyed     int64 `json:"unkeyed"`      // quarantined at once: no usable vendor_txn_id or updated_at
	Duplicates  int64 `json:"duplicates"`   // lost the dedup of their chunk
	Superseded  int64 `json:"superseded"`   // lost to a newer version staged by another chunk of the run
	Stale       int64 `json:"stale"`        // older than the version the warehouse held
	Promoted    int64 `json:"promoted"`     // valid, inserted, updated or corrected in settlements
	Unchanged   int64 `json:"unchanged"`    // valid, the version (and content) the warehouse already held
	Rejected    int64 `json:"rejected"`     // failed the gate and are their settlement's newest: quarantined, withheld
	Held        int64 `json:"held"`         // staged versions the volume gate held back (not promoted)

	Winners     int64 `json:"winners"`      // chunk winners: Valid + Failed
	Valid       int64 `json:"valid"`        // winners that passed the row rules
	Failed      int64 `json:"failed"`       // winners that failed them
	StagedValid int64 `json:"staged_valid"` // rows Stage loaded into staging_settlements
	StagedQuar  int64 `json:"staged_quarantined"`

	// QuarantinedByReason counts the run's staged quarantine rows by
	// reason (pages, unkeyed records and failed winners alike).
	QuarantinedByReason map[string]int64 `json:"quarantined_by_reason"`

	Balanced   bool      `json:"balanced"` // every equation held
	Detail     string    `json:"detail"`   // the equations that failed, when not balanced
	RecordedAt time.Time `json:"recorded_at"`
}

// CurrencyTotal is one row of run_currency_totals: per currency, how many
// settlements rows a run wrote and the exact sum of their amounts, as
// decimal text ("1234.5", no float64 anywhere).
type CurrencyTotal struct {
	Currency string `json:"currency"`
	Count    int64  `json:"count"`
	Total    string `json:"total"`
}

// Accounts is the optional capability of a Warehouse that stores run
// accounts, found by type assertion (w.(warehouse.Accounts)). Both back
// ends implement it.
type Accounts interface {
	// RecordAccount upserts the run's run_accounts row and replaces its
	// run_currency_totals rows with totals.
	RecordAccount(ctx context.Context, a RunAccount, totals []CurrencyTotal) error
	// Account returns the stored account of runID and its currency totals
	// ordered by currency. Returns ErrNoAccount if none is stored.
	Account(ctx context.Context, runID string) (RunAccount, []CurrencyTotal, error)
	// RunTotals computes, per currency, the settlements rows whose run_id
	// is runID (the rows the run's promote wrote and no later run
	// replaced) and the exact sum of their amounts, ordered by currency.
	RunTotals(ctx context.Context, runID string) ([]CurrencyTotal, error)
}

// ErrNoAccount is returned by Accounts.Account for a run without a stored
// account.
var ErrNoAccount = errors.New("no account stored for run")

// RangeReader is the optional capability of a Warehouse that reads the
// settlements rows of a time range (settle reconcile).
type RangeReader interface {
	// SettlementsUpdated returns the settlements rows whose updated_at is
	// in [from, to), ordered by vendor_txn_id, in the text forms of
	// Settlement (money canonical: no trailing fraction zeros).
	SettlementsUpdated(ctx context.Context, from, to time.Time) ([]Settlement, error)
}
