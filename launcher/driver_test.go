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

	"github.com/marketplace/settle/io/cursorstore"
	"github.com/marketplace/settle/pipeline"
	"github.com/marketplace/settle/testing/vendorsim"
)

// TestDriveRunFn calls the driver job's DoFn directly, as a Dataflow
// worker would, with the run's pipelines on prism and the local back ends:
// a run that promotes reports it and succeeds; a run refused by the lease
// succeeds without running; a run that fails returns its error (Dataflow
// then retries the bundle); each logs one report line the alerts can read.
func TestDriveRunFn(t *testing.T) {
	beam.Init()
	keepBeamFlags(t)
	logs := &captureLog{}

	from := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	to := from.Add(2 * time.Hour)
	const token = "sim_driver_test_token"
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

	settings, err := validDataflowFlags().settings("settle-test", pipeline.DefaultSource)
	if err != nil {
		t.Fatal(err)
	}
	newFn := func(dir string) *driveRunFn {
		cfg := pipeline.DefaultConfig(dir)
		cfg.VendorURL, cfg.From, cfg.To = url, from, to
		return &driveRunFn{Config: cfg, Dataflow: settings, logReport: func(ctx context.Context, line string) {
			logs.Log(ctx, beamlog.SevInfo, 1, line)
		}}
	}
	// report returns the key=values of the one report line logged since
	// the last call.
	report := func(t *testing.T) map[string]string {
		t.Helper()
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

	t.Run("a run that promotes reports it, with the watermark's age", func(t *testing.T) {
		logs.take()
		fn := newFn(t.TempDir())
		start := time.Now()
		if err := fn.ProcessElement(t.Context(), nil); err != nil {
			t.Fatalf("ProcessElement: %v", err)
		}
		kv := report(t)
		if kv["outcome"] != "promoted" || kv["held"] != "0" || kv["parked_windows"] != "0" || kv["source"] != pipeline.DefaultSource {
			t.Errorf("report %v, want outcome=promoted held=0 parked_windows=0 source=%s", kv, pipeline.DefaultSource)
		}
		age, err := strconv.ParseInt(kv["watermark_age_seconds"], 10, 64)
		lo, hi := int64(start.Sub(to)/time.Second), int64(time.Since(to)/time.Second)+1
		if err != nil || age < lo || age > hi {
			t.Errorf("watermark_age_seconds = %q, want between %d and %d (the watermark is %s)", kv["watermark_age_seconds"], lo, hi, to)
		}
		if n, _ := strconv.Atoi(kv["promoted"]); n == 0 {
			t.Errorf("promoted = %q, want the simulator's records", kv["promoted"])
		}
	})

	t.Run("a run refused by the lease succeeds without running", func(t *testing.T) {
		logs.take()
		fn := newFn(t.TempDir())
		store, err := cursorstore.Open(t.Context(), fn.Config.CursorStore)
		if err != nil {
			t.Fatal(err)
		}
		defer store.Close()
		if _, err := cursorstore.AcquireLease(t.Context(), store, fn.Config.Source, "another run", time.Hour, time.Now()); err != nil {
			t.Fatalf("taking the lease: %v", err)
		}
		if err := fn.ProcessElement(t.Context(), nil); err != nil {
			t.Errorf("ProcessElement with the lease held = %v, want nil (not a failure)", err)
		}
		if kv := report(t); kv["outcome"] != "lease_held" {
			t.Errorf("report %v, want outcome=lease_held", kv)
		}
	})

	t.Run("a run that fails returns its error for Dataflow to retry", func(t *testing.T) {
		logs.take()
		fn := newFn(t.TempDir())
		fn.Config.Warehouse = "nosuch://warehouse"
		if err := fn.ProcessElement(t.Context(), nil); err == nil {
			t.Errorf("ProcessElement with a broken warehouse = nil, want the run's error")
		}
		if kv := report(t); kv["outcome"] != "failed" || kv["watermark_age_seconds"] == "" {
			t.Errorf("report %v, want outcome=failed and a watermark age", kv)
		}
	})
}
