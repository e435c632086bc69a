package gate_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/marketplace/settle/io/warehouse"
	"github.com/marketplace/settle/transforms/gate"
)

var day0 = time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)

// run is a ledger row of kind "run" over [day0+startH, +hours) with
// validated rows, promoted.
func run(id string, startH, hours int, validated int64) warehouse.Run {
	start := day0.Add(time.Duration(startH) * time.Hour)
	return warehouse.Run{
		RunID:       id,
		Kind:        "run",
		WindowStart: start,
		WindowEnd:   start.Add(time.Duration(hours) * time.Hour),
		StartedAt:   start.Add(time.Duration(hours) * time.Hour),
		Validated:   validated,
		Outcome:     warehouse.OutcomePromoted,
	}
}

func with(r warehouse.Run, f func(*warehouse.Run)) warehouse.Run {
	f(&r)
	return r
}

func TestCheckVolume(t *testing.T) {
	// Three daily runs of 2400 rows: 100 rows per hour.
	steady := []warehouse.Run{run("d3", 48, 24, 2400), run("d2", 24, 24, 2400), run("d1", 0, 24, 2400)}
	band := gate.VolumeBand{Tolerance: 0.5, MinHistory: 3, Lookback: 7}
	tests := []struct {
		name       string
		band       gate.VolumeBand
		cur        warehouse.Run
		history    []warehouse.Run
		wantHold   bool
		wantDetail string
	}{
		{name: "a run within the band is not held", band: band, cur: run("d4", 72, 24, 2400), history: steady, wantDetail: "within band"},
		{name: "a run at the lower edge is not held", band: band, cur: run("d4", 72, 24, 1200), history: steady, wantDetail: "within band"},
		{name: "a run below the band is held", band: band, cur: run("d4", 72, 24, 1199), history: steady, wantHold: true, wantDetail: "below band"},
		{name: "a run above the band is held", band: band, cur: run("d4", 72, 24, 3601), history: steady, wantHold: true, wantDetail: "above band"},
		{name: "an empty run after steady volume is held", band: band, cur: run("d4", 72, 24, 0), history: steady, wantHold: true, wantDetail: "below band"},
		{name: "a shorter window is compared per hour", band: band, cur: run("d4", 72, 6, 600), history: steady, wantDetail: "= 100.0/h"},
		{name: "too little history is a warm-up, never held", band: band, cur: run("d4", 72, 24, 1), history: steady[:2], wantDetail: "warming up: 2 of 3"},
		{name: "no history at all is a warm-up", band: band, cur: run("d1", 0, 24, 5), wantDetail: "warming up: 0 of 3"},
		{name: "a zero MinHistory still needs one earlier run", band: gate.VolumeBand{Tolerance: 0.5}, cur: run("d1", 0, 24, 5), wantDetail: "warming up: 0 of 1"},
		{
			name: "held and failed runs do not count as history",
			band: band,
			cur:  run("d4", 72, 24, 1),
			history: []warehouse.Run{
				with(run("h", 60, 24, 2400), func(r *warehouse.Run) { r.Outcome = warehouse.OutcomeHeld }),
				with(run("f", 61, 24, 2400), func(r *warehouse.Run) { r.Outcome = warehouse.OutcomeFailed }),
				steady[0], steady[1],
			},
			wantDetail: "warming up: 2 of 3",
		},
		{
			name: "runs with needs_attention count as history",
			band: band,
			cur:  run("d4", 72, 24, 1),
			history: []warehouse.Run{
				with(steady[0], func(r *warehouse.Run) { r.Outcome = warehouse.OutcomeNeedsAttention }),
				steady[1], steady[2],
			},
			wantHold:   true,
			wantDetail: "below band",
		},
		{
			name: "zero-length windows and other kinds do not count as history",
			band: band,
			cur:  run("d4", 72, 24, 1),
			history: []warehouse.Run{
				run("empty", 50, 0, 0),
				with(run("redrive", 51, 2, 5), func(r *warehouse.Run) { r.Kind = "redrive" }),
				with(run("promote", 52, 24, 2400), func(r *warehouse.Run) { r.Kind = "promote" }),
				steady[0], steady[1],
			},
			wantDetail: "warming up: 2 of 3",
		},
		{
			name:       "the current run is not its own history",
			band:       band,
			cur:        run("d3", 48, 24, 1),
			history:    steady,
			wantDetail: "warming up: 2 of 3",
		},
		{
			name: "only the newest runs within the lookback form the baseline",
			band: gate.VolumeBand{Tolerance: 0.5, MinHistory: 3, Lookback: 3},
			cur:  run("d6", 120, 24, 24000),
			// Old runs of 100/h, newest three of 1000/h.
			history: []warehouse.Run{
				run("d1", 0, 24, 2400), run("d2", 24, 24, 2400),
				run("d3", 48, 24, 24000), run("d4", 72, 24, 24000), run("d5", 96, 24, 24000),
			},
			wantDetail: "baseline median 1000.0/h of 3 runs",
		},
		{
			name: "the median ignores one outlier run",
			band: band,
			cur:  run("d5", 96, 24, 2400),
			history: []warehouse.Run{
				run("d1", 0, 24, 2400), run("d2", 24, 24, 2400),
				run("d3", 48, 24, 240000), run("d4", 72, 24, 2400),
			},
			wantDetail: "baseline median 100.0/h of 4 runs",
		},
		{name: "a run with an empty window is never held", band: band, cur: run("d4", 72, 0, 0), history: steady, wantDetail: "skipped"},
		{name: "a replay counts as history by default", band: band, cur: run("d4", 72, 24, 1), history: []warehouse.Run{with(steady[0], func(r *warehouse.Run) { r.Kind = "replay" }), steady[1], steady[2]}, wantHold: true, wantDetail: "below band"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hold, detail := gate.CheckVolume(tt.band, tt.cur, tt.history)
			if hold != tt.wantHold || !strings.Contains(detail, tt.wantDetail) {
				t.Errorf("CheckVolume() = %v, %q, want %v, containing %q", hold, detail, tt.wantHold, tt.wantDetail)
			}
		})
	}
}

func TestVolumeBandValidate(t *testing.T) {
	for _, b := range []gate.VolumeBand{{Tolerance: -0.1}, {MinHistory: -1}, {Lookback: -1}} {
		t.Run(fmt.Sprintf("%+v is invalid", b), func(t *testing.T) {
			if err := b.Validate(); err == nil {
				t.Errorf("Validate() = nil, want an error")
			}
		})
	}
	if err := gate.DefaultVolumeBand().Validate(); err != nil {
		t.Errorf("DefaultVolumeBand().Validate() = %v, want nil", err)
	}
}
