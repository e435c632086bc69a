// Package warehouse loads validated and quarantined settlement rows into the
// warehouse (DuckDB locally, BigQuery in the cloud) and keeps the run ledger.
//
// The pipeline never writes rows into the warehouse directly. It writes
// newline-delimited JSON files of Settlement and Quarantined rows (the shape a
// BigQuery load job wants), and a Warehouse stages those files and promotes
// them.
//
// # What the warehouse holds: a function of the raw zone
//
// Every record the vendor sent is a version of a settlement, identified by
// (vendor_txn_id, updated_at, version_digest), where version_digest is the
// hex of the first 16 bytes of the SHA-256 of the record's raw bytes as the
// vendor listed them (dedup.Digest). Versions are ordered by updated_at,
// then by version_digest (the greater wins): the one tie rule, the same in
// the pipeline's dedup, in every back end and in the reference fold of the
// tests. Copies of one version (resends, page-boundary repeats) are the
// same version; the stored raw_ref is the smallest raw object name holding
// it.
//
// For each vendor_txn_id the newest version ever promoted is the truth:
//   - when it passed the gate, settlements holds exactly that version;
//   - when it failed, settlements holds no row of the id (a row already
//     there is withdrawn) and settlements_withheld holds the version and
//     its reason. A still newer valid version promotes the id again.
//
// An older version never changes anything. The same version promoted again
// replaces the stored row when the derived content differs (a replay after
// a parsing fix corrects history) and changes nothing otherwise. So the
// settlements and settlements_withheld tables depend only on which versions
// were promoted, never on how they were cut into runs and chunks, on their
// order, or on a crash and rerun. settlements_quarantine is the log of
// verdicts: every record that failed, with its reason, inserted once per
// key, and for a withdrawal the version it displaced.
package warehouse

import (
	"context"
	"errors"
	"fmt"
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
	// VersionDigest is the record's version digest (see the package doc):
	// the tiebreak between versions with the same updated_at.
	VersionDigest string `json:"version_digest"`
	RunID         string `json:"run_id"`
	RawRef        string `json:"raw_ref"`
}

// Quarantined is one row of settlements_quarantine: a record (or a whole
// page) that did not pass parsing or the row rules, kept with its reason.
type Quarantined struct {
	// QuarantineKey makes loading idempotent: vendor_txn_id + "@" +
	// updated_at + "#" + version digest for a version of a settlement,
	// else raw_ref + "#" + record index.
	QuarantineKey string  `json:"quarantine_key"`
	VendorTxnID   *string `json:"vendor_txn_id"`
	// UpdatedAt and VersionDigest identify the version when the record
	// has a usable vendor_txn_id and updated_at; both nil otherwise. Only
	// a version takes part in newest-wins (it can withhold its settlement).
	UpdatedAt     *string `json:"updated_at"`
	VersionDigest *string `json:"version_digest"`
	Reason        string  `json:"reason"`
	// Raw is the record (or page) exactly as the vendor sent it, as a JSON
	// string; when the vendor's bytes are not JSON it is a JSON string of
	// them.
	Raw           string `json:"raw"`
	RunID         string `json:"run_id"`
	RawRef        string `json:"raw_ref"`
	QuarantinedAt string `json:"quarantined_at"`
	// DisplacedUpdatedAt and DisplacedDigest name the settlements row
	// this version withdrew, when it did; set by Promote, never in files.
	DisplacedUpdatedAt *string `json:"displaced_updated_at,omitempty"`
	DisplacedDigest    *string `json:"displaced_version_digest,omitempty"`
}

// Withheld is one row of settlements_withheld: a settlement whose newest
// version failed the gate, so that finance sees none of its versions.
type Withheld struct {
	VendorTxnID   string `json:"vendor_txn_id"`
	UpdatedAt     string `json:"updated_at"`
	VersionDigest string `json:"version_digest"`
	Reason        string `json:"reason"`
	QuarantineKey string `json:"quarantine_key"`
	RunID         string `json:"run_id"`
	RawRef        string `json:"raw_ref"`
}

