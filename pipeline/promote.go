package pipeline

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/marketplace/settle/io/warehouse"
)

// PromoteHeld promotes a batch that an earlier run held, after an operator
// checked it. Promoting is idempotent.
func PromoteHeld(ctx context.Context, cfg Config, opts Options, runID string) (Summary, error) {
	opts = opts.withDefaults()
	b, err := openBackends(ctx, cfg, nil)
	if err != nil {
		return Summary{}, err
	}
	defer b.close()
	runs, err := b.wh.Runs(ctx, 1000)
	if err != nil {
		return Summary{}, fmt.Errorf("reading runs ledger: %w", err)
	}
	var held *warehouse.Run
	for i := range runs {
		if runs[i].RunID == runID {
			held = &runs[i]
		}
	}
	if held == nil {
		return Summary{}, fmt.Errorf("promote: run %q is not in the runs ledger (see `settle runs`)", runID)
	}
	if held.Outcome != warehouse.OutcomeHeld {
		return Summary{}, fmt.Errorf("promote: run %q is %s, not held: nothing to promote", runID, held.Outcome)
	}
	ps, err := b.wh.Promote(ctx, runID)
	if err != nil {
		return Summary{}, fmt.Errorf("promoting held run %s: %w", runID, err)
	}
	if err := promoteHeldAccount(ctx, opts, b, runID, ps); err != nil {
		return Summary{}, err
	}
	n := ps.Promoted()
	held.Promoted, held.Corrected, held.Withdrawn = n, ps.Corrected, ps.Withdrawn
	held.Outcome = warehouse.OutcomePromoted
	held.Detail = strings.TrimSpace(held.Detail + "; promoted by an operator at " + opts.Now().UTC().Format(time.RFC3339))
	if err := b.wh.RecordRun(ctx, *held); err != nil {
		return Summary{}, fmt.Errorf("recording promotion of %s: %w", runID, err)
	}
	if err := removeStaging(ctx, stagingDir(cfg, runID)); err != nil {
		opts.Logger.Warn("load files left in staging", logKeyRun, runID, "error", err)
	}
	return Summary{RunID: runID, Kind: KindPromote, From: held.WindowStart, To: held.WindowEnd, Validated: held.Validated,
		Promoted: n, Outcome: warehouse.OutcomePromoted, Detail: held.Detail}, nil
}
