package warehouse

import (
	"context"
	"time"
)

// RunMetrics is one row of the run_metrics table: a run's operational
// figures, beside its runs ledger row (same run id). Counts are of this run
// only; zero when the run did not get that far.
type RunMetrics struct {
	RunID      string    `json:"run_id"`
	Source     string    `json:"source"`
	Kind       string    `json:"kind"`
	FinishedAt time.Time `json:"finished_at"`
	// Requests are vendor requests, retries included; RateLimited are the
	// answers among them that said "slow down" (429 and kin); Retries are
	// the waits taken before another attempt.
	Requests    int64 `json:"requests"`
	RateLimited int64 `json:"rate_limited"`
	Retries     int64 `json:"retries"`
	// PagesLanded and RecordsLanded were written to the raw zone by this
	// run; PagesRead were processed from it.
	PagesLanded   int64 `json:"pages_landed"`
	RecordsLanded int64 `json:"records_landed"`
	PagesRead     int64 `json:"pages_read"`
	// WindowsParked are this run's windows parked on a dead letter.
	WindowsParked int64 `json:"windows_parked"`
	// ParkedTotal is the source's parked windows after the run, all runs.
	ParkedTotal int64 `json:"parked_total"`
	// QuarantinedBy counts quarantined rows by reason code.
	QuarantinedBy map[string]int64 `json:"quarantined_by"`
	// CompleteUpTo is the source's complete-up-to after the run (see
	// Freshness); zero when unknown.
	CompleteUpTo time.Time `json:"complete_up_to"`
	// Unreadable is set by a reader, never stored: why part of the stored
	// row could not be decoded (the other fields hold what could).
	Unreadable string `json:"unreadable,omitempty"`
}

// Freshness is one row of the freshness table, one per source: how far the
// warehouse holds the source's data completely. Payout queries read it:
// rows with updated_at before CompleteUpTo are final as far as the vendor
// has told us.
type Freshness struct {
	Source string `json:"source"`
	// CompleteUpTo is the watermark, or the start of the oldest parked
	// window if that is earlier: while a window is parked, a newer
	// version of a settlement may sit in it unread.
	CompleteUpTo time.Time `json:"complete_up_to"`
	Watermark    time.Time `json:"watermark"`
	// OldestParked is the start of the oldest parked window; zero when
	// none is parked.
	OldestParked  time.Time `json:"oldest_parked"`
	ParkedWindows int64     `json:"parked_windows"`
	// RunID is the run that wrote the row, AsOf when.
	RunID string    `json:"run_id"`
	AsOf  time.Time `json:"as_of"`
}

// MetricsRecorder is the optional capability of a warehouse that keeps
// run_metrics; find it by type assertion on a Warehouse.
type MetricsRecorder interface {
	// RecordRunMetrics upserts the run's run_metrics row.
	RecordRunMetrics(ctx context.Context, m RunMetrics) error
	// RunMetrics returns the newest n rows by finished_at, newest first.
	// A row that cannot be decoded in full comes back with Unreadable set.
	RunMetrics(ctx context.Context, n int) ([]RunMetrics, error)
}

// FreshnessRecorder is the optional capability of a warehouse that keeps
// the freshness table; find it by type assertion on a Warehouse.
type FreshnessRecorder interface {
	// SetFreshness upserts the source's freshness row.
	SetFreshness(ctx context.Context, f Freshness) error
	// Freshness returns every source's row, ordered by source.
	Freshness(ctx context.Context) ([]Freshness, error)
}
