package dedup

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
)

// TestLatestByShardIsLatestByKey: cut random keyed candidates into
// batches of random sizes, fold them into partial accumulators, pass some
// through the coders, merge in a random tree: the shard's output is, key by
// key, what latestFn keeps, sorted by key.
func TestLatestByShardIsLatestByKey(t *testing.T) {
	keys := []string{"st_a", "st_b", "st_c", "st_é", ""}
	for seed := range uint64(500) {
		r := rand.New(rand.NewPCG(seed, 7))
		cs := genCandidates(r, r.IntN(40))
		items := make([]Keyed, len(cs))
		want := map[string]latestAccum{}
		for i, c := range cs {
			k := keys[r.IntN(len(keys))]
			items[i] = Keyed{Key: k, C: c}
			want[k] = (&latestFn{}).AddInput(want[k], c)
		}
		fn := &shardLatestFn{}
		var parts []shardAccum
		for rest := items; len(rest) > 0 || len(parts) == 0; {
			a := fn.CreateAccumulator()
			for len(rest) > 0 && r.IntN(4) != 0 {
				n := 1 + r.IntN(len(rest))
				b := Batch{Items: rest[:n]}
				if r.IntN(2) == 0 {
					b = roundTrip(t, b, encodeBatch, decodeBatch)
				}
				a = fn.AddInput(a, b)
				rest = rest[n:]
			}
			if r.IntN(2) == 0 {
				a = roundTrip(t, a, encodeAccum, decodeAccum)
			}
			parts = append(parts, a)
		}
		for len(parts) > 1 {
			i := r.IntN(len(parts) - 1)
			m := fn.MergeAccumulators(parts[i], parts[i+1])
			parts = append(parts[:i], append([]shardAccum{m}, parts[i+2:]...)...)
		}
		got := fn.ExtractOutput(parts[0])
		var wantItems []Keyed
		for _, k := range []string{"", "st_a", "st_b", "st_c", "st_é"} {
			if a, ok := want[k]; ok {
				wantItems = append(wantItems, Keyed{Key: k, C: a.Best})
			}
		}
		if fmt.Sprint(got.Items) != fmt.Sprint(wantItems) {
			t.Fatalf("seed %d: got %v, want %v", seed, got.Items, wantItems)
		}
	}
}

func roundTrip[T any](t *testing.T, v T, enc func(T) ([]byte, error), dec func([]byte) (T, error)) T {
	t.Helper()
	b, err := enc(v)
	if err != nil {
		t.Fatalf("encoding %v: %v", v, err)
	}
	out, err := dec(b)
	if err != nil {
		t.Fatalf("decoding %v: %v", v, err)
	}
	return out
}

func TestBatchCoderRefusesTruncatedInput(t *testing.T) {
	b := Batch{Items: []Keyed{{Key: "st_a", C: Candidate{UpdatedAt: -3, Digest: "ff", Ref: "pages/x", Index: 7}}}}
	data, err := encodeBatch(b)
	if err != nil {
		t.Fatal(err)
	}
	if got := roundTrip(t, b, encodeBatch, decodeBatch); !reflect.DeepEqual(got, b) {
		t.Errorf("round trip = %v, want %v", got, b)
	}
	for n := range len(data) {
		if _, err := decodeBatch(data[:n]); err == nil {
			t.Errorf("decodeBatch(first %d of %d bytes) = nil error", n, len(data))
		}
	}
}

func TestShardIsStableAndInRange(t *testing.T) {
	for _, k := range []string{"", "st_a", "st_000000000001"} {
		s := Shard(k, 16)
		if s < 0 || s >= 16 || s != Shard(k, 16) {
			t.Errorf("Shard(%q, 16) = %d", k, s)
		}
	}
	if Shard("anything", 1) != 0 {
		t.Error("Shard(_, 1) != 0")
	}
}
