package pipeline

// The one-job shape of a run: on Dataflow a run (or a replay of any range)
// is one batch pipeline whose stages are lease, ingest, process and land,
// instead of an orchestrating process that submits an ingest job and a
// process job per chunk. Prism keeps the chunked shape (Run, Replay): it
// holds every PCollection in memory, so only bounded chunks fit a small
// machine; Dataflow shuffles on disk, and a job costs minutes of start-up.
//
//	Impulse ─ planFn ─┬─ tasksFn ─ Reshuffle ─ vendorapi.ReadPages ─────┐ (side input: ingest done)
//	                  ├─ objectsFn ◄───────────────────────────────────┘
//	                  │     └─ ProcessNames (Reshuffle, dedup, write load files) ─┐
//	                  └─ landFn ◄── files, pages, objects, counts (side inputs) ─┘
//	                        └─ checkWebhooksFn (a sweep only)
//
// The same shape runs the push channels: see job_channel.go.
//
// Ordering is by side inputs (Beam's Wait.On): a runner materialises a
// side input completely before the consuming stage runs, so objectsFn
// lists the raw zone only after every ingest bundle committed, and landFn
// stages only after every load file was written. Processing reads only the
// raw zone: LandedPage receipts are a signal, never data.
//
// Every side effect is idempotent under a retried bundle: the run id is
// fixed when the pipeline is built, the lease is resumed by that owner
// (cursorstore.ResumeLease), raw objects and load files have
// deterministic names, Stage replaces the run's staged rows, promoting
// twice changes nothing, the watermark only moves forward by
// compare-and-set, and the ledger row is an upsert.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/marketplace/settle/io/cursorstore"
	"github.com/marketplace/settle/io/rawzone"
	"github.com/marketplace/settle/io/vendorapi"
	"github.com/marketplace/settle/io/warehouse"
)

func init() {
	register.DoFn3x1[context.Context, []byte, func(JobPlan), error](&planFn{})
	register.Emitter1[JobPlan]()
	register.DoFn3x0[context.Context, JobPlan, func(vendorapi.Task)](&tasksFn{})
	register.Emitter1[vendorapi.Task]()
	register.DoFn4x1[context.Context, JobPlan, func(*vendorapi.LandedPage) bool, func(string), error](&objectsFn{})
	register.Iter1[vendorapi.LandedPage]()
	register.Emitter1[string]()
	register.DoFn7x1[context.Context, JobPlan, func(*StagedFile) bool, func(*vendorapi.LandedPage) bool, func(*string) bool, func(*ProcessCounts) bool, func(JobResult), error](&landFn{})
	register.Iter1[StagedFile]()
	register.Iter1[string]()
	register.Emitter1[JobResult]()
	beam.RegisterType(reflect.TypeOf((*JobPlan)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*JobResult)(nil)).Elem())
}

// JobLeaseTTL is how long the lease a job takes lasts without a step of
// the job resuming it (planFn, objectsFn and landFn each do). A job that
// fails leaves the lease held until then; Dataflow's fixed job name keeps
// two jobs of a source apart in the meantime.
const JobLeaseTTL = 6 * time.Hour

// JobSpec is the serialised configuration of a one-job run.
type JobSpec struct {
	Config Config `json:"config"`
	RunID  string `json:"run_id"`
	Kind   string `json:"kind"` // KindRun or KindReplay
	// FromNano and ToNano bound a replay (Unix nanoseconds); a run takes
	// Config.From and Config.To, or the watermark (see Range).
	FromNano int64 `json:"from_nano"`
	ToNano   int64 `json:"to_nano"`
	// StartedNano is when the job was built: the run's start, the "now" of
	// its range, and the stamp of its quarantine rows, the same in every
	// retried bundle.
	StartedNano int64 `json:"started_nano"`
	// Channel is what a run reads: ChannelPull (the zero value),
	// ChannelWebhook or ChannelSweep (see job_channel.go).
	Channel string `json:"channel"`
	// WebhookSource is the receiver's source a sweep checks.
	WebhookSource string `json:"webhook_source"`
}

// NewJobSpec returns the spec of a run of kind over cfg started now; from
// and to bound a replay.
func NewJobSpec(cfg Config, kind string, from, to, now time.Time) JobSpec {
	return JobSpec{Config: cfg, RunID: newRunID(now), Kind: kind,
		FromNano: from.UnixNano(), ToNano: to.UnixNano(), StartedNano: now.UnixNano()}
}

