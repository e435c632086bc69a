package pipeline_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/marketplace/settle/pipeline"
)

func TestWorkerRate(t *testing.T) {
	tests := []struct {
		name                string
		rps                 float64
		burst, max, windows int
		wantRPS             float64
		wantBurst           int
	}{
		{name: "one process (prism) keeps the whole limit", rps: 25, burst: 50, max: 1, windows: 24, wantRPS: 25, wantBurst: 50},
		{name: "a day of windows on ten workers gives each a tenth", rps: 25, burst: 50, max: 10, windows: 24, wantRPS: 2.5, wantBurst: 5},
		{name: "an hourly run of two windows divides by two, not by max workers", rps: 25, burst: 50, max: 10, windows: 2, wantRPS: 12.5, wantBurst: 25},
		{name: "one window gets the whole limit on any number of workers", rps: 25, burst: 50, max: 100, windows: 1, wantRPS: 25, wantBurst: 50},
		{name: "an unknown worker cap divides by the windows", rps: 25, burst: 50, max: 0, windows: 5, wantRPS: 5, wantBurst: 10},
		{name: "a burst smaller than the workers is at least one each", rps: 25, burst: 3, max: 8, windows: 48, wantRPS: 3.125, wantBurst: 1},
		{name: "a burst is rounded down so the sum stays within it", rps: 25, burst: 50, max: 3, windows: 48, wantRPS: 25.0 / 3, wantBurst: 16},
		{name: "no windows and no cap leaves one process with the limit", rps: 25, burst: 50, max: 0, windows: 0, wantRPS: 25, wantBurst: 50},
		{name: "a rate of zero is returned as is for Validate to refuse", rps: 0, burst: 50, max: 4, windows: 4, wantRPS: 0, wantBurst: 50},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gotRPS, gotBurst := pipeline.WorkerRate(tt.rps, tt.burst, tt.max, tt.windows)
			if math.Abs(gotRPS-tt.wantRPS) > 1e-9 || gotBurst != tt.wantBurst {
				t.Errorf("WorkerRate(%v, %d, %d, %d) = %v, %d; want %v, %d", tt.rps, tt.burst, tt.max, tt.windows, gotRPS, gotBurst, tt.wantRPS, tt.wantBurst)
			}
		})
	}
}

// TestWorkerRateNeverExceedsTheLimit places the windows on worker processes
// the way a runner might (any process up to the cap, up to chains windows
// each, autoscaling anywhere in between) and checks that the processes
// holding a window never draw more than the job's limit together, and that
// the waste stays within the documented worst case.
func TestWorkerRateNeverExceedsTheLimit(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	for i := range 20000 {
		total := 1 + r.Float64()*100
		burst := 1 + r.IntN(200)
		maxWorkers := 1 + r.IntN(64)
		windows := 1 + r.IntN(200)
		chains := 1 + r.IntN(16)
		rps, b := pipeline.WorkerRate(total, burst, maxWorkers, windows)

		// The runner packs the windows onto some live processes: at least
		// enough for chains windows each, at most the cap (and at most one
		// process per window, as a chain never splits).
		minLive := (windows + chains - 1) / chains
		maxLive := min(maxWorkers, windows)
		if minLive > maxLive {
			// More windows than cap × chains: the rest wait for a slot.
			minLive = maxLive
		}
		live := minLive + r.IntN(maxLive-minLive+1)
		if got := rps * float64(live); got > total*(1+1e-12) {
			t.Fatalf("case %d: %d live processes × %v req/s = %v, over the limit %v (max %d, windows %d, chains %d)", i, live, rps, got, total, maxWorkers, windows, chains)
		}
		if got, allowed := b*live, max(burst, live); got > allowed {
			t.Fatalf("case %d: %d live processes × burst %d = %d, over %d", i, live, b, got, allowed)
		}
		if worst := float64(minLive) / float64(maxLive); rps*float64(minLive) < total*worst*(1-1e-12) {
			t.Fatalf("case %d: packed onto %d processes the job draws %v, below the documented worst case %v of %v", i, minLive, rps*float64(minLive), worst, total)
		}
	}
}
