package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/marketplace/settle/io/cursorstore"
	"github.com/marketplace/settle/io/rawzone"
	"github.com/marketplace/settle/io/vendorapi"
	"github.com/marketplace/settle/io/webhook"
	"github.com/marketplace/settle/transforms/parse"
)

// Sweep defaults: the list endpoint stays available for reconciliation
// only, at 5 requests per second per token (vendor-webhooks.md).
const (
	SweepSource = "sweep"
	SweepRate   = 5
	// SweepSpan is how far back a sweep reads by default.
	SweepSpan = 6 * time.Hour
)

// WebhookStatusKey is the cursor store key of the latest WebhookStatus.
const WebhookStatusKey = "status/webhook"

// WebhookStatus is what the last sweep found about the push channel, for
// `settle status`. Stored as JSON under WebhookStatusKey.
type WebhookStatus struct {
	CheckedAt time.Time `json:"checked_at"`
	// From, To is the range of updated_at the sweep listed.
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// SweepVersions counts distinct (vendor_txn_id, updated_at) versions the
	// sweep listed; MissedByWebhook those of them no webhook event (received
	// by CheckedAt) carried. MissedSample holds up to 20 of their ids.
	SweepVersions   int64    `json:"sweep_versions"`
	MissedByWebhook int64    `json:"missed_by_webhook"`
	MissedSample    []string `json:"missed_sample,omitempty"`
	// WebhookEvents counts the settlement events received for versions in
	// [From, To). LastReceived is the newest receive time of any event
	// landed (zero if none): the channel's freshness.
	WebhookEvents int64     `json:"webhook_events"`
	LastReceived  time.Time `json:"last_received"`
	// Lag is receive time minus updated_at over those events (p50, p99,
	// max): how late the push delivers a change.
	LagP50 time.Duration `json:"lag_p50"`
	LagP99 time.Duration `json:"lag_p99"`
	LagMax time.Duration `json:"lag_max"`
}

// Sweep is the scheduled reconciliation pull: a run of source SweepSource
// over [now - span, now - visibility lag) at SweepRate requests per second,
// processed and promoted like any run (the newest updated_at wins, so what
// the webhooks missed lands and nothing else changes), followed by
// CheckWebhooks over the same range, whose result is saved under
// WebhookStatusKey. cfg.From, when set, overrides span. On Dataflow the
// sweep, check included, is one job (RunSweepJob).
func Sweep(ctx context.Context, cfg Config, opts Options, span time.Duration) (Summary, WebhookStatus, error) {
	opts = opts.withDefaults()
	if cfg.Runner == "dataflow" {
		return RunSweepJob(ctx, cfg, opts, span)
	}
	cfg, webhookSource := sweepConfig(cfg, span, opts.Now())
	sum, err := Run(ctx, cfg, opts)
	if err != nil {
		return sum, WebhookStatus{}, err
	}
	st, err := checkAndSaveWebhooks(ctx, cfg, webhookSource, sum.From, sum.To, opts.Now())
	if err != nil {
		return sum, st, err
	}
	logSweepCheck(opts.Logger, st)
	return sum, st, nil
}

// sweepConfig returns cfg as a sweep started at now runs it: source
// SweepSource at no more than SweepRate, from now - span (unless cfg.From
// is set) to the latest visible time. It also returns the source of the
// webhook receiver whose events the sweep checks: cfg.Source, or
// WebhookSource when that is empty or SweepSource.
func sweepConfig(cfg Config, span time.Duration, now time.Time) (Config, string) {
	webhookSource := cfg.Source
	if webhookSource == "" || webhookSource == SweepSource {
		webhookSource = WebhookSource
	}
	cfg.Source = SweepSource
	cfg.Rate, cfg.Burst = min(cfg.Rate, SweepRate), min(cfg.Burst, SweepRate)
	if cfg.From.IsZero() {
		cfg.From = LatestTo(now, cfg.VisibilityLag).Add(-span).Truncate(time.Minute)
	}
	return cfg, webhookSource
}