func (s JobSpec) started() time.Time { return time.Unix(0, s.StartedNano).UTC() }
func (s JobSpec) owner() string      { return "dataflow job run " + s.RunID }

// JobPlan is what planFn resolved: the run's range and windows. Skip, when
// set, says why the job does nothing (another run holds the lease).
type JobPlan struct {
	FromNano int64      `json:"from_nano"`
	ToNano   int64      `json:"to_nano"`
	Windows  [][2]int64 `json:"windows"` // [start, end) in Unix nanoseconds
	Epoch    string     `json:"epoch"`
	Skip     string     `json:"skip"`
}

func (p JobPlan) tasks(source string) []vendorapi.Task {
	out := make([]vendorapi.Task, 0, len(p.Windows))
	for _, w := range p.Windows {
		out = append(out, vendorapi.NewTask(source, vendorapi.Window{Start: time.Unix(0, w[0]).UTC(), End: time.Unix(0, w[1]).UTC()}, p.Epoch))
	}
	return out
}

func (p JobPlan) rawWindows() []rawWindow {
	out := make([]rawWindow, 0, len(p.Windows))
	for _, w := range p.Windows {
		out = append(out, rawWindow{Start: time.Unix(0, w[0]).UTC(), End: time.Unix(0, w[1]).UTC()})
	}
	return out
}

// JobResult is what a one-job run reached, one element per job.
type JobResult struct {
	RunID         string `json:"run_id"`
	Kind          string `json:"kind"`
	Outcome       string `json:"outcome"` // warehouse.Outcome…, or OutcomeLeaseHeld
	Detail        string `json:"detail"`
	Held          bool   `json:"held"`
	Promoted      int64  `json:"promoted"`
	WindowsParked int64  `json:"windows_parked"`
}

// OutcomeLeaseHeld is the outcome of a job that found the source's lease
// held by another run and did nothing.
const OutcomeLeaseHeld = "lease_held"

// Job adds the one-job run of spec to s and returns its PCollection of
// one JobResult.
func Job(s beam.Scope, spec JobSpec) beam.PCollection {
	s = s.Scope("pipeline.Job")
	plan := beam.ParDo(s.Scope("Lease"), &planFn{Spec: spec}, beam.Impulse(s))
	is := s.Scope("Ingest")
	// The windows are known only when the job runs: each process gets the
	// share of the vendor's rate limit of a run of at least --max-workers
	// windows (a shorter run reads more slowly, never too fast).
	pages := ingestPages(is, spec, plan)
	ps := s.Scope("Process")
	objects := beam.ParDo(ps, &objectsFn{Spec: spec}, plan, beam.SideInput{Input: pages})
	files, counts := ProcessNames(ps, ProcessConfig{
		RunID:         spec.RunID,
		RawZone:       spec.Config.RawZone,
		StagingDir:    strings.TrimSuffix(spec.Config.Staging, "/") + "/" + spec.RunID + "/job",
		Rules:         spec.Config.Rules(),
		QuarantinedAt: spec.StartedNano,
	}, objects)
	return afterLand(s, spec, plan, beam.ParDo(s.Scope("Land"), &landFn{Spec: spec}, plan,
		beam.SideInput{Input: files}, beam.SideInput{Input: pages}, beam.SideInput{Input: objects}, beam.SideInput{Input: counts}))
}

// JobPipeline returns the pipeline of one one-job run.
func JobPipeline(spec JobSpec) (*beam.Pipeline, beam.PCollection) {
	p, s := beam.NewPipelineWithRoot()
	return p, Job(s, spec)
}

// RunJob runs a run of kind as one job on cfg.Runner, waits for it and
// returns its summary as the runs ledger records it. from and to bound a
// replay. Returns an error wrapping cursorstore.ErrLeaseHeld when the job
// found another run holding the lease.
func RunJob(ctx context.Context, cfg Config, opts Options, kind string, from, to time.Time) (Summary, error) {
	opts = opts.withDefaults()
	if err := cfg.Validate(); err != nil {
		return Summary{}, err
	}
	return runJob(ctx, opts, NewJobSpec(cfg, kind, from, to, opts.Now()))
}

