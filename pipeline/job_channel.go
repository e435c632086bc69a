package pipeline

// The push channels in the one-job shape (job.go). A webhook run and a
// sweep are the same pipeline as the pull's run, with these differences:
//
//   - ChannelWebhook: planFn resolves the hours of receipt as RunWebhook
//     does (webhookRange: the watermark, or --from/--to, up to the last
//     hour past WebhookGrace), or a replay's as ReplayWebhook does; the
//     job has no ingest stage (no vendor call), objectsFn lists the event
//     objects of those hours (webhookObjects), landFn lands them without
//     the volume gate and, after a run (not a replay), moves the source's
//     watermark to the end of the range. Processing reads only the raw
//     objects: it tells an event from a page by the object's name, as on
//     a host.
//
//   - ChannelSweep: the pull's job under source SweepSource at SweepRate
//     over the sweep's range (sweepConfig), then checkWebhooksFn runs
//     CheckWebhooks over the range the run covered and saves the result
//     (SaveWebhookStatus), as Sweep does on a host.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/marketplace/settle/io/cursorstore"
	"github.com/marketplace/settle/io/vendorapi"
)

func init() {
	register.DoFn4x1[context.Context, JobResult, func(*JobPlan) bool, func(JobResult), error](&checkWebhooksFn{})
	register.Iter1[JobPlan]()
}

// Channels of a one-job run (JobSpec.Channel).
const (
	// ChannelPull reads the vendor's cursor API (the zero value).
	ChannelPull = ""
	// ChannelWebhook processes the event objects the webhook receiver
	// landed since the last webhook run (RunWebhook's run).
	ChannelWebhook = "webhook"
	// ChannelSweep is the reconciliation pull followed by CheckWebhooks
	// (Sweep's run).
	ChannelSweep = "sweep"
)

// NewWebhookJobSpec returns the spec of the one job of a webhook run over
// cfg (cfg.Source is the receiver's source) started now.
func NewWebhookJobSpec(cfg Config, now time.Time) JobSpec {
	spec := NewJobSpec(cfg, KindRun, time.Time{}, time.Time{}, now)
	spec.Channel = ChannelWebhook
	return spec
}

// NewWebhookReplayJobSpec returns the spec of the one job of a replay of
// the webhook events received in the hours that overlap [from, to)
// (ReplayWebhook's replay).
func NewWebhookReplayJobSpec(cfg Config, from, to, now time.Time) JobSpec {
	spec := NewJobSpec(cfg, KindReplay, from, to, now)
	spec.Channel = ChannelWebhook
	return spec
}

// NewSweepJobSpec returns the spec of the one job of a sweep over the last
// span before now (cfg.From, when set, overrides span). cfg.Source names
// the receiver's source to check (WebhookSource when it is empty or
// SweepSource); the job itself runs under SweepSource at SweepRate.
func NewSweepJobSpec(cfg Config, span time.Duration, now time.Time) JobSpec {
	cfg, webhookSource := sweepConfig(cfg, span, now)
	spec := NewJobSpec(cfg, KindRun, time.Time{}, time.Time{}, now)
	spec.Channel, spec.WebhookSource = ChannelSweep, webhookSource
	return spec
}

// RunWebhookJob is RunWebhook as one job on cfg.Runner: it waits for the
// job and returns its summary from the runs ledger. Returns an error
// wrapping cursorstore.ErrLeaseHeld when another run held the lease.
func RunWebhookJob(ctx context.Context, cfg Config, opts Options) (Summary, error) {
	opts = opts.withDefaults()
	if err := cfg.Validate(); err != nil {
		return Summary{}, err
	}
	return runJob(ctx, opts, NewWebhookJobSpec(cfg, opts.Now()))
}

// ReplayWebhookJob is ReplayWebhook as one job on cfg.Runner.
func ReplayWebhookJob(ctx context.Context, cfg Config, opts Options, from, to time.Time) (Summary, error) {
	opts = opts.withDefaults()
	if err := cfg.Validate(); err != nil {
		return Summary{}, err
	}
	if err := checkFromBeforeTo("replay", from, to); err != nil {
		return Summary{}, err
	}
	return runJob(ctx, opts, NewWebhookReplayJobSpec(cfg, from, to, opts.Now()))
}

