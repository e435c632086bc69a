package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/marketplace/settle/io/cursorstore"
	"github.com/marketplace/settle/io/rawzone"
	"github.com/marketplace/settle/io/warehouse"
	"github.com/marketplace/settle/io/webhook"
	"github.com/marketplace/settle/transforms/parse"
)

// WebhookSource is the raw zone source (and lease and watermark name) of the
// pushed events the webhook receiver lands.
const WebhookSource = webhook.DefaultSource

// WebhookGrace is how long after an hour of receipt ends a webhook run
// waits before it processes that hour: the receiver lands an event within
// its 10 s answer deadline, so every event of an hour is in the raw zone
// this long after it ends.
const WebhookGrace = 2 * time.Minute

// webhookFirstLookback is where the first webhook run starts when no
// watermark exists: the vendor retries an event for at most 3 days.
const webhookFirstLookback = 72 * time.Hour

// RunWebhook processes the webhook events that landed since the last webhook
// run: the hours of receipt [watermark, now - WebhookGrace rounded down to
// the hour), or cfg.From/cfg.To when set. The events go through the same
// Process pipeline, the same dedup, gate and promote as pulled pages; only
// the raw objects differ. After a promoted run the source's watermark moves
// to the end of the range, so the next run starts there. Rerunning a range
// is safe: promoting is idempotent. cfg.Source must be WebhookSource (or
// another receiver's source name).
//
// On Dataflow the run is one job (RunWebhookJob).
func RunWebhook(ctx context.Context, cfg Config, opts Options) (Summary, error) {
	if cfg.Runner == "dataflow" {
		return RunWebhookJob(ctx, cfg, opts)
	}
	opts = opts.withDefaults()
	ctx, b, sum, started, end, err := begin(ctx, cfg, opts, KindRun, func(b *backends, now time.Time) (time.Time, time.Time, error) {
		return webhookRange(ctx, cfg, b.cursors, now)
	})
	if err != nil {
		return sum, err
	}
	defer end()
	sum, err = processWebhook(ctx, cfg, opts, b, sum, started)
	if err != nil {
		return sum, err
	}
	if sum.Outcome == warehouse.OutcomePromoted {
		if err := moveWatermark(ctx, cfg, b, sum.To); err != nil {
			return recordFailure(ctx, b, opts, sum, started, err)
		}
	}
	return record(ctx, b, opts, sum, started)
}

// ReplayWebhook reprocesses the webhook events received in the hours that
// overlap [from, to). It never moves the watermark. On Dataflow the
// replay is one job (ReplayWebhookJob).
func ReplayWebhook(ctx context.Context, cfg Config, opts Options, from, to time.Time) (Summary, error) {
	if cfg.Runner == "dataflow" {
		return ReplayWebhookJob(ctx, cfg, opts, from, to)
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
	sum, err = processWebhook(ctx, cfg, opts, b, sum, started)
	if err != nil {
		return sum, err
	}
	return record(ctx, b, opts, sum, started)
}

// processWebhook lists the event objects of [sum.From, sum.To) and
// processes and lands them, one chunk of cfg.ChunkWindows hours at a time.
// A failure is recorded in the ledger and returned.
func processWebhook(ctx context.Context, cfg Config, opts Options, b *backends, sum Summary, started time.Time) (Summary, error) {
	objects, hours, err := webhookObjects(ctx, b.raw, cfg.Source, sum.From, sum.To)
	if err != nil {
		return recordFailure(ctx, b, opts, sum, started, err)
	}
	sum.Windows = hours
	opts.Logger.Info("processing webhook events", logKeyRun, sum.RunID, logKeyFrom, sum.From, logKeyTo, sum.To, logKeyWindows, hours, logKeyObjects, len(objects))
	// The volume gate compares a run's rows per hour with earlier runs of
	// the pull; pushed hours are not comparable, so it is off here.
	if err := processAndLand(ctx, cfg, opts, b, &sum, chunkObjects(objects, cfg.ChunkWindows), false); err != nil {
		return recordFailure(ctx, b, opts, sum, started, err)
	}
	return sum, nil
}

// webhookObjects returns the names of the event objects of source received
// in the hours that overlap [from, to), ordered by hour then name, and how
// many hours of receipt they fall in. A webhook run processes exactly
// these, on a host (processWebhook) and as one job (objectsFn).
func webhookObjects(ctx context.Context, raw rawzone.Store, source string, from, to time.Time) (objects []string, hours int, err error) {
	refs, err := rawzone.ListEventRefs(ctx, raw, source, from, to)
	if err != nil {
		return nil, 0, err
	}
	objects = make([]string, len(refs))
	seen := map[time.Time]bool{}
	for i, r := range refs {
		objects[i] = r.Name
		seen[r.Hour] = true
	}
	return objects, len(seen), nil
}

// webhookRange is the range of hours of receipt a webhook run processes.
func webhookRange(ctx context.Context, cfg Config, cursors cursorstore.Store, now time.Time) (from, to time.Time, err error) {
	latest := now.UTC().Add(-WebhookGrace).Truncate(time.Hour)
	to = latest
	if !cfg.To.IsZero() {
		if cfg.To.After(latest) {
			return time.Time{}, time.Time{}, fmt.Errorf("--to %s: hours of receipt after %s may still be landing: %w",
				cfg.To.Format(time.RFC3339), latest.Format(time.RFC3339), ErrInvalidRange)
		}
		to = cfg.To.UTC()
	}
	from = cfg.From.UTC()
	if cfg.From.IsZero() {
		mark, _, err := cursorstore.LoadWatermark(ctx, cursors, cfg.Source)
		if err != nil {
			return time.Time{}, time.Time{}, fmt.Errorf("reading watermark: %w", err)
		}
		from = mark
		if mark.IsZero() {
			from = to.Add(-webhookFirstLookback)
		}
	}
	if !from.Before(to) {
		// Nothing new: an empty range is a valid, empty run.
		from = to
	}
	return from, to, nil
}

// readEventRecords reads a webhook event object and returns the settlement
// record it carries: one record for a settlement event, none for another
// event type (kept in the raw zone, ignored), and a *badPageError (to
// quarantine) for a body that is not an event. An object that cannot be
// decoded or whose body no longer hashes to its name is damaged.
func readEventRecords(ctx context.Context, raw rawzone.Store, name string) ([]json.RawMessage, error) {
	ref, err := rawzone.ParseEventName(name)
	if err != nil {
		return nil, fmt.Errorf("reading raw event %s: %w", name, err)
	}
	data, err := raw.Get(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("reading raw event %s: %w", name, err)
	}
	obj, err := rawzone.DecodeEvent(data)
	if err != nil {
		return nil, fmt.Errorf("reading raw event %s: %w: %w", name, rawzone.ErrDamaged, err)
	}
	if rawzone.EventBodyHash(obj.Body) != ref.Hash {
		return nil, fmt.Errorf("reading raw event %s: body does not hash to its name: %w", name, rawzone.ErrDamaged)
	}
	ev, err := webhook.ParseEvent(obj.Body)
	if err != nil {
		quarantined := obj.Body
		if !json.Valid(quarantined) {
			// The quarantine row keeps the raw row as JSON: keep a body
			// that is not JSON as a string of its (lossless) base64 form.
			quarantined, _ = json.Marshal(map[string][]byte{"unparseable_body": obj.Body})
		}
		return nil, &badPageError{raw: quarantined, reason: parse.ReasonEventUnparseable, err: err}
	}
	if !ev.IsSettlement() {
		return nil, nil
	}
	return []json.RawMessage{ev.Data}, nil
}