// runJob runs the job of spec on its Config.Runner, waits for it and
// returns its summary from the runs ledger (see RunJob).
func runJob(ctx context.Context, opts Options, spec JobSpec) (Summary, error) {
	cfg, kind := spec.Config, spec.Kind
	sum := Summary{RunID: spec.RunID, Kind: kind}
	opts.Logger.Info("run starting as one job", logKeyRun, spec.RunID, logKeyKind, kind, "channel", spec.Channel)
	p, _ := JobPipeline(spec)
	if _, err := beam.Run(ctx, cfg.Runner, p); err != nil {
		return sum, fmt.Errorf("running the %s job %s: %w", kind, spec.RunID, err)
	}
	wh, err := warehouse.Open(ctx, cfg.Warehouse)
	if err != nil {
		return sum, err
	}
	defer wh.Close()
	runs, err := wh.Runs(ctx, 1000)
	if err != nil {
		return sum, fmt.Errorf("reading runs ledger: %w", err)
	}
	for _, r := range runs {
		if r.RunID == spec.RunID {
			sum.From, sum.To = r.WindowStart, r.WindowEnd
			sum.RecordsRead, sum.Duplicates, sum.Validated, sum.Quarantined = r.Fetched, r.Duplicates, r.Validated, r.Quarantined
			sum.Promoted, sum.Corrected, sum.Withdrawn = r.Promoted, r.Corrected, r.Withdrawn
			sum.WindowsParked = int(r.DeadLettered)
			sum.Outcome, sum.Detail = r.Outcome, r.Detail
			sum.Held = r.Outcome == warehouse.OutcomeHeld
			sum.Duration = r.FinishedAt.Sub(r.StartedAt)
			return sum, nil
		}
	}
	return sum, fmt.Errorf("run %s left no ledger row: another run held the source's lease: %w", spec.RunID, cursorstore.ErrLeaseHeld)
}

// jobLogger is the logger of the job's DoFns: Beam's log, so lines reach
// Cloud Logging with their step.
func jobLogger() *slog.Logger { return slog.New(BeamLogHandler{Level: slog.LevelInfo}) }

// openJobBackends opens the cursor store and the raw zone, and the
// warehouse when withWarehouse (DuckDB's file admits one opener at a
// time, so only landFn keeps it open).
func openJobBackends(ctx context.Context, cfg Config, withWarehouse bool) (*backends, error) {
	if withWarehouse {
		return openBackends(ctx, cfg, nil)
	}
	b := &backends{source: cfg.Source}
	var err error
	if b.cursors, err = cursorstore.Open(ctx, cfg.CursorStore); err != nil {
		return nil, err
	}
	if b.raw, err = rawzone.Open(ctx, cfg.RawZone); err != nil {
		b.close()
		return nil, err
	}
	return b, nil
}

// planFn takes (or resumes) the source's lease for the job's run and
// resolves its windows: a run's from the watermark or its --from/--to, a
// replay's from what the raw zone and the cursor store hold.
type planFn struct {
	Spec JobSpec `json:"spec"`
}

func (fn *planFn) ProcessElement(ctx context.Context, _ []byte, emit func(JobPlan)) error {
	cfg := fn.Spec.Config
	b, err := openJobBackends(ctx, cfg, false)
	if err != nil {
		return err
	}
	defer b.close()
	lease, err := cursorstore.ResumeLease(ctx, b.cursors, cfg.Source, fn.Spec.owner(), JobLeaseTTL, time.Now())
	var held *cursorstore.LeaseHeldError
	if errors.As(err, &held) {
		jobLogger().Warn("another run holds the source's lease: this job does nothing", logKeyRun, fn.Spec.RunID, "holder", held.Owner)
		emit(JobPlan{Skip: held.Error()})
		return nil
	}
	if err != nil {
		return err
	}
	plan, err := fn.plan(ctx, b)
	if err != nil {
		return errors.Join(err, lease.Release(context.WithoutCancel(ctx)))
	}
	jobLogger().Info("run planned", logKeyRun, fn.Spec.RunID, logKeyKind, fn.Spec.Kind,
		logKeyFrom, time.Unix(0, plan.FromNano).UTC(), logKeyTo, time.Unix(0, plan.ToNano).UTC(), logKeyWindows, len(plan.Windows))
	emit(plan)
	return nil
}

