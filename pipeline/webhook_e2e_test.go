//go:build cgo

package pipeline_test

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/marketplace/settle/io/cursorstore"
	"github.com/marketplace/settle/io/rawzone"
	"github.com/marketplace/settle/io/webhook"
	"github.com/marketplace/settle/pipeline"
	"github.com/marketplace/settle/testing/truthcheck"
	"github.com/marketplace/settle/testing/vendorsim"
)

var pushSecret = webhook.Secret("whsec_e2e_do_not_log")

// pushEnv is a webhook receiver (in process) landing into the raw zone of a
// local configuration, and a simulator to push from.
type pushEnv struct {
	sim *vendorsim.Sim
	cfg pipeline.Config
	url string
}

func newPushEnv(t *testing.T, records int, faults vendorsim.Faults) *pushEnv {
	t.Helper()
	sim, err := vendorsim.New(vendorsim.Config{Seed: 11, Records: records, From: simFrom, To: simFrom.Add(2 * time.Hour), Faults: faults})
	if err != nil {
		t.Fatalf("creating simulator: %v", err)
	}
	cfg := pipeline.DefaultConfig(t.TempDir())
	cfg.ChunkWindows = 2
	return &pushEnv{sim: sim, cfg: cfg, url: serveReceiver(t, cfg)}
}

// serveReceiver serves a webhook receiver landing into cfg's raw zone and
// returns its URL; both stop at cleanup.
func serveReceiver(t *testing.T, cfg pipeline.Config) string {
	t.Helper()
	store, err := rawzone.Open(t.Context(), cfg.RawZone)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	h, err := webhook.NewHandler(store, []webhook.Secret{pushSecret}, webhook.WithLogger(quietOptions().Logger))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func (e *pushEnv) push(t *testing.T, events []vendorsim.PushEvent, f vendorsim.PushFaults) vendorsim.PushStats {
	t.Helper()
	// 400 events/s on average, with a second's worth at 20 times that
	// every other second (the backlog after a vendor outage).
	st, err := e.sim.Push(t.Context(), events, vendorsim.PushConfig{
		URL: e.url, Secrets: []webhook.Secret{pushSecret}, Faults: f,
		Rate: 400, BurstEvery: 2, BurstFactor: 20,
		Concurrency: 16, BackoffUnit: 5 * time.Millisecond, MaxElapsed: 30 * time.Second,
	})
	if err != nil {
		t.Fatalf("Push: %v", err)
	}
	if st.GaveUp > 0 {
		t.Fatalf("Push gave up on %d events: %+v", st.GaveUp, st)
	}
	return st
}

// runWebhook processes every hour of receipt landed so far: the clock is
// moved past the current hour's grace.
func (e *pushEnv) runWebhook(t *testing.T) pipeline.Summary {
	t.Helper()
	cfg := e.cfg
	cfg.Source = pipeline.WebhookSource
	opts := quietOptions()
	later := time.Now().Add(time.Hour + pipeline.WebhookGrace)
	opts.Now = func() time.Time { return later }
	sum, err := pipeline.RunWebhook(t.Context(), cfg, opts)
	if err != nil {
		t.Fatalf("RunWebhook: %v (summary %+v)", err, sum)
	}
	return sum
}

func TestWebhookPushWithEveryFaultMatchesGroundTruth(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end: pushes a simulated vendor through the receiver and prism")
	}
	e := newPushEnv(t, 400, vendorsim.AllFaults())
	events := e.sim.Events()
	st := e.push(t, events, vendorsim.AllPushFaults())
	t.Logf("push: %d events, %d attempts, %d acknowledged, %d refused 401, %d refused 413", st.Events, st.Attempts, st.Acked2xx, st.Refused401, st.TooLarge413)
	if st.Refused401 == 0 || st.TooLarge413 == 0 || st.Events <= int64(len(events)) {
		t.Errorf("push faults did not happen (401: %d, 413: %d, events %d of %d versions)", st.Refused401, st.TooLarge413, st.Events, len(events))
	}
	sum := e.runWebhook(t)
	if sum.RecordsRead < int64(len(events)) {
		t.Errorf("webhook run read %d records, want at least the %d versions pushed", sum.RecordsRead, len(events))
	}
	if sum.QuarantinedBy["event_unparseable"] == 0 {
		t.Errorf("quarantined by reason %v, want the malformed events as event_unparseable", sum.QuarantinedBy)
	}
	truthcheck.Compare(t, readWarehouse(t, e.cfg), e.sim.Truth())

	// The next run starts at the watermark: nothing new.
	again := e.runWebhook(t)
	if again.RecordsRead != 0 || again.Promoted != 0 {
		t.Errorf("second webhook run read %d records and promoted %d, want 0 and 0", again.RecordsRead, again.Promoted)
	}
}