// PromoteStats counts what one Promote changed.
type PromoteStats struct {
	Inserted  int64 // settlements rows added (a new id, or one withheld before)
	Updated   int64 // settlements rows replaced by a newer version
	Corrected int64 // settlements rows of the same version whose content differed
	Withdrawn int64 // settlements rows removed: their newest version failed the gate
	Withheld  int64 // settlements_withheld rows added or moved to a newer version
	Stale     int64 // staged versions older than what the warehouse holds: ignored
	// Superseded counts staged versions that lost to a newer staged
	// version of the same id (one from another chunk of the run).
	Superseded int64
	// Unchanged counts valid candidates of the version the warehouse
	// already held, with the same content: nothing to write.
	Unchanged int64
	// Rejected counts failed candidates that are their settlement's
	// newest version: logged in quarantine and withheld (Withdrawn and
	// Withheld count subsets of them).
	Rejected int64
}

// Versions is how many staged versions the promote accounted for: every
// staged version lands in exactly one of these buckets.
func (p PromoteStats) Versions() int64 {
	return p.Superseded + p.Stale + p.Promoted() + p.Unchanged + p.Rejected
}

// Promoted is how many settlements rows the promote inserted or replaced
// (the runs ledger's promoted).
func (p PromoteStats) Promoted() int64 { return p.Inserted + p.Updated + p.Corrected }

// Changed is how many settlements rows the promote inserted, replaced or
// removed.
func (p PromoteStats) Changed() int64 { return p.Promoted() + p.Withdrawn }

// Run outcomes, as stored in the runs table.
const (
	OutcomePromoted       = "promoted"        // every validated row merged
	OutcomeHeld           = "held"            // staged, volume out of band, not promoted
	OutcomeNeedsAttention = "needs_attention" // promoted, but windows are parked
	OutcomeFailed         = "failed"
	OutcomeInterrupted    = "interrupted" // stopped by SIGINT/SIGTERM (or its context); a rerun resumes
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
	Promoted     int64     `json:"promoted"`      // settlements rows inserted, updated or corrected
	Corrected    int64     `json:"corrected"`     // of which: same version, content corrected
	Withdrawn    int64     `json:"withdrawn"`     // settlements rows removed: newest version invalid
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
	// Promote applies a run's staged versions as the package doc says:
	// per vendor_txn_id the newest version wins (updated_at, then
	// version_digest); a newest version that failed the gate withdraws the
	// settlements row and is withheld; the same version again replaces a
	// row whose content differs. Quarantine rows are inserted if their key
	// is absent. Promoting twice changes nothing, and a Promote interrupted
	// part-way is completed by running it again. Returns ErrNotStaged if
	// the run has no staged rows and no staged quarantine rows.
	Promote(ctx context.Context, runID string) (PromoteStats, error)
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

// OpenWaiting opens the warehouse at uri like Open, retrying for up to wait
// while another process holds it open (see ErrLocked). The error after
// wait still wraps ErrLocked (and names the holder, see LockedError).
func OpenWaiting(ctx context.Context, uri string, wait time.Duration) (Warehouse, error) {
	deadline := time.Now().Add(wait)
	for {
		wh, err := Open(ctx, uri)
		if err == nil || !errors.Is(err, ErrLocked) {
			return wh, err
		}
		if !time.Now().Before(deadline) {
			if wait > 0 {
				err = fmt.Errorf("%w (waited %s)", err, wait)
			}
			return nil, err
		}
		t := time.NewTimer(min(lockPoll, time.Until(deadline)))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("waiting for the warehouse: %w: %w", ctx.Err(), err)
		case <-t.C:
		}
	}
}

// lockPoll is the pause between OpenWaiting's attempts.
const lockPoll = 200 * time.Millisecond

// ErrLocked is wrapped by Open's error when the back end admits one process
// at a time and another one has the warehouse open (DuckDB's file lock):
// another settle command is running on the same data.
var ErrLocked = errors.New("warehouse is open in another process")

// ErrNotExist is wrapped by Open's error when a warehouse opened read-only
// does not exist (a read-only open creates nothing).
var ErrNotExist = errors.New("warehouse does not exist")

// LockedError is Open's error when another process holds the warehouse
// open. It wraps ErrLocked and the back end's own error.
type LockedError struct {
	Path string
	// PID and Program name the process holding the lock, when the back
	// end says (DuckDB does); PID is 0 when unknown.
	PID     int
	Program string
	Err     error
}

func (e *LockedError) Error() string {
	who := "another process"
	if e.PID > 0 {
		who = fmt.Sprintf("process %d (%s)", e.PID, e.Program)
	}
	return fmt.Sprintf("warehouse %s is held open by %s", e.Path, who)
}

func (e *LockedError) Unwrap() []error { return []error{ErrLocked, e.Err} }
