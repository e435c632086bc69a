package dedup

import (
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
)

func init() {
	register.Combiner3[latestAccum, Candidate, Candidate](&latestFn{})
}

// LatestByKey keeps, for each key, the newest Candidate in the order of
// Compare. It takes PCollection<KV<string, Candidate>> (key: vendor_txn_id)
// and returns PCollection<KV<string, Candidate>> with one element per key.
//
// The result does not depend on the order, the bundling or the duplication
// of the input, nor on how the runner combines partial results: the
// combine is associative, commutative and idempotent (see the property
// tests).
func LatestByKey(s beam.Scope, col beam.PCollection) beam.PCollection {
	s = s.Scope("dedup.LatestByKey")
	return beam.CombinePerKey(s, &latestFn{}, col)
}

// latestAccum is latestFn's accumulator. Has is false for an empty
// accumulator; Best is then meaningless.
type latestAccum struct {
	Has  bool      `json:"has"`
	Best Candidate `json:"best"`
}

// latestFn is a structural CombineFn: newest Candidate wins. It has no
// configuration.
type latestFn struct{}

// CreateAccumulator returns an empty accumulator.
func (*latestFn) CreateAccumulator() latestAccum { return latestAccum{} }

// AddInput folds one candidate into the accumulator.
func (*latestFn) AddInput(a latestAccum, c Candidate) latestAccum {
	if !a.Has || Newer(c, a.Best) {
		return latestAccum{Has: true, Best: c}
	}
	return a
}

// MergeAccumulators keeps the newer of two accumulators' candidates.
func (*latestFn) MergeAccumulators(a, b latestAccum) latestAccum {
	switch {
	case !b.Has:
		return a
	case !a.Has || Newer(b.Best, a.Best):
		return b
	default:
		return a
	}
}

// ExtractOutput returns the winning candidate. CombinePerKey never calls it
// on an empty accumulator, which would yield the zero Candidate.
func (*latestFn) ExtractOutput(a latestAccum) Candidate { return a.Best }
