package status_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/marketplace/settle/pipeline"
	"github.com/marketplace/settle/pipeline/status"
)

// TestEvaluateWebhook judges fabricated sweep results against the default
// thresholds (6h silence, 1h lag p99). The source itself is complete and
// healthy, so the level is the webhook checks' alone.
func TestEvaluateWebhook(t *testing.T) {
	now := at("2026-11-02T12:00:00Z")
	healthy := pipeline.WebhookStatus{
		CheckedAt: now.Add(-time.Hour), From: now.Add(-7 * time.Hour), To: now.Add(-time.Hour - 5*time.Minute),
		SweepVersions: 500, WebhookEvents: 510, LastReceived: now.Add(-62 * time.Minute),
		LagP50: 2 * time.Second, LagP99: 40 * time.Second, LagMax: 3 * time.Minute,
	}
	with := func(f func(*pipeline.WebhookStatus)) *pipeline.WebhookStatus {
		st := healthy
		f(&st)
		return &st
	}
	tests := []struct {
		name      string
		webhook   *pipeline.WebhookStatus
		watermark time.Time // of the webhook source
		th        func(*status.Thresholds)
		wantLevel status.Level
		wantText  []string // each in some webhook check's text; "" for none non-OK
	}{
		{name: "a sweep that found every version pushed, fresh events and a small lag is OK",
			webhook: &healthy, wantLevel: status.OK},
		{name: "a sweep that found versions the webhooks missed is WARNING, with a sample",
			webhook: with(func(s *pipeline.WebhookStatus) {
				s.MissedByWebhook, s.MissedSample = 7, []string{"t1", "t2", "t3", "t4", "t5", "t6", "t7"}
			}),
			wantLevel: status.Warning, wantText: []string{"found 7 of 500 versions the webhooks missed (e.g. t1, t2, t3, …)"}},
		{name: "one missed version is enough",
			webhook:   with(func(s *pipeline.WebhookStatus) { s.MissedByWebhook, s.MissedSample = 1, []string{"t9"} }),
			wantLevel: status.Warning, wantText: []string{"found 1 of 500 versions the webhooks missed (e.g. t9)"}},
		{name: "no event received for longer than 6h is WARNING",
			webhook:   with(func(s *pipeline.WebhookStatus) { s.LastReceived = now.Add(-6*time.Hour - time.Minute) }),
			wantLevel: status.Warning, wantText: []string{"no webhook event received for 6h1m0s (last 2026-11-02T05:59:00Z"}},
		{name: "exactly 6h without an event is still OK",
			webhook:   with(func(s *pipeline.WebhookStatus) { s.LastReceived = now.Add(-6 * time.Hour) }),
			wantLevel: status.OK},
		{name: "silence is measured at now, so a sweep that stopped running ages into a WARNING",
			webhook: with(func(s *pipeline.WebhookStatus) {
				s.CheckedAt, s.LastReceived = now.Add(-30*time.Hour), now.Add(-30*time.Hour)
			}),
			wantLevel: status.Warning, wantText: []string{"no webhook event received for 30h0m0s", "as of the sweep at 2026-11-01T06:00:00Z"}},
		{name: "a sweep that found no event at all is WARNING",
			webhook:   with(func(s *pipeline.WebhookStatus) { s.LastReceived, s.WebhookEvents = time.Time{}, 0 }),
			wantLevel: status.Warning, wantText: []string{"no webhook event received (as of the sweep at 2026-11-02T11:00:00Z"}},
		{name: "--webhook-silence moves the limit",
			webhook:   &healthy,
			th:        func(th *status.Thresholds) { th.WebhookSilence = time.Hour },
			wantLevel: status.Warning, wantText: []string{"no webhook event received for 1h2m0s", "limit 1h0m0s"}},
		{name: "a lag p99 over 1h is WARNING",
			webhook:   with(func(s *pipeline.WebhookStatus) { s.LagP99, s.LagMax = 61*time.Minute, 2*time.Hour }),
			wantLevel: status.Warning, wantText: []string{"webhook lag p99 1h1m0s over 1h0m0s (p50 2s, max 2h0m0s)"}},
		{name: "a lag p99 of exactly 1h is OK",
			webhook:   with(func(s *pipeline.WebhookStatus) { s.LagP99 = time.Hour }),
			wantLevel: status.OK},
		{name: "--webhook-lag moves the limit",
			webhook:   &healthy,
			th:        func(th *status.Thresholds) { th.WebhookLag = 30 * time.Second },
			wantLevel: status.Warning, wantText: []string{"webhook lag p99 40s over 30s"}},
		{name: "every webhook problem at once is still only WARNING: the sweep lands what was missed",
			webhook: with(func(s *pipeline.WebhookStatus) {
				s.MissedByWebhook, s.LastReceived, s.LagP99 = 500, now.Add(-72*time.Hour), 10*time.Hour
			}),
			wantLevel: status.Warning, wantText: []string{"500 of 500", "no webhook event received for 3d0h", "lag p99 10h0m0s"}},
		{name: "webhook runs but no sweep yet: shown, OK",
			watermark: now.Add(-time.Hour), wantLevel: status.OK, wantText: []string{status.NoSweepText}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			th := status.DefaultThresholds()
			if tt.th != nil {
				tt.th(&th)
			}
			in := status.Inputs{Source: "settlements", Watermark: now.Add(-time.Hour), Runs: runs("promoted"),
				Webhook: tt.webhook, WebhookWatermark: tt.watermark}
			r := status.Evaluate(in, th, now)
			if r.Level != tt.wantLevel {
				t.Errorf("Level = %v, want %v; checks %+v", r.Level, tt.wantLevel, r.Checks)
			}
			var texts []string
			for _, c := range r.Checks {
				if c.Name == "webhook" {
					texts = append(texts, c.Text)
				}
				if c.Name != "webhook" && c.Level != status.OK {
					t.Errorf("a check other than webhook is %v: %+v", c.Level, c)
				}
			}
			all := strings.Join(texts, "\n")
			for _, want := range tt.wantText {
				if !strings.Contains(all, want) {
					t.Errorf("webhook checks do not say %q:\n%s", want, all)
				}
			}
			if r.Webhook == nil {
				t.Fatal("Report.Webhook = nil, want the webhook section")
			}
		})
	}
}

