package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/marketplace/settle/io/rawzone"
	"github.com/marketplace/settle/io/warehouse"
	"github.com/marketplace/settle/pipeline"
)

// updateGolden reports -update, the flag that rewrites golden files (an
// imported test helper already defines it).
func updateGolden() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// TestSummaryGolden prints the operator's view of each kind of ending —
// the summary on stdout, the error and what to do on stderr, the exit
// status — and compares it with testdata/summary/<name>.golden
// (go test ./launcher -run TestSummaryGolden -update rewrites them).
func TestSummaryGolden(t *testing.T) {
	from := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	to := from.Add(24 * time.Hour)
	base := pipeline.Summary{
		RunID: "20261102T001000Z-a1b2c3", Kind: pipeline.KindRun, From: from, To: to, Windows: 24,
		WindowsDone: 24, PagesLanded: 43, RecordsLanded: 21000, Requests: 51, RateLimited: 3,
		ObjectsRead: 43, RecordsRead: 21000, Duplicates: 1000, Validated: 19950, Quarantined: 50,
		QuarantinedBy: map[string]int64{"bad_amount": 30, "unknown_currency": 20},
		Promoted:      19950, Duration: 83*time.Second + 456*time.Millisecond,
	}
	prismFailure := errors.New("ingesting from the vendor: job job-001 failed:\n" +
		"bundle inst003 stage-003 failed:process bundle failed for instruction inst003 using plan stage-003 : while executing Up for Plan[stage-003]:\n" +
		"1: DataSource[S[stage-003_source@localhost:46617], i0] Out:4\n2: Discard\n\tcaused by:\n" +
		"DoFn[UID:4, PID:ee4_processandsplit, Name: github.com/marketplace/settle/io/vendorapi.readPagesFn] failed:\n" +
		"writing raw page 3 of window 2026-11-01T05:00:00Z_2026-11-01T06:00:00Z: write /data/raw/pages/x.json.gz: no space left on device")

	for _, tc := range []struct {
		name string
		sum  func(s pipeline.Summary) pipeline.Summary
		err  error
	}{
		{name: "promoted", sum: func(s pipeline.Summary) pipeline.Summary {
			s.Outcome = warehouse.OutcomePromoted
			return s
		}},
		{name: "promoted_nothing_new", sum: func(s pipeline.Summary) pipeline.Summary {
			s.PagesLanded, s.RecordsLanded, s.Requests, s.RateLimited, s.Promoted, s.Stale = 0, 0, 0, 0, 0, 19950
			s.Outcome = warehouse.OutcomePromoted
			s.Detail = "no row changed: the warehouse already held every version in the raw zone of these windows; " +
				"the vendor was not asked: every window was read by an earlier run (`settle refetch --all` reads them again)"
			return s
		}},
		{name: "parked", sum: func(s pipeline.Summary) pipeline.Summary {
			s.WindowsDone, s.WindowsParked = 23, 1
			s.DeadLetters = []rawzone.DeadLetter{{
				WindowStart: from.Add(5 * time.Hour), WindowEnd: from.Add(6 * time.Hour), Page: 2, Attempts: 22,
				LastError: `fetching page 2 of window 2026-11-01T05:00:00Z_2026-11-01T06:00:00Z: retry budget exhausted after 22 attempts in 4m58.763s (next wait 15.98s would pass the 5m0s budget): sending request: Get "https://api.vendor.example/v1/settlements?limit=500&cursor=abc": dial tcp 10.0.0.7:443: connect: connection refused`,
			}}
			s.Outcome = warehouse.OutcomeNeedsAttention
			s.Detail = "1 window(s) parked on dead letters: see `settle deadletters`, then `settle redrive`"
			return s
		}},
		{name: "held", sum: func(s pipeline.Summary) pipeline.Summary {
			s.Promoted = 0
			s.Held, s.HeldDetail = true, "831.2 validated rows/h is 3.1x the trailing average of 268.0 (band ±50%)"
			s.Outcome = warehouse.OutcomeHeld
			s.Detail = s.HeldDetail + "; staged, not promoted: check the batch, then `settle promote --run-id " + s.RunID + "`"
			return s
		}},
		{name: "interrupted", sum: func(s pipeline.Summary) pipeline.Summary {
			s.WindowsDone, s.PagesLanded, s.RecordsLanded, s.Requests = 9, 28, 13720, 31
			s.ObjectsRead, s.RecordsRead, s.Duplicates, s.Validated, s.Quarantined, s.QuarantinedBy, s.Promoted = 0, 0, 0, 0, 0, nil, 0
			s.Outcome = warehouse.OutcomeInterrupted
			s.Detail = "interrupted: rerun the same command to resume from the cursors"
			return s
		}, err: fmt.Errorf("interrupted (%w)", fmt.Errorf("ingesting from the vendor: %w", errors.New("context canceled")))},
		{name: "failed", sum: func(s pipeline.Summary) pipeline.Summary {
			s.WindowsDone, s.PagesLanded, s.RecordsLanded, s.Requests = 5, 12, 5880, 14
			s.ObjectsRead, s.RecordsRead, s.Duplicates, s.Validated, s.Quarantined, s.QuarantinedBy, s.Promoted = 0, 0, 0, 0, 0, nil, 0
			s.Outcome = warehouse.OutcomeFailed
			s.Detail = pipeline.RunnerCause(prismFailure).Error()
			return s
		}, err: pipeline.RunnerCause(prismFailure)},
		{name: "preflight", sum: func(pipeline.Summary) pipeline.Summary { return pipeline.Summary{} },
			err: preflightErr(t)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := reportTo(&stdout, &stderr, "run", tc.sum(base), tc.err)
			got := fmt.Sprintf("exit %d\n--- stdout\n%s--- stderr\n%s", code, stdout.String(), stderr.String())
			path := filepath.Join("testdata", "summary", tc.name+".golden")
			if updateGolden() {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("reading golden file (rerun with -update to create it): %v", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("report of a %s run differs from %s (-want +got):\n%s", tc.name, path, diff)
			}
		})
	}
}

// preflightErr is Preflight's error for a missing token.
func preflightErr(t *testing.T) error {
	t.Helper()
	t.Setenv("SETTLE_TEST_EMPTY_TOKEN", "")
	cfg := pipeline.DefaultConfig(filepath.Join(t.TempDir(), "data"))
	cfg.VendorURL = "https://api.vendor.example"
	cfg.TokenEnv = "SETTLE_TEST_EMPTY_TOKEN"
	err := pipeline.Preflight(t.Context(), cfg, time.Date(2026, 11, 2, 0, 10, 0, 0, time.UTC))
	if err == nil {
		t.Fatal("Preflight without a token = nil, want an error")
	}
	return err
}