// CheckWebhooks compares the versions the sweep's pages list with updated_at
// in [from, to) against the settlement events of webhookSource received
// from the hour of from until now, reading only the raw zone.
func CheckWebhooks(ctx context.Context, cfg Config, webhookSource string, from, to, now time.Time) (WebhookStatus, error) {
	st := WebhookStatus{CheckedAt: now.UTC(), From: from, To: to}
	raw, err := rawzone.Open(ctx, cfg.RawZone)
	if err != nil {
		return st, fmt.Errorf("opening raw zone: %w", err)
	}
	defer raw.Close()
	type version struct {
		id      string
		updated int64
	}
	pushed := map[version]bool{}
	refs, err := rawzone.ListEventRefs(ctx, raw, webhookSource, from, now.Add(time.Hour))
	if err != nil {
		return st, err
	}
	var lags []time.Duration
	for _, r := range refs {
		data, err := raw.Get(ctx, r.Name)
		if err != nil {
			return st, fmt.Errorf("reading %s: %w", r.Name, err)
		}
		obj, err := rawzone.DecodeEvent(data)
		if err != nil {
			continue // damaged objects are processing's to report
		}
		if obj.ReceivedAt.After(st.LastReceived) {
			st.LastReceived = obj.ReceivedAt
		}
		ev, err := webhook.ParseEvent(obj.Body)
		if err != nil || !ev.IsSettlement() {
			continue
		}
		id, updated, err := parse.Key(ev.Data)
		if err != nil {
			continue
		}
		pushed[version{id, updated}] = true
		if u := time.Unix(0, updated); !u.Before(from) && u.Before(to) {
			st.WebhookEvents++
			lags = append(lags, obj.ReceivedAt.Sub(u))
		}
	}
	if len(lags) > 0 {
		slices.Sort(lags)
		st.LagP50, st.LagP99, st.LagMax = lags[len(lags)/2], lags[min(len(lags)-1, len(lags)*99/100)], lags[len(lags)-1]
	}
	pages, err := rawzone.ListPageRefs(ctx, raw, SweepSource, from, to)
	if err != nil {
		return st, err
	}
	seen := map[version]bool{}
	for _, p := range pages {
		data, err := raw.Get(ctx, p.Name)
		if err != nil {
			return st, fmt.Errorf("reading %s: %w", p.Name, err)
		}
		obj, err := rawzone.DecodePage(data)
		if err != nil {
			continue
		}
		env, err := vendorapi.ParsePage(obj.Body)
		if err != nil {
			continue
		}
		for _, rec := range env.Records {
			id, updated, err := parse.Key(rec)
			if err != nil {
				continue
			}
			v := version{id, updated}
			if u := time.Unix(0, updated); u.Before(from) || !u.Before(to) || seen[v] {
				continue
			}
			seen[v] = true
			st.SweepVersions++
			if !pushed[v] {
				st.MissedByWebhook++
				if len(st.MissedSample) < 20 {
					st.MissedSample = append(st.MissedSample, id)
				}
			}
		}
	}
	return st, nil
}

// SaveWebhookStatus stores st under WebhookStatusKey, replacing the last one.
func SaveWebhookStatus(ctx context.Context, cursors cursorstore.Store, st WebhookStatus) error {
	body, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encoding webhook status: %w", err)
	}
	for range 5 {
		var ver int64
		d, err := cursors.Get(ctx, WebhookStatusKey)
		switch {
		case err == nil:
			ver = d.Version
		case !errors.Is(err, cursorstore.ErrNotFound):
			return fmt.Errorf("reading webhook status: %w", err)
		}
		_, err = cursors.Put(ctx, WebhookStatusKey, ver, body)
		if err == nil || !errors.Is(err, cursorstore.ErrConflict) {
			if err != nil {
				return fmt.Errorf("saving webhook status: %w", err)
			}
			return nil
		}
	}
	return fmt.Errorf("saving webhook status: %w", cursorstore.ErrConflict)
}

// LoadWebhookStatus returns the status the last sweep saved. Returns an
// error wrapping cursorstore.ErrNotFound if no sweep has run.
func LoadWebhookStatus(ctx context.Context, cursors cursorstore.Store) (WebhookStatus, error) {
	var st WebhookStatus
	d, err := cursors.Get(ctx, WebhookStatusKey)
	if err != nil {
		return st, fmt.Errorf("reading webhook status: %w", err)
	}
	if err := json.Unmarshal(d.Body, &st); err != nil {
		return st, fmt.Errorf("decoding webhook status: %w", err)
	}
	return st, nil
}