// RunSweepJob is Sweep as one job on cfg.Runner: it waits for the job and
// returns its summary from the runs ledger and the webhook status the job
// saved. Returns an error wrapping cursorstore.ErrLeaseHeld when another
// run held the sweep's lease.
func RunSweepJob(ctx context.Context, cfg Config, opts Options, span time.Duration) (Summary, WebhookStatus, error) {
	opts = opts.withDefaults()
	if err := cfg.Validate(); err != nil {
		return Summary{}, WebhookStatus{}, err
	}
	spec := NewSweepJobSpec(cfg, span, opts.Now())
	sum, err := runJob(ctx, opts, spec)
	if err != nil {
		return sum, WebhookStatus{}, err
	}
	cursors, err := cursorstore.Open(ctx, cfg.CursorStore)
	if err != nil {
		return sum, WebhookStatus{}, fmt.Errorf("opening cursor store: %w", err)
	}
	defer cursors.Close()
	st, err := LoadWebhookStatus(ctx, cursors)
	if err != nil {
		return sum, st, err
	}
	// The ledger keeps microseconds (DuckDB, BigQuery).
	if us := time.Microsecond; !st.From.Truncate(us).Equal(sum.From.Truncate(us)) || !st.To.Truncate(us).Equal(sum.To.Truncate(us)) {
		return sum, st, fmt.Errorf("sweep job %s saved no webhook status for [%s, %s): the last is of [%s, %s)", spec.RunID,
			sum.From.Format(time.RFC3339Nano), sum.To.Format(time.RFC3339Nano), st.From.Format(time.RFC3339Nano), st.To.Format(time.RFC3339Nano))
	}
	return sum, st, nil
}

// pulls reports whether the job's run reads windows from the vendor: a
// run of the pull or of a sweep, not a replay or a webhook run. Only such
// a run tidies its windows and goes through the volume gate.
func (s JobSpec) pulls() bool { return s.Kind == KindRun && s.Channel != ChannelWebhook }

// afterLand adds a sweep's last step (checkWebhooksFn) after the land
// stage's result res; other jobs end with res.
func afterLand(s beam.Scope, spec JobSpec, plan, res beam.PCollection) beam.PCollection {
	if spec.Channel != ChannelSweep {
		return res
	}
	return beam.ParDo(s.Scope("CheckWebhooks"), &checkWebhooksFn{Spec: spec}, res, beam.SideInput{Input: plan})
}

// ingestPages is the job's ingest stage, returning the receipts of the
// pages it landed: none for a webhook run (an empty
// PCollection<vendorapi.LandedPage>: nothing to fetch), else the windows
// of the plan read from the vendor.
func ingestPages(s beam.Scope, spec JobSpec, plan beam.PCollection) beam.PCollection {
	if spec.Channel == ChannelWebhook {
		return beam.CreateList(s, []vendorapi.LandedPage(nil))
	}
	return vendorapi.ReadPages(s, readConfig(spec.Config, spec.Config.Workers),
		beam.Reshuffle(s, beam.ParDo(s, &tasksFn{Source: spec.Config.Source}, plan)))
}

// webhookPlan resolves the hours of receipt of a webhook run, as
// RunWebhook does, or of a replay, as ReplayWebhook does. The plan has no
// windows and no epoch: nothing to fetch.
func webhookPlan(ctx context.Context, spec JobSpec, b *backends) (JobPlan, error) {
	switch spec.Kind {
	case KindRun:
		from, to, err := webhookRange(ctx, spec.Config, b.cursors, spec.started())
		if err != nil {
			return JobPlan{}, err
		}
		return JobPlan{FromNano: from.UnixNano(), ToNano: to.UnixNano()}, nil
	case KindReplay:
		if err := checkFromBeforeTo("replay", time.Unix(0, spec.FromNano), time.Unix(0, spec.ToNano)); err != nil {
			return JobPlan{}, err
		}
		return JobPlan{FromNano: spec.FromNano, ToNano: spec.ToNano}, nil
	}
	return JobPlan{}, fmt.Errorf("one-job webhook run of kind %q: want %s or %s", spec.Kind, KindRun, KindReplay)
}

