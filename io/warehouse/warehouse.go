// Package warehouse loads validated and quarantined settlement rows into the
// warehouse (DuckDB locally, BigQuery in the cloud) and keeps the run ledger.
//
// The pipeline never writes rows into the warehouse directly. It writes
// newline-delimited JSON files of Settlement and Quarantined rows (the shape a
// BigQuery load job wants), and a Warehouse stages those files and promotes
// them with one MERGE: newest updated_at wins, an older version never
// overwrites a newer one, and promoting the same files twice changes nothing.
package warehouse

import (
	"context"
	"errors"
	"time"

	"github.com/marketplace/settle/io/internal/scheme"
)

// Settlement is one validated row of the settlements table, as written to a
// staging file (one JSON object per line). Money fields are exact decimal
// strings ("1234.50"); timestamps are RFC 3339 with fraction, in UTC.
type Settlement struct {
	VendorTxnID string  `json:"vendor_txn_id"`
	OrderID     *string `json:"order_id"`
	SellerID    string  `json:"seller_id"`
	Type        string  `json:"type"`
	Status      string  `json:"status"`
	Amount      string  `json:"amount"`
	Fee         string  `json:"fee"`
	Currency    string  `json:"currency"`
	CreatedAt   string  `json:"created_at"`
	UpdatedAt   string  `json:"updated_at"`
	SettledAt   *string `json:"settled_at"`
	// Metadata is the vendor's free-form object, passed through untouched,
	// together with any record fields the contract does not name (under
	// the key "_extra").
	Metadata string `json:"metadata"`
	RunID    string `json:"run_id"`
	RawRef   string `json:"raw_ref"`
}

// Quarantined is one row of settlements_quarantine: a record (or a whole
// page) that did not pass parsing or the row rules, kept with its reason.
type Quarantined struct {
	// QuarantineKey makes loading idempotent: vendor_txn_id + "@" +
	// updated_at when both are known, else raw_ref + "#" + record index.
	QuarantineKey string  `json:"quarantine_key"`
	VendorTxnID   *string `json:"vendor_txn_id"`
	Reason        string  `json:"reason"`
	// Raw is the record (or page) exactly as the vendor sent it, as a JSON
	// string; when the vendor's bytes are not JSON it is a JSON string of
	// them.
	Raw           string `json:"raw"`
	RunID         string `json:"run_id"`
	RawRef        string `json:"raw_ref"`
	QuarantinedAt string `json:"quarantined_at"`
}

// Run outcomes, as stored in the runs table.
const (
	OutcomePromoted       = "promoted"        // every validated row merged
	OutcomeHeld           = "held"            // staged, volume out of band, not promoted
	OutcomeNeedsAttention = "needs_attention" // promoted, but windows are parked
	OutcomeFailed         = "failed"
)

// Run is one row of the runs table.
type Run struct {
	RunID        string    `json:"run_id"`
	Kind         string    `json:"kind"` // run, replay, redrive, promote
	WindowStart  time.Time `json:"window_start"`
	WindowEnd    time.Time `json:"window_end"`
	StartedAt    time.Time `json:"started_at"`
	FinishedAt   time.Time `json:"finished_at"`
	Fetched      int64     `json:"fetched"`       // records read from the raw zone
	Duplicates   int64     `json:"duplicates"`    // records dropped by dedup
	Validated    int64     `json:"validated"`     // rows that passed the gate
	Quarantined  int64     `json:"quarantined"`   // rows quarantined
	Promoted     int64     `json:"promoted"`      // rows inserted or updated by the merge
	DeadLettered int64     `json:"dead_lettered"` // windows parked
	Outcome      string    `json:"outcome"`       // one of the Outcome constants
	Detail       string    `json:"detail"`        // human-readable reason for the outcome
}

// Batch names the staging files of one run.
type Batch struct {
	RunID string
	// ValidatedFiles and QuarantineFiles are NDJSON files of Settlement and
	// Quarantined rows: local paths for DuckDB, gs:// URIs for BigQuery.
	ValidatedFiles  []string
	QuarantineFiles []string
}

// StageStats reports what Stage loaded.
type StageStats struct {
	Validated   int64
	Quarantined int64
}

// Warehouse is the contract every back end meets (see warehousetest).
// Implementations are safe for use by one goroutine at a time.
type Warehouse interface {
	// Stage loads a batch's files into the staging tables under its run id.
	// Staging the same batch again replaces that run's staged rows.
	Stage(ctx context.Context, b Batch) (StageStats, error)
	// Promote merges a run's staged rows into settlements (newest
	// updated_at wins; ties keep the stored row) and its quarantine rows
	// into settlements_quarantine (insert if the key is absent). It returns
	// how many settlements rows were inserted or changed. Promoting twice
	// changes nothing. Returns ErrNotStaged if the run has no staged rows
	// and no staged quarantine rows.
	Promote(ctx context.Context, runID string) (int64, error)
	// RecordRun upserts the run's ledger row.
	RecordRun(ctx context.Context, r Run) error
	// Runs returns the newest n ledger rows, newest first.
	Runs(ctx context.Context, n int) ([]Run, error)
	Close() error
}

// ErrNotStaged is returned by Promote when nothing is staged for the run.
var ErrNotStaged = errors.New("nothing staged for run")

var registry = scheme.New[Warehouse]("warehouse")

// Register makes a back end available to Open under a URI scheme. It is
// called from init functions and panics on a duplicate scheme.
func Register(name string, o scheme.Opener[Warehouse]) { registry.Register(name, o) }

// Open opens the warehouse at uri: duckdb:///path/to/file.duckdb or
// bigquery://project/dataset. On error the Warehouse is nil. Returns an
// error wrapping ErrLocked when another process holds the warehouse open.
func Open(ctx context.Context, uri string) (Warehouse, error) { return registry.Open(ctx, uri) }

// ErrLocked is wrapped by Open's error when the back end admits one process
// at a time and another one has the warehouse open (DuckDB's file lock):
// another settle command is running on the same data.
var ErrLocked = errors.New("warehouse is open in another process")
