package gate

import (
	"context"
	"fmt"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/marketplace/settle/io/warehouse"
	"github.com/marketplace/settle/transforms/parse"
)

func init() {
	register.DoFn4x0[context.Context, parse.Raw, func(warehouse.Settlement), func(warehouse.Quarantined)](&gateFn{})
	register.Emitter1[warehouse.Settlement]()
	register.Emitter1[warehouse.Quarantined]()
}

var (
	validatedCount   = beam.NewCounter("gate", "validated")
	quarantinedCount = beam.NewCounter("gate", "quarantined")
)

// Split parses and checks raw records. It takes PCollection<parse.Raw> and
// returns (PCollection<warehouse.Settlement>, PCollection<warehouse.Quarantined>):
// every input element lands in exactly one of them. Rows are stamped with
// runID and their raw ref; quarantined rows carry quarantinedAt.
//
// Counters (namespace "gate"): validated, quarantined, and
// quarantined_<reason> per reason code.
//
// Split panics if rules fail Rules.Validate: that is a programmer error
// while the pipeline is being built; validate configuration earlier.
func Split(s beam.Scope, rules Rules, runID string, quarantinedAt time.Time, col beam.PCollection) (valid, quarantined beam.PCollection) {
	s = s.Scope("gate.Split")
	if err := rules.Validate(); err != nil {
		panic(fmt.Sprintf("gate.Split: %v", err))
	}
	return beam.ParDo2(s, newGateFn(rules, runID, quarantinedAt), col)
}

// gateFn routes one raw record to the validated or the quarantine output.
type gateFn struct {
	Rules         Rules     `json:"rules"`
	RunID         string    `json:"run_id"`
	QuarantinedAt time.Time `json:"quarantined_at"`
}

func newGateFn(rules Rules, runID string, quarantinedAt time.Time) *gateFn {
	return &gateFn{Rules: rules, RunID: runID, QuarantinedAt: quarantinedAt}
}

// ProcessElement emits raw as a Settlement, or as a Quarantined row with
// the reason of the first failing rule. It never returns an error: bad data
// is routed, not failed.
func (fn *gateFn) ProcessElement(ctx context.Context, raw parse.Raw, valid func(warehouse.Settlement), quarantine func(warehouse.Quarantined)) {
	rec, err := parse.ParseRecord(raw.Data)
	reason := parse.ReasonOf(err)
	if err == nil {
		var row warehouse.Settlement
		row, reason = ToSettlement(raw.Data, rec, fn.Rules, fn.RunID, raw.Ref)
		if reason == "" {
			validatedCount.Inc(ctx, 1)
			valid(row)
			return
		}
	}
	quarantinedCount.Inc(ctx, 1)
	beam.NewCounter("gate", "quarantined_"+reason).Inc(ctx, 1)
	quarantine(Quarantine(raw.Data, rec, reason, fn.RunID, raw.Ref, raw.Index, fn.QuarantinedAt))
}
