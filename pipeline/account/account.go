// Package account checks a run's accounting identity: every record the run
// read from the raw zone ends in exactly one bucket, and every page object
// of its windows was processed exactly once.
//
// # Buckets
//
// A run lists the page objects of its windows in the raw zone
// (PagesListed) and processes each once: it is read as a page
// (PagesRead) or, when its body is not a usable page, quarantined whole
// (PagesQuarantined). Pages landed by an ingest run (run, redrive) are
// among those listed: before processing, every object a window's state
// records as landed is checked to be in the raw zone (pipeline/verify.go),
// so "pages landed = pages processed" holds as pages_listed = pages_read +
// pages_quarantined. PagesLanded (this run's landings, a re-read page
// counted again) is kept for information and is not an equation term.
//
// Every record on the pages read (RecordsRead) is in exactly one of:
//
//   - Unkeyed: no usable vendor_txn_id or updated_at; quarantined at once,
//     keyed by its place in the raw zone.
//   - Duplicates: lost the dedup of its chunk (a copy of the winning
//     version, or an older version of the id in the same chunk).
//   - Superseded: won its chunk but lost to a newer version of the id
//     staged by another chunk of the same run.
//   - Stale: the run's newest version of the id, older than the version
//     the warehouse already held (valid or failed alike).
//   - Promoted: a valid newest version written to settlements (inserted,
//     updated, or the same version with corrected content).
//   - Unchanged: a valid newest version the warehouse already held with
//     the same content.
//   - Rejected: a newest version that failed the row rules: logged in
//     settlements_quarantine and withheld (withdrawing any older row).
//   - Held: staged but not promoted, because the volume gate held the
//     batch (then Superseded..Rejected are zero until `settle promote`).
//
// "Quarantined" in the sense is Unkeyed + Rejected; by reason, the
// account keeps the staged quarantine rows (pages, unkeyed records and
// failed winners, Stale or Superseded ones included).
//
// # Equations
//
// After staging (the pipeline's counters against what the warehouse
// loaded):
//
//	pages_listed       = pages_read + pages_quarantined
//	records_read       = unkeyed + duplicates + winners
//	winners            = valid + failed                    (pass two judged every winner)
//	staged_valid       = valid                             (every validated row was loaded)
//	staged_quarantined = failed + unkeyed + pages_quarantined
//	Σ quarantined_by_reason = staged_quarantined
//
// After promote (the warehouse's plan against what was staged):
//
//	valid + failed = superseded + stale + promoted + unchanged + rejected + held
//	records_read   = unkeyed + duplicates + superseded + stale + promoted + unchanged + rejected + held
//
// and no term is negative. A run whose account does not balance fails.
package account

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/marketplace/settle/io/warehouse"
)

// Phase says how far a run got, and so which equations apply.
type Phase int

const (
	// Staged: the load files are staged, nothing promoted yet.
	Staged Phase = iota
	// Promoted: the staged versions were promoted, or held (Held set).
	Promoted
)

// ErrUnbalanced is wrapped by *Error.
// Its text is what the log-based alert matches.
var ErrUnbalanced = errors.New("reconciliation failed")

// Error lists the equations of a run's account that do not hold.
type Error struct {
	RunID  string
	Failed []string // one line per equation, with both sides' values
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s: the account of run %s does not balance: %s", ErrUnbalanced, e.RunID, strings.Join(e.Failed, "; "))
}

// Unwrap makes errors.Is(err, ErrUnbalanced) true.
func (e *Error) Unwrap() error { return ErrUnbalanced }

// Quarantined is the records of a that ended quarantined: Unkeyed +
// Rejected.
func Quarantined(a warehouse.RunAccount) int64 { return a.Unkeyed + a.Rejected }

// Check returns nil when every equation of phase holds for a, else an
// *Error naming each one that does not.
func Check(a warehouse.RunAccount, phase Phase) error {
	var failed []string
	eq := func(name string, lhs int64, rhs int64, rhsText string) {
		if lhs != rhs {
			failed = append(failed, fmt.Sprintf("%s %d != %s %d", name, lhs, rhsText, rhs))
		}
	}
	terms := map[string]int64{
		"pages_listed": a.PagesListed, "pages_read": a.PagesRead, "pages_quarantined": a.PagesQuarantined,
		"records_read": a.RecordsRead, "unkeyed": a.Unkeyed,
		"duplicates": a.Duplicates, "superseded": a.Superseded, "stale": a.Stale, "promoted": a.Promoted,
		"unchanged": a.Unchanged, "rejected": a.Rejected, "held": a.Held, "winners": a.Winners,
		"valid": a.Valid, "failed": a.Failed, "staged_valid": a.StagedValid, "staged_quarantined": a.StagedQuar,
	}
	for _, name := range slices.Sorted(maps.Keys(terms)) {
		if terms[name] < 0 {
			failed = append(failed, fmt.Sprintf("%s %d < 0", name, terms[name]))
		}
	}
	eq("pages_listed", a.PagesListed, a.PagesRead+a.PagesQuarantined, "pages_read + pages_quarantined")
	eq("records_read", a.RecordsRead, a.Unkeyed+a.Duplicates+a.Winners, "unkeyed + duplicates + winners")
	eq("winners", a.Winners, a.Valid+a.Failed, "valid + failed")
	eq("staged_valid", a.StagedValid, a.Valid, "valid")
	eq("staged_quarantined", a.StagedQuar, a.Failed+a.Unkeyed+a.PagesQuarantined, "failed + unkeyed + pages_quarantined")
	var byReason int64
	for _, n := range a.QuarantinedByReason {
		byReason += n
	}
	eq("Σ quarantined_by_reason", byReason, a.StagedQuar, "staged_quarantined")
	if phase == Promoted {
		after := a.Superseded + a.Stale + a.Promoted + a.Unchanged + a.Rejected + a.Held
		eq("valid + failed", a.Valid+a.Failed, after, "superseded + stale + promoted + unchanged + rejected + held")
		eq("records_read", a.RecordsRead, a.Unkeyed+a.Duplicates+after,
			"unkeyed + duplicates + superseded + stale + promoted + unchanged + rejected + held")
	}
	if len(failed) == 0 {
		return nil
	}
	return &Error{RunID: a.RunID, Failed: failed}
}

// Balance checks a for phase and records the verdict in a.Balanced and
// a.Detail. It returns Check's error.
func Balance(a *warehouse.RunAccount, phase Phase) error {
	err := Check(*a, phase)
	a.Balanced, a.Detail = err == nil, ""
	var e *Error
	if errors.As(err, &e) {
		a.Detail = strings.Join(e.Failed, "; ")
	}
	return err
}

// ApplyPromote fills a's promote buckets from what the warehouse's
// Promote reported.
func ApplyPromote(a *warehouse.RunAccount, ps warehouse.PromoteStats) {
	a.Superseded, a.Stale, a.Promoted = ps.Superseded, ps.Stale, ps.Promoted()
	a.Unchanged, a.Rejected, a.Held = ps.Unchanged, ps.Rejected, 0
}

// HoldAll puts every staged version of a in Held: the volume gate held
// the batch.
func HoldAll(a *warehouse.RunAccount) {
	a.Superseded, a.Stale, a.Promoted, a.Unchanged, a.Rejected = 0, 0, 0, 0, 0
	a.Held = a.Valid + a.Failed
}
