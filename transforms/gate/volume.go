package gate

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/marketplace/settle/io/warehouse"
)

// VolumeBand is the batch rule: a run whose validated rows per hour of
// window fall outside a band around the recent norm is held (staged, not
// promoted) for a human to look at. Counts are compared as ratios; no money
// is involved.
type VolumeBand struct {
	// Tolerance is the allowed relative deviation from the baseline:
	// 0.5 holds a run below 0.5× or above 1.5× the baseline rate.
	Tolerance float64 `json:"tolerance"`
	// MinHistory is the warm-up: with fewer eligible earlier runs than
	// this, nothing is held.
	MinHistory int `json:"min_history"`
	// Lookback is how many of the newest eligible earlier runs form the
	// baseline (their median rate). Zero means MinHistory, at least 1.
	Lookback int `json:"lookback"`
	// Kinds are the run kinds that count as history; nil means "run" and
	// "replay" (a redrive covers only parked windows, a promote no window).
	Kinds []string `json:"kinds"`
}

// DefaultVolumeBand holds a run outside ±50% of the median rate of the last
// 7 eligible runs, once there are at least 3.
func DefaultVolumeBand() VolumeBand {
	return VolumeBand{Tolerance: 0.5, MinHistory: 3, Lookback: 7}
}

// ErrVolumeBand is returned by VolumeBand.Validate.
var ErrVolumeBand = errors.New("invalid volume band")

// Validate reports a negative tolerance, MinHistory or Lookback.
func (b VolumeBand) Validate() error {
	if b.Tolerance < 0 || b.MinHistory < 0 || b.Lookback < 0 {
		return fmt.Errorf("checking volume band %+v: %w: negative value", b, ErrVolumeBand)
	}
	return nil
}

// rate is validated rows per hour of r's window; ok is false for an empty
// or inverted window.
func rate(r warehouse.Run) (float64, bool) {
	w := r.WindowEnd.Sub(r.WindowStart)
	if w <= 0 {
		return 0, false
	}
	return float64(r.Validated) / w.Hours(), true
}

// CheckVolume applies band to the current run cur (its Validated count and
// window) against earlier runs (history, in any order; Warehouse.Runs
// gives newest first). Eligible history runs have an outcome of promoted or
// needs_attention (held and failed runs are skipped), a kind in band.Kinds,
// a non-empty window, and a RunID other than cur's. detail explains the
// verdict in one line for the runs ledger.
//
// A current run with an empty window is never held (nothing to compare).
func CheckVolume(band VolumeBand, cur warehouse.Run, history []warehouse.Run) (hold bool, detail string) {
	curRate, ok := rate(cur)
	if !ok {
		return false, "volume check skipped: the run has an empty window"
	}
	kinds := band.Kinds
	if kinds == nil {
		kinds = []string{"run", "replay"}
	}
	var eligible []warehouse.Run
	for _, r := range history {
		_, nonEmpty := rate(r)
		if r.RunID != cur.RunID && nonEmpty && slices.Contains(kinds, r.Kind) &&
			(r.Outcome == warehouse.OutcomePromoted || r.Outcome == warehouse.OutcomeNeedsAttention) {
			eligible = append(eligible, r)
		}
	}
	if len(eligible) < band.MinHistory || len(eligible) == 0 {
		return false, fmt.Sprintf("volume check warming up: %d of %d earlier runs", len(eligible), max(band.MinHistory, 1))
	}
	// Newest first by start time, then take the lookback.
	slices.SortStableFunc(eligible, func(a, b warehouse.Run) int { return b.StartedAt.Compare(a.StartedAt) })
	lookback := band.Lookback
	if lookback == 0 {
		lookback = max(band.MinHistory, 1)
	}
	eligible = eligible[:min(lookback, len(eligible))]
	rates := make([]float64, len(eligible))
	for i, r := range eligible {
		rates[i], _ = rate(r)
	}
	base := median(rates)
	lo, hi := base*(1-band.Tolerance), base*(1+band.Tolerance)

	verdict := "within band"
	switch {
	case curRate < lo:
		hold, verdict = true, "below band, held"
	case curRate > hi:
		hold, verdict = true, "above band, held"
	}
	window := cur.WindowEnd.Sub(cur.WindowStart).Round(time.Second)
	return hold, fmt.Sprintf("volume %d validated in %s = %.1f/h; baseline median %.1f/h of %d runs, band [%.1f, %.1f]/h: %s",
		cur.Validated, window, curRate, base, len(rates), lo, hi, verdict)
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.SortFunc(s, cmp.Compare[float64])
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
