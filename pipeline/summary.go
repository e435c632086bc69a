package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/marketplace/settle/io/cursorstore"
	"github.com/marketplace/settle/io/rawzone"
	"github.com/marketplace/settle/io/warehouse"
	"github.com/marketplace/settle/pipeline/account"
)

// Summary is what a run did, for the operator and the runs ledger.
type Summary struct {
	RunID string
	Kind  string
	From  time.Time
	To    time.Time

	Windows       int   // windows in the run
	WindowsDone   int   // windows whose chain is complete
	WindowsParked int   // windows parked on a dead letter
	PagesLanded   int64 // pages written to the raw zone by this run
	RecordsLanded int64 // records on those pages
	Requests      int64 // vendor requests, retries included
	RateLimited   int64 // of which answered 429 (or rate-limited 5xx)
	Retries       int64 // waits before another attempt of a page

	ObjectsRead   int64 // raw page objects processed
	RecordsRead   int64 // records on them
	Duplicates    int64 // records dropped as older or repeated versions
	Validated     int64
	Quarantined   int64
	QuarantinedBy map[string]int64 // by reason
	Promoted      int64            // settlements rows inserted, updated or corrected
	Corrected     int64            // of which: the same version with corrected content (a replay's repairs)
	Withdrawn     int64            // settlements rows removed: their newest version failed the gate
	Withheld      int64            // settlements whose newest version failed, newly withheld
	Stale         int64            // versions older than what the warehouse held: ignored
	Held          bool
	HeldDetail    string
	DeadLetters   []rawzone.DeadLetter // of this run's windows

	Outcome  string // warehouse.Outcome…
	Detail   string
	Duration time.Duration

	// Account is the run's accounting identity (pipeline/account), and
	// CurrencyTotals what its promote wrote per currency; both are stored
	// beside the runs ledger when the warehouse keeps accounts.
	Account        warehouse.RunAccount
	CurrencyTotals []warehouse.CurrencyTotal
}

// ExitCode maps the outcome to the launcher's exit status: 0 promoted,
// 2 needs attention (dead letters or a held batch).
func (s Summary) ExitCode() int {
	switch s.Outcome {
	case warehouse.OutcomePromoted:
		return 0
	case warehouse.OutcomeHeld, warehouse.OutcomeNeedsAttention:
		return 2
	default:
		return 1
	}
}

// needsAttention downgrades a promoted run whose windows are parked.
func needsAttention(sum *Summary) {
	if sum.Outcome == warehouse.OutcomePromoted && sum.WindowsParked > 0 {
		sum.Outcome = warehouse.OutcomeNeedsAttention
		sum.Detail = strings.TrimPrefix(sum.Detail+fmt.Sprintf("; %d window(s) parked on dead letters: see `settle deadletters`, then `settle redrive`", sum.WindowsParked), "; ")
	}
}

func record(ctx context.Context, b *backends, opts Options, sum Summary, started time.Time) (Summary, error) {
	sum.Duration = opts.Now().Sub(started)
	if err := recordAccount(ctx, b, opts, &sum); err != nil {
		return recordFailure(ctx, b, opts, sum, started, err)
	}
	err := b.wh.RecordRun(ctx, toRun(sum, started, opts.Now()))
	recordOps(ctx, b, opts, sum)
	opts.Logger.Info("run finished", logKeyRun, sum.RunID, logKeyOutcome, sum.Outcome)
	if err != nil {
		return sum, fmt.Errorf("recording run %s in the ledger: %w", sum.RunID, err)
	}
	return sum, nil
}

// recordFailure records a run that stopped before its verdict: failed,
// or interrupted when ctx ended without its lease being lost (SIGINT,
// SIGTERM). The row is written under a fresh short context, so an
// interrupted run leaves one. The returned error is the first cause (see
// RunnerCause).
func recordFailure(ctx context.Context, b *backends, opts Options, sum Summary, started time.Time, cause error) (Summary, error) {
	interrupted := ctx.Err() != nil && !errors.Is(context.Cause(ctx), cursorstore.ErrLeaseLost)
	cause = RunnerCause(leaseLost(ctx, cause))
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	sum.Outcome = warehouse.OutcomeFailed
	sum.Detail = cause.Error()
	if interrupted {
		sum.Outcome = warehouse.OutcomeInterrupted
		sum.Detail = "interrupted: rerun the same command to resume from the cursors"
		cause = fmt.Errorf("interrupted (%w)", cause)
	}
	sum.Duration = opts.Now().Sub(started)
	// An account is stored for a failed run only when it is the reason:
	// one cut short by another failure is incomplete, not unbalanced.
	if errors.Is(cause, account.ErrUnbalanced) {
		if err := recordAccount(wctx, b, opts, &sum); err != nil {
			opts.Logger.Error("recording failed run's account", logKeyRun, sum.RunID, "error", err)
		}
	}
	if err := b.wh.RecordRun(wctx, toRun(sum, started, opts.Now())); err != nil {
		opts.Logger.Error("recording failed run in the ledger", logKeyRun, sum.RunID, "error", err)
	}
	recordOps(ctx, b, opts, sum)
	return sum, cause
}

// recordTimeout bounds writing the ledger row of a run that failed or was
// interrupted.
const recordTimeout = 15 * time.Second

func toRun(s Summary, started, finished time.Time) warehouse.Run {
	return warehouse.Run{
		RunID: s.RunID, Kind: s.Kind, WindowStart: s.From, WindowEnd: s.To,
		StartedAt: started.UTC(), FinishedAt: finished.UTC(),
		Fetched: s.RecordsRead, Duplicates: s.Duplicates, Validated: s.Validated,
		Quarantined: s.Quarantined, Promoted: s.Promoted, Corrected: s.Corrected, Withdrawn: s.Withdrawn,
		DeadLettered: int64(s.WindowsParked),
		Outcome:      s.Outcome, Detail: s.Detail,
	}
}
