//go:build cgo

package main

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	beamlog "github.com/apache/beam/sdks/v2/go/pkg/beam/log"

	"github.com/marketplace/settle/io/warehouse"
	"github.com/marketplace/settle/pipeline"
	"github.com/marketplace/settle/testing/vendorsim"
)

// TestLaunchedJobOnPrism runs the job `settle launch` submits (the run as
// one pipeline, then reportFn) on prism with the local back ends, then
// calls reportFn as a worker would: a promoted run reports it with the
// watermark's age; a run that found the lease held reports lease_held.
func TestLaunchedJobOnPrism(t *testing.T) {
	beam.Init()
	keepBeamFlags(t)
	logs := &captureLog{}

	from := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	to := from.Add(2 * time.Hour)
	const token = "sim_launch_test_token"
	t.Setenv(pipeline.DefaultTokenEnv, token)
	faults, err := vendorsim.ParseFaults("none")
	if err != nil {
		t.Fatal(err)
	}
	sim, url, err := vendorsim.Start(vendorsim.Config{Seed: 3, Records: 300, From: from, To: to, Token: token, Faults: faults})
	if err != nil {
		t.Fatalf("starting the simulator: %v", err)
	}
	t.Cleanup(func() { sim.Close() })

	cfg := pipeline.DefaultConfig(t.TempDir())
	cfg.VendorURL, cfg.From, cfg.To = url, from, to
	spec := pipeline.NewJobSpec(cfg, pipeline.KindRun, time.Time{}, time.Time{}, time.Now())
	p, res := pipeline.JobPipeline(spec)
	beam.ParDo0(p.Root().Scope("settle.Report"), &reportFn{Config: cfg}, res)
	if _, err := beam.Run(t.Context(), "prism", p); err != nil {
		t.Fatalf("running the launched job on prism: %v", err)
	}
	wh, err := warehouse.Open(t.Context(), cfg.Warehouse)
	if err != nil {
		t.Fatal(err)
	}
	runs, err := wh.Runs(t.Context(), 10)
	wh.Close()
	if err != nil || len(runs) != 1 || runs[0].RunID != spec.RunID || runs[0].Outcome != warehouse.OutcomePromoted || runs[0].Promoted == 0 {
		t.Fatalf("ledger after the job = %+v, %v; want run %s promoted with rows", runs, err, spec.RunID)
	}

	report := func(t *testing.T, r pipeline.JobResult) map[string]string {
		t.Helper()
		fn := &reportFn{Config: cfg, logReport: func(ctx context.Context, line string) { logs.Log(ctx, beamlog.SevInfo, 1, line) }}
		fn.ProcessElement(t.Context(), r)
		var lines []string
		for _, m := range logs.take() {
			if strings.HasPrefix(m, runReportTag+" ") {
				lines = append(lines, m)
			}
		}
		if len(lines) != 1 {
			t.Fatalf("report lines %q, want one", lines)
		}
		kv := map[string]string{}
		for _, m := range regexp.MustCompile(`(\w+)=(\S+)`).FindAllStringSubmatch(lines[0], -1) {
			kv[m[1]] = m[2]
		}
		return kv
	}
	t.Run("a promoted run reports it, with the watermark's age", func(t *testing.T) {
		start := time.Now()
		kv := report(t, pipeline.JobResult{RunID: spec.RunID, Kind: pipeline.KindRun, Outcome: warehouse.OutcomePromoted, Promoted: runs[0].Promoted})
		if kv["outcome"] != "promoted" || kv["held"] != "0" || kv["parked_windows"] != "0" || kv["run_id"] != spec.RunID {
			t.Errorf("report %v, want outcome=promoted held=0 parked_windows=0 run_id=%s", kv, spec.RunID)
		}
		age, err := strconv.ParseInt(kv["watermark_age_seconds"], 10, 64)
		lo, hi := int64(start.Sub(to)/time.Second), int64(time.Since(to)/time.Second)+1
		if err != nil || age < lo || age > hi {
			t.Errorf("watermark_age_seconds = %q, want between %d and %d (the watermark is %s)", kv["watermark_age_seconds"], lo, hi, to)
		}
	})
	t.Run("a run refused by the lease says so", func(t *testing.T) {
		if kv := report(t, pipeline.JobResult{RunID: "r2", Outcome: pipeline.OutcomeLeaseHeld}); kv["outcome"] != "lease_held" {
			t.Errorf("report %v, want outcome=lease_held", kv)
		}
	})
}
