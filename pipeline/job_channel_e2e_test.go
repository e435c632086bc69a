//go:build cgo

package pipeline_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/marketplace/settle/io/cursorstore"
	"github.com/marketplace/settle/io/warehouse"
	"github.com/marketplace/settle/pipeline"
	"github.com/marketplace/settle/testing/truthcheck"
	"github.com/marketplace/settle/testing/vendorsim"
)

// TestOneJobWebhookRunMatchesTheHostRun: the events pushed with every
// fault land once; a copy of the raw zone is processed by the host's
// webhook run and, elsewhere, by the one job (the Dataflow shape) on
// prism. Both warehouses are the ground truth and equal, both runs cover
// the same hours of receipt, the job moves the webhook watermark, and the
// next job finds nothing new.
func TestOneJobWebhookRunMatchesTheHostRun(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end: pushes a simulated vendor through the receiver and prism")
	}
	e := newPushEnv(t, 400, vendorsim.AllFaults())
	e.push(t, e.sim.Events(), vendorsim.AllPushFaults())
	host := e.cfg
	host.Source = pipeline.WebhookSource
	job := copyRawZone(t, host)
	opts := quietOptions()
	later := time.Now().Add(time.Hour + pipeline.WebhookGrace)
	opts.Now = func() time.Time { return later }

	want, err := pipeline.RunWebhook(t.Context(), host, opts)
	if err != nil {
		t.Fatalf("RunWebhook: %v (summary %+v)", err, want)
	}
	got, err := pipeline.RunWebhookJob(t.Context(), job, opts)
	if err != nil {
		t.Fatalf("RunWebhookJob: %v (summary %+v)", err, got)
	}
	if got.Outcome != warehouse.OutcomePromoted || got.Promoted == 0 {
		t.Fatalf("webhook job outcome %s (%s), promoted %d; want promoted with rows", got.Outcome, got.Detail, got.Promoted)
	}
	if !got.From.Equal(want.From) || !got.To.Equal(want.To) || got.Promoted != want.Promoted ||
		got.Validated != want.Validated || got.Quarantined != want.Quarantined {
		t.Errorf("webhook job [%s, %s) promoted %d, validated %d, quarantined %d; host run [%s, %s) %d, %d, %d",
			got.From, got.To, got.Promoted, got.Validated, got.Quarantined, want.From, want.To, want.Promoted, want.Validated, want.Quarantined)
	}
	checkJobLikeHost(t, host, job, e.sim.Truth(), pipeline.WebhookSource, got.To)

	again, err := pipeline.RunWebhookJob(t.Context(), job, opts)
	if err != nil {
		t.Fatalf("RunWebhookJob again: %v", err)
	}
	if again.Promoted != 0 || !again.From.Equal(got.To) || !again.To.Equal(got.To) {
		t.Errorf("second webhook job [%s, %s) promoted %d, want the empty range at %s and 0", again.From, again.To, again.Promoted, got.To)
	}

	// A replay of those hours as one job (settle replay --source=webhook
	// on Dataflow), into an empty warehouse over a copy of the raw zone,
	// lands the same warehouse and never moves the watermark.
	replay := copyRawZone(t, host)
	rep, err := pipeline.ReplayWebhookJob(t.Context(), replay, opts, want.From, want.To)
	if err != nil {
		t.Fatalf("ReplayWebhookJob: %v (summary %+v)", err, rep)
	}
	if rep.Kind != pipeline.KindReplay || rep.Outcome != warehouse.OutcomePromoted || rep.Promoted != want.Promoted ||
		!rep.From.Equal(want.From) || !rep.To.Equal(want.To) {
		t.Errorf("webhook replay job: %s %s [%s, %s) promoted %d; want a promoted replay of [%s, %s) promoting %d",
			rep.Kind, rep.Outcome, rep.From, rep.To, rep.Promoted, want.From, want.To, want.Promoted)
	}
	checkJobLikeHost(t, host, replay, e.sim.Truth(), pipeline.WebhookSource, time.Time{})
}

