package pipeline

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"golang.org/x/sync/errgroup"

	"github.com/marketplace/settle/io/cursorstore"
	"github.com/marketplace/settle/io/rawzone"
	"github.com/marketplace/settle/io/vendorapi"
	"github.com/marketplace/settle/io/warehouse"
	"github.com/marketplace/settle/transforms/gate"
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

// backends are the three seams of one run, and the run's lease.
type backends struct {
	cursors cursorstore.Store
	raw     rawzone.Store
	wh      warehouse.Warehouse
	lease   *runLease // nil when not leased
}

// openBackends opens the seams. When lease is not nil it is called with the
// cursor store before anything else is opened: a run refused by the lease
// never touches the raw zone or the warehouse (DuckDB's file admits one
// process at a time).
func openBackends(ctx context.Context, cfg Config, lease func(cursorstore.Store) (*runLease, error)) (*backends, error) {
	b := &backends{}
	cursors, err := cursorstore.Open(ctx, cfg.CursorStore)
	if err != nil {
		return nil, err
	}
	b.cursors = cursors
	if lease != nil {
		if b.lease, err = lease(cursors); err != nil {
			b.close()
			return nil, err
		}
	}
	raw, err := rawzone.Open(ctx, cfg.RawZone)
	if err != nil {
		b.close()
		return nil, err
	}
	b.raw = raw
	wh, err := warehouse.Open(ctx, cfg.Warehouse)
	if err != nil {
		b.close()
		return nil, err
	}
	b.wh = wh
	return b, nil
}

