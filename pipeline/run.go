package pipeline

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/marketplace/settle/io/cursorstore"
	"github.com/marketplace/settle/io/vendorapi"
	"github.com/marketplace/settle/io/warehouse"
)

// Log attribute keys.
const (
	logKeyRun     = "run_id"
	logKeyKind    = "kind"
	logKeyWindows = "windows"
	logKeyFrom    = "from"
	logKeyTo      = "to"
	logKeyChunk   = "chunk"
	logKeyObjects = "objects"
	logKeyOutcome = "outcome"
	logKeyPhase   = "phase"
	logKeyTook    = "took"
)

// Run kinds, as stored in the runs ledger.
const (
	KindRun     = "run"
	KindReplay  = "replay"
	KindRedrive = "redrive"
	KindPromote = "promote"
)

// ErrNoWatermark is returned by Run when --from is absent and no earlier run
// left a watermark to start from.
var ErrNoWatermark = errors.New("no watermark yet")

// Options are the parts of a run that are not configuration.
type Options struct {
	Logger   *slog.Logger     // nil means slog.Default()
	Progress io.Writer        // progress lines while ingesting; nil means none
	Now      func() time.Time // nil means time.Now
	// ProgressEvery is the interval of progress lines (default 5 s).
	ProgressEvery time.Duration
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = 5 * time.Second
	}
	return o
}

func newRunID(now time.Time) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// Run is one scheduled run: take the lease, ingest [from, to) window by
// window into the raw zone, process those windows from the raw zone, stage
// and (unless the volume is out of band) promote, move the watermark, and
// record the run. The returned error is nil whenever the run reached a
// verdict; Summary.Outcome says which.
//
// On Dataflow the run is one job (RunJob); elsewhere (prism) it is an
// ingest pipeline and process pipelines of cfg.ChunkWindows windows each,
// which bound what prism holds in memory.
func Run(ctx context.Context, cfg Config, opts Options) (Summary, error) {
	if cfg.Runner == "dataflow" {
		return RunJob(ctx, cfg, opts, KindRun, time.Time{}, time.Time{})
	}
	opts = opts.withDefaults()
	ctx, b, sum, started, end, err := begin(ctx, cfg, opts, KindRun, func(b *backends, now time.Time) (time.Time, time.Time, error) {
		return Range(ctx, cfg, b.cursors, now)
	})
	if err != nil {
		return sum, err
	}
	defer end()

	epoch := vendorapi.FormatTime(sum.From) + "_" + vendorapi.FormatTime(sum.To)
	var tasks []vendorapi.Task
	for _, w := range Windows(sum.From, sum.To, cfg.Window) {
		tasks = append(tasks, vendorapi.NewTask(cfg.Source, vendorapi.Window{Start: w[0], End: w[1]}, epoch))
	}
	return finish(ctx, cfg, opts, b, sum, tasks, true, started)
}

// Redrive retries every parked window of the source from its stored cursor,
// processes those windows and promotes them.
func Redrive(ctx context.Context, cfg Config, opts Options) (Summary, error) {
	opts = opts.withDefaults()
	ctx, b, sum, started, end, err := begin(ctx, cfg, opts, KindRedrive, nil)
	if err != nil {
		return sum, err
	}
	defer end()

	parked, err := ParkedWindows(ctx, cfg, b.cursors)
	if err != nil {
		return sum, err
	}
	if len(parked) == 0 {
		opts.Logger.Info("no parked windows: nothing to redrive")
	}
	var tasks []vendorapi.Task
	for _, p := range parked {
		st := p.State
		st.Status = cursorstore.StatusOpen
		st.UpdatedAt = started
		if _, err := cursorstore.SaveWindow(ctx, b.cursors, p.Key, p.Version, st); err != nil {
			return sum, fmt.Errorf("reopening parked window %s: %w", p.Key, err)
		}
		tasks = append(tasks, vendorapi.NewTask(cfg.Source, vendorapi.Window{Start: p.Start, End: p.End}, st.Epoch))
		if sum.From.IsZero() || p.Start.Before(sum.From) {
			sum.From = p.Start
		}
		if p.End.After(sum.To) {
			sum.To = p.End
		}
	}
	return finish(ctx, cfg, opts, b, sum, tasks, false, started)
}

