package status

import (
	"fmt"
	"strings"
	"time"
)

// WebhookReport is the push channel as `settle status` shows it: what the
// last sweep (pipeline.Sweep) found. Swept false means the channel is in
// use but no sweep has run yet; every other field is then zero.
type WebhookReport struct {
	Swept bool `json:"swept"`
	// SweptAt is when the last sweep checked the webhooks; SweepFrom,
	// SweepTo the range of updated_at it listed.
	SweptAt         time.Time     `json:"swept_at,omitzero"`
	SweepAge        time.Duration `json:"-"`
	SweepAgeSeconds float64       `json:"swept_age_seconds"`
	SweepFrom       time.Time     `json:"sweep_from,omitzero"`
	SweepTo         time.Time     `json:"sweep_to,omitzero"`
	// SweepVersions is how many versions the sweep listed, MissedByWebhook
	// how many of them no webhook event had carried (MissedSample: up to 20
	// of their vendor_txn_ids), WebhookEvents how many settlement events
	// were received for versions in the range.
	SweepVersions   int64    `json:"sweep_versions"`
	MissedByWebhook int64    `json:"missed_by_webhook"`
	MissedSample    []string `json:"missed_sample"`
	WebhookEvents   int64    `json:"webhook_events"`
	// LastReceived is the newest receive time of any event, as of the last
	// sweep (zero: none); LastReceivedAge its age at Now (0 when zero).
	LastReceived           time.Time     `json:"last_received,omitzero"`
	LastReceivedAge        time.Duration `json:"-"`
	LastReceivedAgeSeconds float64       `json:"last_received_age_seconds"`
	// Lag is receive time minus updated_at over the sweep range's events.
	LagP50        time.Duration `json:"-"`
	LagP99        time.Duration `json:"-"`
	LagMax        time.Duration `json:"-"`
	LagP50Seconds float64       `json:"lag_p50_seconds"`
	LagP99Seconds float64       `json:"lag_p99_seconds"`
	LagMaxSeconds float64       `json:"lag_max_seconds"`
}

// NoSweepText is the webhook check's text when the channel is in use and
// no sweep has run yet.
const NoSweepText = "webhook in use, no sweep yet: `settle sweep` records what the webhooks missed"

// webhookInUse: a sweep saved a status, or webhook events were processed
// (the webhook source has a watermark). Pull-only deployments have
// neither and get no webhook section or check.
func (in Inputs) webhookInUse() bool {
	return in.Webhook != nil || !in.WebhookWatermark.IsZero()
}

// judgeWebhook adds the webhook section and its checks (README,
// "Operations"): WARNING when the last sweep found versions the webhooks
// missed, when no event was received for longer than WebhookSilence, or
// when the lag's p99 exceeds WebhookLag. Never CRITICAL: the sweep lands
// what the webhooks miss, and data that is late for finance is already
// CRITICAL through the deadline check.
func (r *Report) judgeWebhook(in Inputs, th Thresholds, now time.Time) {
	if !in.webhookInUse() {
		return
	}
	w := &WebhookReport{}
	r.Webhook = w
	st := in.Webhook
	if st == nil {
		r.add("webhook", OK, NoSweepText)
		return
	}
	w.Swept = true
	w.SweptAt, w.SweepFrom, w.SweepTo = st.CheckedAt.UTC(), st.From.UTC(), st.To.UTC()
	w.SweepAge = now.Sub(w.SweptAt)
	w.SweepAgeSeconds = w.SweepAge.Seconds()
	w.SweepVersions, w.MissedByWebhook, w.WebhookEvents = st.SweepVersions, st.MissedByWebhook, st.WebhookEvents
	w.MissedSample = append([]string{}, st.MissedSample...)
	w.LagP50, w.LagP99, w.LagMax = st.LagP50, st.LagP99, st.LagMax
	w.LagP50Seconds, w.LagP99Seconds, w.LagMaxSeconds = st.LagP50.Seconds(), st.LagP99.Seconds(), st.LagMax.Seconds()
	if !st.LastReceived.IsZero() {
		w.LastReceived = st.LastReceived.UTC()
		w.LastReceivedAge = now.Sub(w.LastReceived)
		w.LastReceivedAgeSeconds = w.LastReceivedAge.Seconds()
	}
	sweep := fmt.Sprintf("the sweep at %s", fmtTime(w.SweptAt))

	if w.MissedByWebhook > 0 {
		r.add("webhook", Warning, fmt.Sprintf("%s found %d of %d versions the webhooks missed (%s); it landed them: see the Runbook, \"webhooks missed events\"",
			sweep, w.MissedByWebhook, w.SweepVersions, MissedSampleText(w.MissedSample, 3)))
	} else {
		r.add("webhook", OK, fmt.Sprintf("%s found the webhooks had carried all %d versions", sweep, w.SweepVersions))
	}
	switch {
	case w.LastReceived.IsZero():
		r.add("webhook", Warning, fmt.Sprintf("no webhook event received (as of %s, which listed from %s)", sweep, fmtTime(w.SweepFrom)))
	case w.LastReceivedAge > th.WebhookSilence:
		r.add("webhook", Warning, fmt.Sprintf("no webhook event received for %s (last %s, as of %s; limit %s)",
			roundAge(w.LastReceivedAge), fmtTime(w.LastReceived), sweep, roundAge(th.WebhookSilence)))
	default:
		r.add("webhook", OK, fmt.Sprintf("last webhook event received %s ago", roundAge(w.LastReceivedAge)))
	}
	if w.LagP99 > th.WebhookLag {
		r.add("webhook", Warning, fmt.Sprintf("webhook lag p99 %s over %s (p50 %s, max %s)", roundAge(w.LagP99), roundAge(th.WebhookLag), roundAge(w.LagP50), roundAge(w.LagMax)))
	}
}

// MissedSampleText lists up to n of the ids ("e.g. a, b, …"), "no
// sample" when there are none.
func MissedSampleText(ids []string, n int) string {
	if len(ids) == 0 {
		return "no sample"
	}
	s := "e.g. " + strings.Join(ids[:min(n, len(ids))], ", ")
	if len(ids) > n {
		s += ", …"
	}
	return s
}