func (fn *planFn) plan(ctx context.Context, b *backends) (JobPlan, error) {
	cfg := fn.Spec.Config
	var plan JobPlan
	if fn.Spec.Channel == ChannelWebhook {
		return webhookPlan(ctx, fn.Spec, b)
	}
	switch fn.Spec.Kind {
	case KindRun:
		from, to, err := Range(ctx, cfg, b.cursors, fn.Spec.started())
		if err != nil {
			return plan, err
		}
		plan.FromNano, plan.ToNano = from.UnixNano(), to.UnixNano()
		plan.Epoch = vendorapi.FormatTime(from) + "_" + vendorapi.FormatTime(to)
		for _, w := range Windows(from, to, cfg.Window) {
			plan.Windows = append(plan.Windows, [2]int64{w[0].UnixNano(), w[1].UnixNano()})
		}
	case KindReplay:
		from, to := time.Unix(0, fn.Spec.FromNano).UTC(), time.Unix(0, fn.Spec.ToNano).UTC()
		if err := checkFromBeforeTo("replay", from, to); err != nil {
			return plan, err
		}
		windows, err := replayWindows(ctx, cfg, b, from, to)
		if err != nil {
			return plan, err
		}
		plan.FromNano, plan.ToNano = from.UnixNano(), to.UnixNano()
		for _, w := range windows {
			plan.Windows = append(plan.Windows, [2]int64{w.Start.UnixNano(), w.End.UnixNano()})
		}
	default:
		return plan, fmt.Errorf("one-job run of kind %q: want %s or %s", fn.Spec.Kind, KindRun, KindReplay)
	}
	return plan, nil
}

// tasksFn emits a run's window tasks for ingestion; a replay has none.
type tasksFn struct {
	Source string `json:"source"`
}

func (fn *tasksFn) ProcessElement(_ context.Context, plan JobPlan, emit func(vendorapi.Task)) {
	if plan.Skip != "" || len(plan.Epoch) == 0 {
		return // lease held, or a replay (no epoch: nothing to fetch)
	}
	for _, t := range plan.tasks(fn.Source) {
		emit(t)
	}
}

// objectsFn runs once ingestion has ended (its side input is the ingest
// stage's receipts), tidies the source's windows after a run, and emits
// the names of the raw objects to process, checked against what ingestion
// recorded. A damaged raw zone fails the run, recorded in the ledger.
type objectsFn struct {
	Spec JobSpec `json:"spec"`
}

func (fn *objectsFn) ProcessElement(ctx context.Context, plan JobPlan, landed func(*vendorapi.LandedPage) bool, emit func(string)) error {
	var p vendorapi.LandedPage
	for landed(&p) { // wait for the ingest stage: its receipts are not data
	}
	if plan.Skip != "" {
		return nil
	}
	cfg, log := fn.Spec.Config, jobLogger()
	b, err := openJobBackends(ctx, cfg, false)
	if err != nil {
		return err
	}
	defer b.close()
	if fn.Spec.pulls() {
		res, err := TidyWindows(ctx, cfg, b.cursors, time.Now())
		if err != nil {
			log.Warn("window housekeeping incomplete; the next run tries again", logKeyRun, fn.Spec.RunID, "error", err)
		}
		if len(res.Superseded) > 0 || res.Pruned > 0 {
			log.Info("window housekeeping", logKeyRun, fn.Spec.RunID, logKeySuperseded, len(res.Superseded), logKeyPruned, res.Pruned)
		}
	}
	objects, err := jobObjects(ctx, fn.Spec, log, b, plan)
	if err != nil {
		return fn.fail(ctx, plan, err)
	}
	for _, o := range objects {
		emit(o)
	}
	return nil
}

// fail records the run as failed with cause and releases its lease; the
// bundle then fails (Dataflow retries it, and fails the job after that).
func (fn *objectsFn) fail(ctx context.Context, plan JobPlan, cause error) error {
	b, err := openJobBackends(ctx, fn.Spec.Config, true)
	if err != nil {
		return errors.Join(cause, err)
	}
	defer b.close()
	sum := Summary{RunID: fn.Spec.RunID, Kind: fn.Spec.Kind, From: time.Unix(0, plan.FromNano).UTC(), To: time.Unix(0, plan.ToNano).UTC(), Windows: len(plan.Windows)}
	_, cause = recordFailure(ctx, b, Options{Logger: jobLogger()}, sum, fn.Spec.started(), cause)
	return errors.Join(cause, releaseJobLease(ctx, b, fn.Spec))
}