// close closes the warehouse and the raw zone, then releases the lease
// (so the next run finds the warehouse free), then closes the cursor store.
func (b *backends) close() error {
	var errs []error
	if b.wh != nil {
		errs = append(errs, b.wh.Close())
	}
	if b.raw != nil {
		errs = append(errs, b.raw.Close())
	}
	b.lease.end()
	if b.cursors != nil {
		errs = append(errs, b.cursors.Close())
	}
	return errors.Join(errs...)
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
func Run(ctx context.Context, cfg Config, opts Options) (Summary, error) {
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
func Replay(ctx context.Context, cfg Config, opts Options, from, to time.Time) (Summary, error) {
	opts = opts.withDefaults()
	if !from.Before(to) {
		return Summary{}, fmt.Errorf("replay: --from %s is not before --to %s: %w", from.Format(time.RFC3339Nano), to.Format(time.RFC3339Nano), ErrInvalidRange)
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

// PromoteHeld promotes a batch that an earlier run held, after an operator
// checked it. Promoting is idempotent.
func PromoteHeld(ctx context.Context, cfg Config, opts Options, runID string) (Summary, error) {
	opts = opts.withDefaults()
	b, err := openBackends(ctx, cfg, nil)
	if err != nil {
		return Summary{}, err
	}
	defer b.close()
	runs, err := b.wh.Runs(ctx, 1000)
	if err != nil {
		return Summary{}, fmt.Errorf("reading runs ledger: %w", err)
	}
	var held *warehouse.Run
	for i := range runs {
		if runs[i].RunID == runID {
			held = &runs[i]
		}
	}
	if held == nil {
		return Summary{}, fmt.Errorf("promote: run %q is not in the runs ledger (see `settle runs`)", runID)
	}
	if held.Outcome != warehouse.OutcomeHeld {
		return Summary{}, fmt.Errorf("promote: run %q is %s, not held: nothing to promote", runID, held.Outcome)
	}
	ps, err := b.wh.Promote(ctx, runID)
	if err != nil {
		return Summary{}, fmt.Errorf("promoting held run %s: %w", runID, err)
	}
	n := ps.Promoted()
	held.Promoted, held.Corrected, held.Withdrawn = n, ps.Corrected, ps.Withdrawn
	held.Outcome = warehouse.OutcomePromoted
	held.Detail = strings.TrimSpace(held.Detail + "; promoted by an operator at " + opts.Now().UTC().Format(time.RFC3339))
	if err := b.wh.RecordRun(ctx, *held); err != nil {
		return Summary{}, fmt.Errorf("recording promotion of %s: %w", runID, err)
	}
	return Summary{RunID: runID, Kind: KindPromote, From: held.WindowStart, To: held.WindowEnd, Validated: held.Validated,
		Promoted: n, Outcome: warehouse.OutcomePromoted, Detail: held.Detail}, nil
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

// IngestPipeline builds the ingest job: one element per window task,
// reshuffled so the runner can spread windows, into vendorapi.ReadPages.
// Each process gets its share of the vendor's per-token rate limit (see
// WorkerRate).
func IngestPipeline(cfg Config, tasks []vendorapi.Task) *beam.Pipeline {
	p, s := beam.NewPipelineWithRoot()
	rate, burst := WorkerRate(cfg.Rate, cfg.Burst, cfg.Workers, len(tasks))
	vendorapi.ReadPages(s, vendorapi.ReadConfig{
		VendorURL:      cfg.VendorURL,
		TokenEnv:       cfg.TokenEnv,
		TokenSecret:    cfg.TokenSecret,
		RawZone:        cfg.RawZone,
		CursorStore:    cfg.CursorStore,
		PageSize:       cfg.PageSize,
		Rate:           rate,
		Burst:          burst,
		Concurrency:    cfg.Concurrency,
		RetryBudget:    cfg.RetryBudget,
		MaxAttempts:    cfg.MaxAttempts,
		RequestTimeout: 30 * time.Second,
	}, beam.Reshuffle(s, beam.CreateList(s, tasks)))
	return p
}

// ProcessPipeline builds the process job of one chunk of raw objects,
// writing its load files under dir.
func ProcessPipeline(cfg Config, runID, dir string, quarantinedAt time.Time, objects []string) *beam.Pipeline {
	p, s := beam.NewPipelineWithRoot()
	Process(s, ProcessConfig{
		RunID:         runID,
		RawZone:       cfg.RawZone,
		StagingDir:    dir,
		Rules:         cfg.Rules(),
		QuarantinedAt: quarantinedAt.UnixNano(),
	}, objects)
	return p
}

// chunkObjects groups a sorted object list into chunks of whole windows.
func chunkObjects(objects []string, windowsPerChunk int) [][]string {
	var chunks [][]string
	var cur []string
	windows, last := 0, ""
	for _, o := range objects {
		w := o[:strings.LastIndex(o, "/")]
		if w != last {
			if windows == windowsPerChunk {
				chunks = append(chunks, cur)
				cur, windows = nil, 0
			}
			windows++
			last = w
		}
		cur = append(cur, o)
	}
	if len(cur) > 0 {
		chunks = append(chunks, cur)
	}
	return chunks
}

// ingest runs the ingest pipeline over tasks and fills the fetch side of
// the summary from the cursor store and the dead letters.
func ingest(ctx context.Context, cfg Config, opts Options, b *backends, sum *Summary, tasks []vendorapi.Task) error {
	p := IngestPipeline(cfg, tasks)

	stop := startProgress(ctx, cfg, opts, b.cursors, tasks)
	t0 := opts.Now()
	res, err := beam.Run(ctx, cfg.Runner, p)
	stop()
	opts.Logger.Info("phase finished", logKeyPhase, "ingest", logKeyTook, opts.Now().Sub(t0), logKeyRun, sum.RunID)
	if err != nil {
		return fmt.Errorf("ingesting from the vendor: %w", err)
	}
	c := counters(res, "vendorapi")
	sum.PagesLanded = c["pages_landed"]
	sum.RecordsLanded = c["records_landed"]
	sum.Requests = c["fetch_attempts"]
	st, err := windowStates(ctx, cfg, b.cursors, tasks)
	if err != nil {
		return err
	}
	for _, w := range st {
		switch w.State.Status {
		case cursorstore.StatusDone:
			sum.WindowsDone++
		case cursorstore.StatusParked:
			sum.WindowsParked++
		}
	}
	if sum.WindowsParked > 0 {
		dls, err := rawzone.ListDeadLetters(ctx, b.raw, cfg.Source)
		if err != nil {
			return fmt.Errorf("listing dead letters: %w", err)
		}
		for _, d := range dls {
			for _, t := range tasks {
				if w := t.Window(); d.WindowStart.Equal(w.Start) && d.WindowEnd.Equal(w.End) {
					sum.DeadLetters = append(sum.DeadLetters, d)
				}
			}
		}
	}
	return nil
}

// processAndLand processes chunks of raw objects into load files, stages
// them, applies the volume gate and promotes.
func processAndLand(ctx context.Context, cfg Config, opts Options, b *backends, sum *Summary, chunks [][]string, volumeGate bool) error {
	staging := strings.TrimSuffix(cfg.Staging, "/") + "/" + sum.RunID
	t0 := opts.Now()
	files, err := processChunks(ctx, cfg, opts, sum, staging, chunks, t0)
	if err != nil {
		return err
	}
	opts.Logger.Info("phase finished", logKeyPhase, "process", logKeyTook, opts.Now().Sub(t0), logKeyRun, sum.RunID)
	t0 = opts.Now()
	defer func() {
		opts.Logger.Info("phase finished", logKeyPhase, "land", logKeyTook, opts.Now().Sub(t0), logKeyRun, sum.RunID)
	}()
	batch := warehouse.Batch{RunID: sum.RunID}
	for _, f := range files {
		if f.Kind == KindValidated {
			batch.ValidatedFiles = append(batch.ValidatedFiles, f.Path)
		} else {
			batch.QuarantineFiles = append(batch.QuarantineFiles, f.Path)
		}
	}
	if len(files) == 0 {
		sum.Outcome, sum.Detail = warehouse.OutcomePromoted, "no records in the raw zone for these windows"
		needsAttention(sum)
		return nil
	}
	st, err := b.wh.Stage(ctx, batch)
	if err != nil {
		return fmt.Errorf("staging %d load files: %w", len(files), err)
	}
	opts.Logger.Info("staged", logKeyRun, sum.RunID, "validated", st.Validated, "quarantined", st.Quarantined, logKeyTook, opts.Now().Sub(t0))
	sum.Validated, sum.Quarantined = st.Validated, st.Quarantined
	if sum.QuarantinedBy, err = quarantineReasons(ctx, files); err != nil {
		return err
	}
	if volumeGate {
		history, err := b.wh.Runs(ctx, cfg.VolumeHistory*4)
		if err != nil {
			return fmt.Errorf("reading run history for the volume gate: %w", err)
		}
		band := gate.VolumeBand{Tolerance: cfg.VolumeBand, MinHistory: cfg.VolumeMinRuns, Lookback: cfg.VolumeHistory}
		cur := warehouse.Run{RunID: sum.RunID, WindowStart: sum.From, WindowEnd: sum.To, Validated: sum.Validated}
		if hold, detail := gate.CheckVolume(band, cur, history); hold {
			sum.Held, sum.HeldDetail = true, detail
			sum.Outcome = warehouse.OutcomeHeld
			sum.Detail = detail + fmt.Sprintf("; staged, not promoted: check the batch, then `settle promote --run-id %s`", sum.RunID)
			return nil
		}
	}
	tp := opts.Now()
	ps, err := b.promote(ctx, sum.RunID)
	opts.Logger.Info("promoted", logKeyRun, sum.RunID, "inserted", ps.Inserted, "updated", ps.Updated,
		"corrected", ps.Corrected, "withdrawn", ps.Withdrawn, "withheld", ps.Withheld, "stale", ps.Stale, logKeyTook, opts.Now().Sub(tp))
	if err != nil && !errors.Is(err, warehouse.ErrNotStaged) {
		return fmt.Errorf("promoting run %s: %w", sum.RunID, err)
	}
	sum.Promoted = ps.Promoted()
	sum.Corrected, sum.Withdrawn, sum.Withheld, sum.Stale = ps.Corrected, ps.Withdrawn, ps.Withheld, ps.Stale
	// Versions a newer one from another chunk beat are duplicates too:
	// so the count does not depend on the chunk size.
	sum.Duplicates += ps.Superseded
	sum.Outcome = warehouse.OutcomePromoted
	if ps.Changed() == 0 && sum.PagesLanded == 0 {
		sum.Detail = "nothing new: the warehouse already held every version in these windows"
	}
	needsAttention(sum)
	return nil
}

// processChunks runs one process pipeline per chunk, cfg.ProcessParallelism
// at a time: each pipeline is bounded in memory, and prism keeps one core
// busy per pipeline at best, so two at once use both cores of a small
// machine.
func processChunks(ctx context.Context, cfg Config, opts Options, sum *Summary, staging string, chunks [][]string, t0 time.Time) ([]StagedFile, error) {
	var mu sync.Mutex
	var files []StagedFile
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(cfg.ProcessParallelism)
	for i, objects := range chunks {
		dir := fmt.Sprintf("%s/chunk-%04d", staging, i)
		// Prism's job server stages a job's artifacts into a map without a
		// lock (Beam 2.77, jobservices/artifact.go): two jobs submitted at
		// once race, and a concurrent map write kills the process. So the
		// next chunk is submitted only once this one is executing (its
		// first DoFn is set up) or has ended; execution overlaps freely.
		started := awaitStart(dir)
		ended := make(chan struct{})
		g.Go(func() error {
			defer close(ended)
			opts.Logger.Info("processing raw zone", logKeyRun, sum.RunID, logKeyChunk, fmt.Sprintf("%d/%d", i+1, len(chunks)), logKeyObjects, len(objects))
			p := ProcessPipeline(cfg, sum.RunID, dir, t0, objects)
			res, err := beam.Run(gctx, cfg.Runner, p)
			if err != nil {
				return fmt.Errorf("processing chunk %d of %d: %w", i+1, len(chunks), err)
			}
			f, err := listStaged(gctx, dir)
			if err != nil {
				return err
			}
			c := counters(res, "process")
			mu.Lock()
			defer mu.Unlock()
			sum.ObjectsRead += c["pages_read"]
			sum.RecordsRead += c["records_read"]
			sum.Duplicates += c["records_read"] - c["records_unkeyed"] - c["winners"]
			files = append(files, f...)
			return nil
		})
		select {
		case <-started:
		case <-ended:
		case <-gctx.Done():
		}
		forgetStart(dir)
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	return files, nil
}

// needsAttention downgrades a promoted run whose windows are parked.
func needsAttention(sum *Summary) {
	if sum.Outcome == warehouse.OutcomePromoted && sum.WindowsParked > 0 {
		sum.Outcome = warehouse.OutcomeNeedsAttention
		sum.Detail = strings.TrimPrefix(sum.Detail+fmt.Sprintf("; %d window(s) parked on dead letters: see `settle deadletters`, then `settle redrive`", sum.WindowsParked), "; ")
	}
}

// advanceWatermark moves the watermark to the end of the run's leading
// run of done windows: a parked window holds it back, so the next
// scheduled run reads from there again.
func advanceWatermark(ctx context.Context, cfg Config, b *backends, tasks []vendorapi.Task) error {
	st, err := windowStates(ctx, cfg, b.cursors, tasks)
	if err != nil {
		return err
	}
	var mark time.Time
	for _, w := range st {
		if w.State.Status != cursorstore.StatusDone {
			break
		}
		mark = w.End
	}
	if mark.IsZero() {
		return nil
	}
	old, ver, err := cursorstore.LoadWatermark(ctx, b.cursors, cfg.Source)
	if err != nil {
		return fmt.Errorf("reading watermark: %w", err)
	}
	if !mark.After(old) {
		return nil
	}
	if err := b.lease.hold(ctx); err != nil {
		return fmt.Errorf("saving watermark %s: %w", mark.Format(time.RFC3339), err)
	}
	if _, err := cursorstore.SaveWatermark(ctx, b.cursors, cfg.Source, ver, mark); err != nil {
		return fmt.Errorf("saving watermark %s: %w", mark.Format(time.RFC3339), err)
	}
	return nil
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

func counters(res beam.PipelineResult, namespace string) map[string]int64 {
	out := map[string]int64{}
	if res == nil {
		return out
	}
	for _, c := range res.Metrics().AllMetrics().Counters() {
		if c.Key.Namespace == namespace {
			out[c.Key.Name] += c.Result()
		}
	}
	return out
}

// windowState is one window's stored state.
type windowState struct {
	Key        string
	Start, End time.Time
	Version    int64
	State      cursorstore.WindowState
}

func windowStates(ctx context.Context, cfg Config, cursors cursorstore.Store, tasks []vendorapi.Task) ([]windowState, error) {
	out := make([]windowState, 0, len(tasks))
	for _, t := range tasks {
		w := t.Window()
		key := cursorstore.WindowKey(cfg.Source, w.Start, w.End)
		st, ver, err := cursorstore.LoadWindow(ctx, cursors, key)
		if err != nil {
			return nil, err
		}
		out = append(out, windowState{Key: key, Start: w.Start, End: w.End, Version: ver, State: st})
	}
	return out, nil
}

// ParkedWindows lists the source's parked windows, oldest first.
func ParkedWindows(ctx context.Context, cfg Config, cursors cursorstore.Store) ([]windowState, error) {
	prefix := "window/" + cfg.Source + "/"
	keys, err := cursors.List(ctx, prefix)
	if err != nil {
		return nil, fmt.Errorf("listing windows: %w", err)
	}
	var out []windowState
	for _, k := range keys {
		st, ver, err := cursorstore.LoadWindow(ctx, cursors, k)
		if err != nil {
			return nil, err
		}
		if st.Status != cursorstore.StatusParked {
			continue
		}
		bounds := strings.SplitN(strings.TrimPrefix(k, prefix), "_", 2)
		if len(bounds) != 2 {
			return nil, fmt.Errorf("window key %q: want <start>_<end>", k)
		}
		start, err1 := time.Parse(time.RFC3339, bounds[0])
		end, err2 := time.Parse(time.RFC3339, bounds[1])
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("window key %q: %w", k, err)
		}
		out = append(out, windowState{Key: k, Start: start, End: end, Version: ver, State: st})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	return out, nil
}
