//go:build cgo

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/marketplace/settle/io/rawzone"
	"github.com/marketplace/settle/io/webhook"
	"github.com/marketplace/settle/pipeline"
	"github.com/marketplace/settle/pipeline/status"
	"github.com/marketplace/settle/testing/vendorsim"
)

// TestStatusShowsWhatTheSweepFound: the push loses every seventh event, a
// sweep lists every version; then `settle status` (text and --json) shows
// the sweep's figures and exits WARNING for the missed events at least.
func TestStatusShowsWhatTheSweepFound(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end: push, then a sweep through prism")
	}
	beam.Init()
	keepBeamFlags(t)
	const token = "sim_status_webhook_token"
	secret := webhook.Secret("whsec_status_test_do_not_log")
	t.Setenv(pipeline.DefaultTokenEnv, token)
	from, to := simFrom(), simFrom().Add(2*time.Hour)
	sim, url, err := vendorsim.Start(vendorsim.Config{Seed: 5, Records: 200, From: from, To: to, Token: token})
	if err != nil {
		t.Fatalf("starting the simulator: %v", err)
	}
	t.Cleanup(func() { sim.Close() })
	dir := t.TempDir()
	cfg := pipeline.DefaultConfig(dir)
	cfg.VendorURL, cfg.ChunkWindows = url, 2
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))

	raw, err := rawzone.Open(t.Context(), cfg.RawZone)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	h, err := webhook.NewHandler(raw, []webhook.Secret{secret}, webhook.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	all := sim.Events()
	var delivered []vendorsim.PushEvent
	lost := 0
	for i, ev := range all {
		if i%7 == 3 {
			lost++
			continue
		}
		delivered = append(delivered, ev)
	}
	if _, err := sim.Push(t.Context(), delivered, vendorsim.PushConfig{URL: srv.URL, Secrets: []webhook.Secret{secret},
		Concurrency: 8, BackoffUnit: 5 * time.Millisecond, MaxElapsed: 30 * time.Second}); err != nil {
		t.Fatalf("Push: %v", err)
	}

	cfg.Source = pipeline.WebhookSource
	cfg.From, cfg.To = from, to
	_, st, err := pipeline.Sweep(t.Context(), cfg, pipeline.Options{Logger: quiet}, pipeline.SweepSpan)
	if err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	if st.MissedByWebhook != int64(lost) || lost == 0 {
		t.Fatalf("the sweep found %d missed, want %d: the fixture is wrong", st.MissedByWebhook, lost)
	}

	t.Run("--json carries the sweep's figures", func(t *testing.T) {
		code, stdout, stderr := runCaptured(t, "status", "--data-dir", dir, "--json")
		if code != 1 && code != 2 {
			t.Errorf("exit %d, want WARNING or worse (stale simulated data may be CRITICAL); stderr: %s", code, stderr)
		}
		var got struct {
			Checks []struct {
				Name, Level, Text string
			} `json:"checks"`
			Webhook *struct {
				Swept           bool      `json:"swept"`
				SweptAt         time.Time `json:"swept_at"`
				SweepFrom       time.Time `json:"sweep_from"`
				SweepTo         time.Time `json:"sweep_to"`
				SweepVersions   int64     `json:"sweep_versions"`
				MissedByWebhook int64     `json:"missed_by_webhook"`
				MissedSample    []string  `json:"missed_sample"`
				WebhookEvents   int64     `json:"webhook_events"`
				LastReceived    time.Time `json:"last_received"`
				LastReceivedAge float64   `json:"last_received_age_seconds"`
				LagP50          float64   `json:"lag_p50_seconds"`
				LagP99          float64   `json:"lag_p99_seconds"`
				LagMax          float64   `json:"lag_max_seconds"`
			} `json:"webhook"`
		}
		if err := json.Unmarshal([]byte(stdout), &got); err != nil {
			t.Fatalf("decoding %q: %v", stdout, err)
		}
		w := got.Webhook
		if w == nil {
			t.Fatalf("no webhook section in %s", stdout)
		}
		if !w.Swept || !w.SweptAt.Equal(st.CheckedAt) || !w.SweepFrom.Equal(st.From) || !w.SweepTo.Equal(st.To) ||
			w.SweepVersions != st.SweepVersions || w.MissedByWebhook != st.MissedByWebhook || w.WebhookEvents != st.WebhookEvents ||
			strings.Join(w.MissedSample, ",") != strings.Join(st.MissedSample, ",") || !w.LastReceived.Equal(st.LastReceived) ||
			w.LagP50 != st.LagP50.Seconds() || w.LagP99 != st.LagP99.Seconds() || w.LagMax != st.LagMax.Seconds() || w.LastReceivedAge <= 0 {
			t.Errorf("webhook section %+v, want the sweep's %+v", *w, st)
		}
		missed := false
		for _, c := range got.Checks {
			missed = missed || (c.Name == "webhook" && c.Level == "WARNING" && strings.Contains(c.Text, fmt.Sprintf("found %d of %d versions the webhooks missed", st.MissedByWebhook, st.SweepVersions)))
		}
		if !missed {
			t.Errorf("checks %+v, want a webhook WARNING naming %d missed", got.Checks, st.MissedByWebhook)
		}
	})
	t.Run("the text shows the same figures", func(t *testing.T) {
		code, stdout, stderr := runCaptured(t, "status", "--data-dir", dir)
		if code != 1 && code != 2 {
			t.Errorf("exit %d, want WARNING or worse; stderr: %s", code, stderr)
		}
		for _, want := range []string{
			"last event received " + stamp(st.LastReceived),
			fmt.Sprintf("p50 %s, p99 %s, max %s", status.Age(st.LagP50), status.Age(st.LagP99), status.Age(st.LagMax)),
			fmt.Sprintf("last sweep          %s", stamp(st.CheckedAt)),
			fmt.Sprintf("updated_at %s..%s", stamp(st.From), stamp(st.To)),
			fmt.Sprintf("%d listed; %d webhook event(s)", st.SweepVersions, st.WebhookEvents),
			fmt.Sprintf("missed by webhooks  %d (e.g. %s", st.MissedByWebhook, st.MissedSample[0]),
		} {
			if !strings.Contains(stdout, want) {
				t.Errorf("settle status does not say %q:\n%s", want, stdout)
			}
		}
	})
}