// releaseJobLease frees the job's lease if the job still holds it.
func releaseJobLease(ctx context.Context, b *backends, spec JobSpec) error {
	lease, err := cursorstore.ResumeLease(ctx, b.cursors, spec.Config.Source, spec.owner(), JobLeaseTTL, time.Now())
	if err != nil {
		return nil // taken over or held by another: not ours to free
	}
	return lease.Release(context.WithoutCancel(ctx))
}

// landFn runs once every load file is written: it sums the process
// stage's counts into the run's account, stages the files, applies the
// volume gate (a scheduled run), promotes, moves the watermark, records
// the run and releases the lease, then emits the JobResult.
type landFn struct {
	Spec JobSpec `json:"spec"`
}

func (fn *landFn) ProcessElement(ctx context.Context, plan JobPlan, staged func(*StagedFile) bool, landed func(*vendorapi.LandedPage) bool, objects func(*string) bool, counts func(*ProcessCounts) bool, emit func(JobResult)) error {
	spec, cfg := fn.Spec, fn.Spec.Config
	if plan.Skip != "" {
		emit(JobResult{RunID: spec.RunID, Kind: spec.Kind, Outcome: OutcomeLeaseHeld, Detail: plan.Skip})
		return nil
	}
	opts := Options{Logger: jobLogger()}.withDefaults()
	started := spec.started()
	sum := Summary{RunID: spec.RunID, Kind: spec.Kind, From: time.Unix(0, plan.FromNano).UTC(), To: time.Unix(0, plan.ToNano).UTC(), Windows: len(plan.Windows)}
	var f StagedFile
	var files []StagedFile
	for staged(&f) {
		files = append(files, f)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	var p vendorapi.LandedPage
	for landed(&p) {
		sum.PagesLanded++
		sum.RecordsLanded += p.Records
	}
	listed := 0
	for o := ""; objects(&o); {
		listed++
	}
	startAccount(&sum, listed)
	sumCounts(counts).addTo(&sum)

	b, err := openJobBackends(ctx, cfg, true)
	if err != nil {
		return err
	}
	defer b.close()
	if _, err := cursorstore.ResumeLease(ctx, b.cursors, cfg.Source, spec.owner(), JobLeaseTTL, time.Now()); err != nil {
		_, err = recordFailure(ctx, b, opts, sum, started, fmt.Errorf("resuming the run's lease before landing: %w", err))
		return err
	}
	if err := fn.land(ctx, opts, b, &sum, plan, files); err != nil {
		_, err = recordFailure(ctx, b, opts, sum, started, err)
		return errors.Join(err, releaseJobLease(ctx, b, spec))
	}
	if _, err := record(ctx, b, opts, sum, started); err != nil {
		return err
	}
	if err := releaseJobLease(ctx, b, spec); err != nil {
		opts.Logger.Warn("releasing run lease", logKeyRun, spec.RunID, "error", err)
	}
	emit(JobResult{RunID: sum.RunID, Kind: sum.Kind, Outcome: sum.Outcome, Detail: sum.Detail, Held: sum.Held,
		Promoted: sum.Promoted, WindowsParked: int64(sum.WindowsParked)})
	return nil
}

// land counts the run's windows from the cursor store, lands the files
// and, after a promoted run, moves the watermark.
func (fn *landFn) land(ctx context.Context, opts Options, b *backends, sum *Summary, plan JobPlan, files []StagedFile) error {
	cfg := fn.Spec.Config
	tasks := plan.tasks(cfg.Source)
	st, err := windowStates(ctx, cfg, b.cursors, tasks)
	if err != nil {
		return err
	}
	for _, w := range st {
		if fn.Spec.Kind != KindRun {
			continue
		}
		switch w.State.Status {
		case cursorstore.StatusDone:
			sum.WindowsDone++
		case cursorstore.StatusParked:
			sum.WindowsParked++
		}
	}
	if err := landFiles(ctx, cfg, opts, b, sum, files, fn.Spec.pulls()); err != nil {
		return err
	}
	if sum.Outcome == warehouse.OutcomePromoted && fn.Spec.Kind == KindRun {
		return advanceJobWatermark(ctx, fn.Spec, b, plan, tasks)
	}
	return nil
}