// TestWebhookAndPullOverlapLandOnce: the pull reads every version, then
// the push delivers every other version (older ones among them) with
// duplicates, out of order. Each settlement lands once at its newest version,
// whichever channel brought it.
func TestWebhookAndPullOverlapLandOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end: pull and push through prism")
	}
	e := newE2E(t, 2, 300, vendorsim.NoFaults())
	p := &pushEnv{sim: e.sim, cfg: e.cfg, url: serveReceiver(t, e.cfg)}

	e.run(t)
	truth := e.sim.Truth()
	all := e.sim.Events()
	var older []vendorsim.PushEvent
	for i, ev := range all {
		if i%2 == 0 || len(all) < 2 {
			older = append(older, ev)
		}
	}
	p.push(t, older, vendorsim.PushFaults{Duplicate: 0.2, Shuffle: true})
	p.runWebhook(t)
	checkAgainstTruth(t, e, truth)

	// And the other way round: the push brings everything, then the pull
	// again; still once each, at the newest version.
	p.push(t, all, vendorsim.PushFaults{Shuffle: true})
	p.runWebhook(t)
	e.cfg.From, e.cfg.To = simFrom, simFrom.Add(2*time.Hour)
	if _, err := pipeline.Replay(t.Context(), e.cfg, quietOptions(), e.cfg.From, e.cfg.To); err != nil {
		t.Fatalf("Replay: %v", err)
	}
	checkAgainstTruth(t, e, truth)
}

// TestSweepCountsWhatWebhooksMissed: the push loses every seventh event;
// the sweep lists every version, lands what the webhooks missed (the
// warehouse then equals the truth) and counts exactly the lost ones.
func TestSweepCountsWhatWebhooksMissed(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end: pull and push through prism")
	}
	e := newE2E(t, 2, 300, vendorsim.NoFaults())
	p := &pushEnv{sim: e.sim, cfg: e.cfg, url: serveReceiver(t, e.cfg)}

	all := e.sim.Events()
	var delivered []vendorsim.PushEvent
	lost := map[string]bool{}
	for i, ev := range all {
		if i%7 == 3 {
			lost[ev.ID] = true
			continue
		}
		delivered = append(delivered, ev)
	}
	p.push(t, delivered, vendorsim.PushFaults{Shuffle: true})
	p.runWebhook(t)

	cfg := e.cfg
	cfg.Source = pipeline.WebhookSource
	cfg.From, cfg.To = simFrom, simFrom.Add(2*time.Hour)
	sum, st, err := pipeline.Sweep(t.Context(), cfg, quietOptions(), pipeline.SweepSpan)
	if err != nil {
		t.Fatalf("Sweep: %v (summary %+v)", err, sum)
	}
	if st.MissedByWebhook != int64(len(lost)) || st.SweepVersions != int64(len(all)) {
		t.Errorf("sweep found %d of %d versions missed by webhooks, want %d of %d", st.MissedByWebhook, st.SweepVersions, len(lost), len(all))
	}
	if st.WebhookEvents != int64(len(delivered)) || st.LastReceived.IsZero() || st.LagMax <= 0 {
		t.Errorf("status = %+v, want %d webhook events with a receive time and a lag", st, len(delivered))
	}
	checkAgainstTruth(t, e, e.sim.Truth())

	cursors, err := cursorstore.Open(t.Context(), e.cfg.CursorStore)
	if err != nil {
		t.Fatal(err)
	}
	defer cursors.Close()
	got, err := pipeline.LoadWebhookStatus(t.Context(), cursors)
	if err != nil || got.MissedByWebhook != st.MissedByWebhook || !got.CheckedAt.Equal(st.CheckedAt) {
		t.Errorf("LoadWebhookStatus = %+v, %v, want the sweep's %+v", got, err, st)
	}
}