// TestEvaluateWebhookFigures: the report carries the sweep's figures,
// with ages taken at now.
func TestEvaluateWebhookFigures(t *testing.T) {
	now := at("2026-11-02T12:00:00Z")
	st := pipeline.WebhookStatus{
		CheckedAt: at("2026-11-02T11:35:00Z"), From: at("2026-11-02T05:00:00Z"), To: at("2026-11-02T11:30:00Z"),
		SweepVersions: 300, MissedByWebhook: 2, MissedSample: []string{"a", "b"}, WebhookEvents: 298,
		LastReceived: at("2026-11-02T11:59:00Z"), LagP50: time.Second, LagP99: 9 * time.Second, LagMax: time.Minute,
	}
	r := status.Evaluate(status.Inputs{Source: "webhook", Watermark: now, Runs: runs("promoted"), Webhook: &st}, status.DefaultThresholds(), now)
	want := &status.WebhookReport{
		Swept: true, SweptAt: st.CheckedAt, SweepAge: 25 * time.Minute, SweepAgeSeconds: 1500,
		SweepFrom: st.From, SweepTo: st.To, SweepVersions: 300, MissedByWebhook: 2, MissedSample: []string{"a", "b"}, WebhookEvents: 298,
		LastReceived: st.LastReceived, LastReceivedAge: time.Minute, LastReceivedAgeSeconds: 60,
		LagP50: time.Second, LagP99: 9 * time.Second, LagMax: time.Minute, LagP50Seconds: 1, LagP99Seconds: 9, LagMaxSeconds: 60,
	}
	if diff := cmp.Diff(want, r.Webhook); diff != "" {
		t.Errorf("Report.Webhook (-want +got):\n%s", diff)
	}
}

// TestEvaluateWithoutWebhookIsUnchanged: a pull-only source (no sweep, no
// webhook watermark) gets no webhook section and no webhook check, and
// the checks and verdict it got before webhooks existed.
func TestEvaluateWithoutWebhookIsUnchanged(t *testing.T) {
	now := at("2026-11-02T12:00:00Z")
	tests := []struct {
		name       string
		in         status.Inputs
		wantLevel  status.Level
		wantChecks []string
	}{
		{"healthy", status.Inputs{Source: "settlements", Watermark: now.Add(-time.Hour), Runs: runs("promoted")},
			status.OK, []string{"deadline", "failure rate", "dead letters"}},
		{"the last run failed", status.Inputs{Source: "settlements", Watermark: now.Add(-time.Hour), Runs: runs("failed", "promoted")},
			status.Critical, []string{"deadline", "last run", "failure rate", "dead letters"}},
		{"no data", status.Inputs{Source: "settlements", NoData: true}, status.Unknown, []string{"runs"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := status.Evaluate(tt.in, status.DefaultThresholds(), now)
			if r.Webhook != nil {
				t.Errorf("Report.Webhook = %+v, want nil for a pull-only source", r.Webhook)
			}
			var names []string
			for _, c := range r.Checks {
				names = append(names, c.Name)
				if strings.Contains(c.Text, "webhook") {
					t.Errorf("check %+v on a pull-only source", c)
				}
			}
			if diff := cmp.Diff(tt.wantChecks, names); diff != "" {
				t.Errorf("check names (-want +got):\n%s", diff)
			}
			if r.Level != tt.wantLevel {
				t.Errorf("Level = %v, want %v", r.Level, tt.wantLevel)
			}
		})
	}
}