// TestOneJobSweepMatchesTheHostSweep: the push loses every seventh event;
// the host's sweep and, over a copy of the same raw zone and an identical
// vendor, the sweep's one job (on prism) land the same warehouse (the
// ground truth), find the same webhook status (the lost events exactly),
// save it for `settle status`, and move the sweep's watermark.
func TestOneJobSweepMatchesTheHostSweep(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end: pull and push through prism")
	}
	h := newE2E(t, 2, 300, vendorsim.NoFaults())
	j := newE2E(t, 2, 300, vendorsim.NoFaults())
	p := &pushEnv{sim: h.sim, cfg: h.cfg, url: serveReceiver(t, h.cfg)}
	all := h.sim.Events()
	var delivered []vendorsim.PushEvent
	lost := 0
	for i, ev := range all {
		if i%7 == 3 {
			lost++
			continue
		}
		delivered = append(delivered, ev)
	}
	p.push(t, delivered, vendorsim.PushFaults{Shuffle: true})
	host := h.cfg
	host.Source = pipeline.WebhookSource
	host.From, host.To = simFrom, simFrom.Add(2*time.Hour)
	job := host
	job.VendorURL = j.cfg.VendorURL
	job.SetDataDir(j.cfg.DataDir)
	copyRawZoneTo(t, host, job)

	want, wantSt, err := pipeline.Sweep(t.Context(), host, quietOptions(), pipeline.SweepSpan)
	if err != nil {
		t.Fatalf("Sweep: %v (summary %+v)", err, want)
	}
	got, gotSt, err := pipeline.RunSweepJob(t.Context(), job, quietOptions(), pipeline.SweepSpan)
	if err != nil {
		t.Fatalf("RunSweepJob: %v (summary %+v)", err, got)
	}
	if got.Outcome != warehouse.OutcomePromoted || !got.From.Equal(want.From) || !got.To.Equal(want.To) || got.Promoted != want.Promoted {
		t.Errorf("sweep job %s [%s, %s) promoted %d; host sweep %s [%s, %s) %d",
			got.Outcome, got.From, got.To, got.Promoted, want.Outcome, want.From, want.To, want.Promoted)
	}
	if gotSt.MissedByWebhook != int64(lost) || gotSt.SweepVersions != int64(len(all)) || gotSt.WebhookEvents != int64(len(delivered)) {
		t.Errorf("sweep job found %d of %d versions missed and %d events, want %d of %d and %d",
			gotSt.MissedByWebhook, gotSt.SweepVersions, gotSt.WebhookEvents, lost, len(all), len(delivered))
	}
	if diff := cmp.Diff(wantSt, gotSt, cmpopts.IgnoreFields(pipeline.WebhookStatus{}, "CheckedAt")); diff != "" {
		t.Errorf("webhook status of the sweep job differs from the host sweep's (-host +job):\n%s", diff)
	}
	checkJobLikeHost(t, host, job, j.sim.Truth(), pipeline.SweepSource, got.To)
	if st := j.sim.Stats(); st.Requests == 0 {
		t.Errorf("the sweep job sent no request to its vendor")
	}
}

// checkJobLikeHost checks that the warehouse of the job's configuration
// equals the host run's and the ground truth, that every run of either
// balanced its account, and that the job moved the watermark of source to
// mark.
func checkJobLikeHost(t *testing.T, host, job pipeline.Config, truth []vendorsim.TruthRecord, source string, mark time.Time) {
	t.Helper()
	jobWH := readWarehouse(t, job)
	if diff := cmp.Diff(readWarehouse(t, host), jobWH); diff != "" {
		t.Errorf("warehouse of the %s job differs from the host run's (-host +job):\n%s", source, diff)
	}
	truthcheck.Compare(t, jobWH, truth)
	// Every run of both ledgers balances its account (the one job sums
	// the process counts it carries as data, the host its jobs' counters).
	checkAccounts(t, host)
	checkAccounts(t, job)
	if wm := watermark(t, job, source); !wm.Equal(mark) {
		t.Errorf("%s watermark after the job = %s, want the end of its range %s", source, wm, mark)
	}
}

// copyRawZone returns a configuration under a new data directory whose raw
// zone is a copy of cfg's.
func copyRawZone(t *testing.T, cfg pipeline.Config) pipeline.Config {
	t.Helper()
	out := cfg
	out.SetDataDir(t.TempDir())
	copyRawZoneTo(t, cfg, out)
	return out
}

func copyRawZoneTo(t *testing.T, from, to pipeline.Config) {
	t.Helper()
	src, dst := strings.TrimPrefix(from.RawZone, "file://"), strings.TrimPrefix(to.RawZone, "file://")
	if err := os.RemoveAll(dst); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatalf("copying the raw zone: %v", err)
	}
}

// watermark returns source's stored watermark.
func watermark(t *testing.T, cfg pipeline.Config, source string) time.Time {
	t.Helper()
	cursors, err := cursorstore.Open(t.Context(), cfg.CursorStore)
	if err != nil {
		t.Fatal(err)
	}
	defer cursors.Close()
	wm, _, err := cursorstore.LoadWatermark(t.Context(), cursors, source)
	if err != nil {
		t.Fatal(err)
	}
	return wm
}
