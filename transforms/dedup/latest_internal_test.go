package dedup

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// genCandidates draws n candidates from small pools, so equal UpdatedAt,
// equal digests and exact duplicates are common.
func genCandidates(r *rand.Rand, n int) []Candidate {
	times := []int64{-5, 0, 1, 2, 1_741_946_400_000_000_000}
	digests := []string{"00", "7f", "ff", "7f00"}
	refs := []string{"pages/a/page-00001", "pages/a/page-00002", "pages/b/page-00001"}
	out := make([]Candidate, n)
	for i := range out {
		out[i] = Candidate{
			UpdatedAt: times[r.IntN(len(times))],
			Digest:    digests[r.IntN(len(digests))],
			Ref:       refs[r.IntN(len(refs))],
			Index:     int32(r.IntN(3)),
		}
	}
	return out
}

// fold adds cs one by one to a fresh accumulator.
func fold(cs []Candidate) latestAccum {
	fn := &latestFn{}
	a := fn.CreateAccumulator()
	for _, c := range cs {
		a = fn.AddInput(a, c)
	}
	return a
}

// mergeTree folds random partitions of cs and merges the partial
// accumulators pairwise in a random tree shape.
func mergeTree(r *rand.Rand, cs []Candidate) latestAccum {
	fn := &latestFn{}
	var parts []latestAccum
	for rest := cs; len(rest) > 0 || len(parts) == 0; {
		n := r.IntN(len(rest) + 1) // may be empty: empty accumulators must merge too
		parts = append(parts, fold(rest[:n]))
		rest = rest[n:]
		if len(rest) == 0 && r.IntN(2) == 0 {
			break
		}
	}
	for len(parts) > 1 {
		i := r.IntN(len(parts) - 1)
		var m latestAccum
		if r.IntN(2) == 0 {
			m = fn.MergeAccumulators(parts[i], parts[i+1])
		} else {
			m = fn.MergeAccumulators(parts[i+1], parts[i])
		}
		parts = append(parts[:i], append([]latestAccum{m}, parts[i+2:]...)...)
	}
	return parts[0]
}

const iterations = 3000

func TestLatestFnProperties(t *testing.T) {
	fn := &latestFn{}
	for seed := range uint64(iterations) {
		r := rand.New(rand.NewPCG(seed, 0x5e771e))
		cs := genCandidates(r, 1+r.IntN(12))
		want := slices.MaxFunc(cs, Compare)

		t.Run(fmt.Sprintf("seed %d", seed), func(t *testing.T) {
			if got := fn.ExtractOutput(fold(cs)); got != want {
				t.Fatalf("fold(%v) = %v, want the maximum %v", cs, got, want)
			}

			// Any permutation with any duplication gives the same winner.
			shuffled := slices.Clone(cs)
			for range r.IntN(len(cs) + 1) {
				shuffled = append(shuffled, cs[r.IntN(len(cs))])
			}
			r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
			if got := fn.ExtractOutput(fold(shuffled)); got != want {
				t.Fatalf("fold(shuffled %v) = %v, want %v", shuffled, got, want)
			}

			// Merging partial accumulators in any tree shape gives the same.
			if got := fn.ExtractOutput(mergeTree(r, shuffled)); got != want {
				t.Fatalf("merge tree of %v = %v, want %v", shuffled, got, want)
			}

			// Applying it twice changes nothing.
			acc := fold(cs)
			if again := fn.AddInput(acc, fn.ExtractOutput(acc)); again != acc {
				t.Fatalf("AddInput(acc, its own output) = %v, want %v", again, acc)
			}
			if again := fn.MergeAccumulators(acc, acc); again != acc {
				t.Fatalf("MergeAccumulators(acc, acc) = %v, want %v", again, acc)
			}

			// An older version never wins over a newer one.
			newest := slices.MaxFunc(cs, func(a, b Candidate) int { return int(min(max(a.UpdatedAt-b.UpdatedAt, -1), 1)) })
			if got := fn.ExtractOutput(fold(shuffled)); got.UpdatedAt != newest.UpdatedAt {
				t.Fatalf("winner %v has UpdatedAt %d, but %d is the newest", got, got.UpdatedAt, newest.UpdatedAt)
			}
		})
	}
}

func TestMergeWithEmptyAccumulator(t *testing.T) {
	fn := &latestFn{}
	c := Candidate{UpdatedAt: -1, Digest: "00"}
	full := fn.AddInput(fn.CreateAccumulator(), c)
	empty := fn.CreateAccumulator()
	tests := []struct {
		name string
		a, b latestAccum
		want latestAccum
	}{
		{name: "an empty accumulator on the right is ignored", a: full, b: empty, want: full},
		{name: "an empty accumulator on the left is ignored", a: empty, b: full, want: full},
		{name: "two empty accumulators stay empty", a: empty, b: empty, want: empty},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fn.MergeAccumulators(tt.a, tt.b); got != tt.want {
				t.Errorf("MergeAccumulators(%v, %v) = %v, want %v", tt.a, tt.b, got, tt.want)
			}
		})
	}
}
