package pipeline

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/marketplace/settle/io/rawzone"
	"github.com/marketplace/settle/io/warehouse"
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
	err := b.wh.RecordRun(ctx, toRun(sum, started, opts.Now()))
	opts.Logger.Info("run finished", logKeyRun, sum.RunID, logKeyOutcome, sum.Outcome)
	if err != nil {
		return sum, fmt.Errorf("recording run %s in the ledger: %w", sum.RunID, err)
	}
	return sum, nil
}

func recordFailure(ctx context.Context, b *backends, opts Options, sum Summary, started time.Time, cause error) (Summary, error) {
	cause, ctx = leaseLost(ctx, cause), context.WithoutCancel(ctx)
	sum.Outcome = warehouse.OutcomeFailed
	sum.Detail = cause.Error()
	sum.Duration = opts.Now().Sub(started)
	if err := b.wh.RecordRun(ctx, toRun(sum, started, opts.Now())); err != nil {
		opts.Logger.Error("recording failed run in the ledger", logKeyRun, sum.RunID, "error", err)
	}
	return sum, cause
}

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