// jobObjects returns the raw objects the job processes: a webhook run's
// event objects of its hours of receipt, or the pages of its windows,
// checked against what ingestion recorded.
func jobObjects(ctx context.Context, spec JobSpec, log *slog.Logger, b *backends, plan JobPlan) ([]string, error) {
	if spec.Channel == ChannelWebhook {
		objects, hours, err := webhookObjects(ctx, b.raw, spec.Config.Source, time.Unix(0, plan.FromNano).UTC(), time.Unix(0, plan.ToNano).UTC())
		log.Info("processing webhook events", logKeyRun, spec.RunID, logKeyWindows, hours, logKeyObjects, len(objects))
		return objects, err
	}
	return verifiedObjects(ctx, spec.Config, Options{Logger: log}, b, spec.RunID, plan.rawWindows())
}

// advanceJobWatermark moves the watermark after a promoted run: a webhook
// run's to the end of its hours of receipt, a pull's past its windows
// done.
func advanceJobWatermark(ctx context.Context, spec JobSpec, b *backends, plan JobPlan, tasks []vendorapi.Task) error {
	if spec.Channel == ChannelWebhook {
		return moveWatermark(ctx, spec.Config, b, time.Unix(0, plan.ToNano).UTC())
	}
	return advanceWatermark(ctx, spec.Config, b, tasks)
}

// checkWebhooksFn is a sweep job's last step: once the run landed (its
// input is the run's JobResult) it compares what the sweep listed over the
// run's range with the webhook events received (CheckWebhooks), saves the
// result for `settle status` and passes the JobResult on. Both are
// idempotent: a retried bundle saves a newer status over the last one. A
// job that found the lease held checks nothing, as Sweep does not.
type checkWebhooksFn struct {
	Spec JobSpec `json:"spec"`
}

func (fn *checkWebhooksFn) ProcessElement(ctx context.Context, r JobResult, plans func(*JobPlan) bool, emit func(JobResult)) error {
	var p, plan JobPlan
	n := 0
	for plans(&p) {
		plan, n = p, n+1
	}
	if n != 1 {
		return fmt.Errorf("checking webhooks after run %s: %d plans, want 1", r.RunID, n)
	}
	if r.Outcome == OutcomeLeaseHeld || plan.Skip != "" {
		emit(r)
		return nil
	}
	st, err := checkAndSaveWebhooks(ctx, fn.Spec.Config, fn.Spec.WebhookSource, time.Unix(0, plan.FromNano).UTC(), time.Unix(0, plan.ToNano).UTC(), time.Now())
	if err != nil {
		return fmt.Errorf("checking webhooks after run %s: %w", r.RunID, err)
	}
	logSweepCheck(jobLogger(), st)
	emit(r)
	return nil
}

// checkAndSaveWebhooks runs CheckWebhooks over [from, to) and saves the
// result under WebhookStatusKey: the end of a sweep, on a host (Sweep) and
// as one job (checkWebhooksFn).
func checkAndSaveWebhooks(ctx context.Context, cfg Config, webhookSource string, from, to, now time.Time) (WebhookStatus, error) {
	st, err := CheckWebhooks(ctx, cfg, webhookSource, from, to, now)
	if err != nil {
		return st, err
	}
	cursors, err := cursorstore.Open(ctx, cfg.CursorStore)
	if err != nil {
		return st, fmt.Errorf("opening cursor store: %w", err)
	}
	return st, errors.Join(SaveWebhookStatus(ctx, cursors, st), cursors.Close())
}

// logSweepCheck logs what a sweep found about the webhooks.
func logSweepCheck(log *slog.Logger, st WebhookStatus) {
	log.Info("sweep checked webhooks", "versions", st.SweepVersions, "missed_by_webhook", st.MissedByWebhook,
		"webhook_events", st.WebhookEvents, "lag_p99", st.LagP99, "last_received", st.LastReceived)
}
