package vendorsim

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestPermInvertUndoesApply(t *testing.T) {
	for _, seed := range []uint64{0, 1, 42, 1 << 63} {
		p := newPerm(seed)
		r := newRNG(seed)
		for _, x := range append([]uint32{0, 1, 1<<32 - 1}, uint32(r.next()), uint32(r.next())) {
			if got := p.invert(p.apply(x)); got != x {
				t.Errorf("seed %d: invert(apply(%d)) = %d", seed, x, got)
			}
		}
	}
}

func TestVendorTxnIDsSortLikeTheirKeys(t *testing.T) {
	g := newGenerator(Config{Seed: 5, Records: 2000, From: time.Unix(0, 0), To: time.Unix(86400, 0)})
	type pair struct {
		key uint32
		id  string
	}
	var ps []pair
	for i := range uint32(2000) {
		f := g.fields(i)
		ps = append(ps, pair{g.key(i), f.id})
		k, ok := keyFromID(f.id)
		if !ok || k != g.key(i) {
			t.Fatalf("keyFromID(%q) = %d, %v; want %d", f.id, k, ok, g.key(i))
		}
	}
	byKey := slices.Clone(ps)
	slices.SortFunc(byKey, func(a, b pair) int { return int(int64(a.key) - int64(b.key)) })
	byID := slices.Clone(ps)
	slices.SortFunc(byID, func(a, b pair) int { return strings.Compare(a.id, b.id) })
	if diff := cmp.Diff(byKey, byID, cmp.AllowUnexported(pair{})); diff != "" {
		t.Errorf("order by key and by id differ:\n%s", diff)
	}
}

func TestCursorRoundTrips(t *testing.T) {
	tests := []struct {
		name string
		c    cursor
	}{
		{"a first-page cursor", cursor{gte: 1, lt: 2, limit: 100}},
		{"a cursor with an inclusive position", cursor{gte: -5, lt: 1 << 60, limit: 500, hasPos: true, incl: true, posT: 1740787200000000, posKey: 1<<32 - 1, page: 7, issued: 1740787200123456789}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeCursor(tt.c.encode(9), 9)
			if err != nil {
				t.Fatalf("decodeCursor: %v", err)
			}
			if diff := cmp.Diff(tt.c, got, cmp.AllowUnexported(cursor{})); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
			if _, err := decodeCursor(tt.c.encode(9), 10); err == nil {
				t.Error("a cursor issued with seed 9 decodes under seed 10")
			}
		})
	}
}

func FuzzDecodeCursor(f *testing.F) {
	f.Add(cursor{gte: 1, lt: 2, limit: 100}.encode(1))
	f.Add(cursor{gte: 1, lt: 2, limit: 3, hasPos: true, posT: 9, posKey: 8, page: 2, issued: 5}.encode(1))
	f.Add("")
	f.Add("AQ")
	f.Add("!!!")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := decodeCursor(s, 1)
		if err != nil {
			return
		}
		if got := c.encode(1); got != s {
			t.Errorf("decodeCursor(%q) re-encodes as %q", s, got)
		}
		if c.limit > maxLimit {
			t.Errorf("decoded limit %d over %d", c.limit, maxLimit)
		}
	})
}

func TestBucketRefillsAtTheRate(t *testing.T) {
	b := bucket{tokens: 2}
	var got []bool
	for _, at := range []int64{0, 0, 0, 499e6, 500e6, 500e6} {
		ok, _ := b.take(at, 2, 2, true)
		got = append(got, ok)
	}
	if diff := cmp.Diff([]bool{true, true, false, false, true, false}, got); diff != "" {
		t.Errorf("takes at 2/s (-want +got):\n%s", diff)
	}
}

func TestPlanVersionsIncreaseWithinTheSpan(t *testing.T) {
	from, to := time.Unix(1000, 0), time.Unix(1000+3600, 0)
	g := newGenerator(Config{Seed: 1, Records: 5000, From: from, To: to, Faults: Faults{Ties: 0.5, TieGroup: 10}})
	counts := [4]int{}
	for i := range uint32(5000) {
		p := g.plan(i)
		counts[p.n]++
		for v := range p.n {
			if p.t[v] < from.UnixMicro() || p.t[v] >= to.UnixMicro() || (v > 0 && p.t[v] <= p.t[v-1]) {
				t.Fatalf("settlement %d: version times %v not increasing in [from, to)", i, p.t[:p.n])
			}
			if v > 0 && p.st[v-1] != stPending && p.st[v] != stReversed {
				t.Fatalf("settlement %d: statuses %v are not a vendor transition", i, p.st[:p.n])
			}
		}
	}
	for n := 1; n <= 3; n++ {
		if counts[n] == 0 {
			t.Errorf("no settlement with %d versions", n)
		}
	}
}