// Replay reprocesses the raw zone of every window that overlaps [from, to)
// (whole, also a clipped window that starts before from) with today's
// transforms and merges the result. It never calls the vendor and never
// moves a cursor; merging is idempotent, so a replay of data that is
// already right changes nothing. A raw zone that does not hold what
// ingestion landed fails it with a *DamagedRawZoneError before anything is
// processed.
//
// On Dataflow a replay of any range is one job (RunJob) whose workers
// share the objects; elsewhere it runs in chunks of cfg.ChunkWindows.
func Replay(ctx context.Context, cfg Config, opts Options, from, to time.Time) (Summary, error) {
	if cfg.Runner == "dataflow" {
		return RunJob(ctx, cfg, opts, KindReplay, from, to)
	}
	opts = opts.withDefaults()
	if err := checkFromBeforeTo("replay", from, to); err != nil {
		return Summary{}, err
	}
	ctx, b, sum, started, end, err := begin(ctx, cfg, opts, KindReplay, func(*backends, time.Time) (time.Time, time.Time, error) {
		return from.UTC(), to.UTC(), nil
	})
	if err != nil {
		return sum, err
	}
	defer end()
	// Every window that overlaps [from, to), whole, checked against what
	// ingestion recorded before anything is processed.
	windows, err := replayWindows(ctx, cfg, b, sum.From, sum.To)
	if err != nil {
		return recordFailure(ctx, b, opts, sum, started, err)
	}
	sum.Windows = len(windows)
	objects, err := verifiedObjects(ctx, cfg, opts, b, sum.RunID, windows)
	if err != nil {
		return recordFailure(ctx, b, opts, sum, started, err)
	}
	opts.Logger.Info("replaying raw zone", logKeyRun, sum.RunID, logKeyFrom, sum.From, logKeyTo, sum.To, logKeyWindows, len(windows), logKeyObjects, len(objects))
	if err := processAndLand(ctx, cfg, opts, b, &sum, chunkObjects(objects, cfg.ChunkWindows), false); err != nil {
		return recordFailure(ctx, b, opts, sum, started, err)
	}
	return record(ctx, b, opts, sum, started)
}

// begin starts a run of kind: it validates cfg, takes the source's lease,
// opens the back ends and resolves the range (rng may be nil). The run
// works under runCtx, which is cancelled if the lease is lost (see
// runLease). end releases the lease and closes the back ends.
func begin(ctx context.Context, cfg Config, opts Options, kind string, rng func(*backends, time.Time) (time.Time, time.Time, error)) (runCtx context.Context, b *backends, sum Summary, started time.Time, end func(), err error) {
	if err := cfg.Validate(); err != nil {
		return nil, nil, sum, started, nil, err
	}
	started = opts.Now()
	sum = Summary{RunID: newRunID(started), Kind: kind}
	runCtx, cancel := context.WithCancelCause(ctx)
	b, err = openBackends(runCtx, cfg, func(cursors cursorstore.Store) (*runLease, error) {
		return takeLease(runCtx, cancel, cfg, cursors, sum.RunID, opts)
	})
	if err != nil {
		cancel(err)
		return nil, nil, sum, started, nil, err
	}
	if rng != nil {
		if sum.From, sum.To, err = rng(b, started); err != nil {
			b.close()
			return nil, nil, Summary{}, started, nil, err
		}
	}
	return runCtx, b, sum, started, func() { b.close() }, nil
}

// finish ingests the tasks, processes their windows and lands the result.
func finish(ctx context.Context, cfg Config, opts Options, b *backends, sum Summary, tasks []vendorapi.Task, volumeGate bool, started time.Time) (Summary, error) {
	sum.Windows = len(tasks)
	opts.Logger.Info("run starting", logKeyRun, sum.RunID, logKeyKind, sum.Kind, logKeyFrom, sum.From, logKeyTo, sum.To, logKeyWindows, len(tasks))
	if len(tasks) > 0 {
		if err := ingestAndTidy(ctx, cfg, opts, b, &sum, tasks); err != nil {
			return recordFailure(ctx, b, opts, sum, started, err)
		}
	}
	windows := make([]rawWindow, 0, len(tasks))
	for _, t := range tasks {
		w := t.Window()
		windows = append(windows, rawWindow{Start: w.Start, End: w.End})
	}
	objects, err := verifiedObjects(ctx, cfg, opts, b, sum.RunID, windows)
	if err != nil {
		return recordFailure(ctx, b, opts, sum, started, err)
	}
	if err := processAndLand(ctx, cfg, opts, b, &sum, chunkObjects(objects, cfg.ChunkWindows), volumeGate); err != nil {
		return recordFailure(ctx, b, opts, sum, started, err)
	}
	if sum.Outcome == warehouse.OutcomePromoted && sum.Kind == KindRun {
		if err := advanceWatermark(ctx, cfg, b, tasks); err != nil {
			return recordFailure(ctx, b, opts, sum, started, err)
		}
	}
	return record(ctx, b, opts, sum, started)
}
