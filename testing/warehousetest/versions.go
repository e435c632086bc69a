package warehousetest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/marketplace/settle/io/warehouse"
)

// The behaviours of versions (see the warehouse package doc), by subtest
// name.
const (
	NameSameVersionCorrects    = "the same version promoted again corrects a row whose content differs"
	NameTieGoesToGreaterDigest = "of two versions with one updated_at the greater digest wins, in any order"
	NameSmallestRawRef         = "of copies of one version the smallest raw ref is kept, in any order"
	NameNewestInvalidWithdraws = "a newest version that failed withdraws the row; an older valid one never returns it"
	NameNewerValidReleases     = "a still newer valid version promotes a withheld settlement again"
	NameBatchingIndependent    = "any cut of versions into batches, in any order, gives the reference fold"
)

// versionTests are the cases of this file, for Run.
var versionTests = []struct {
	name string
	fn   func(t *testing.T, h *harness)
}{
	{NameSameVersionCorrects, testSameVersionCorrects},
	{NameTieGoesToGreaterDigest, testTieGoesToGreaterDigest},
	{NameSmallestRawRef, testSmallestRawRef},
	{NameNewestInvalidWithdraws, testNewestInvalidWithdraws},
	{NameNewerValidReleases, testNewerValidReleases},
	{NameBatchingIndependent, testBatchingIndependent},
}

// failed is the quarantine row of a version of id that failed the gate.
func failed(id, updatedAt, digest, reason, runID string) warehouse.Quarantined {
	return warehouse.Quarantined{
		QuarantineKey: id + "@" + updatedAt + "#" + digest,
		VendorTxnID:   ptr(id),
		UpdatedAt:     ptr(updatedAt),
		VersionDigest: ptr(digest),
		Reason:        reason,
		Raw:           fmt.Sprintf(`{"vendor_txn_id":%q,"updated_at":%q}`, id, updatedAt),
		RunID:         runID,
		RawRef:        "pages/src/" + id + "-" + updatedAt + "-" + digest,
		QuarantinedAt: "2026-03-01T11:00:00Z",
	}
}

func wantWithheld(t *testing.T, h *harness, want ...warehouse.Withheld) {
	t.Helper()
	for i := range want {
		want[i].UpdatedAt = normalizeTime(t, want[i].UpdatedAt)
	}
	if diff := cmp.Diff(want, h.withheld(t), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("settlements_withheld mismatch (-want +got):\n%s", diff)
	}
}

func withheldOf(q warehouse.Quarantined) warehouse.Withheld {
	return warehouse.Withheld{
		VendorTxnID: *q.VendorTxnID, UpdatedAt: *q.UpdatedAt, VersionDigest: *q.VersionDigest,
		Reason: q.Reason, QuarantineKey: q.QuarantineKey, RunID: q.RunID, RawRef: q.RawRef,
	}
}

func testSameVersionCorrects(t *testing.T, h *harness) {
	wrong := settled("a", t2, "999.99") // what a parsing bug derived
	h.load(t, "r-1", wrong, settlement("b", t1))
	right := settled("a", t2, "10.5") // the same raw version, parsed right
	right.RunID = "r-replay"
	h.stage(t, warehouse.Batch{RunID: "r-2", ValidatedFiles: []string{h.settlementsFile(t, right, settlement("b", t1))}})
	if diff := cmp.Diff(warehouse.PromoteStats{Corrected: 1, Unchanged: 1}, h.promoteStats(t, "r-2")); diff != "" {
		t.Errorf("Promote(replay) stats mismatch (-want +got):\n%s", diff)
	}
	wantRows(t, h, right, settlement("b", t1))
	wantChanged(t, "the same replay again", h.load(t, "r-3", right), 0)
}

func testTieGoesToGreaterDigest(t *testing.T, h *harness) {
	low, high := settled("a", t2, "1"), settled("a", t2, "2")
	low.VersionDigest, high.VersionDigest = "1111", "eeee"
	h.load(t, "r-1", high)
	wantChanged(t, "lower digest after higher", h.load(t, "r-2", low), 0)
	wantRows(t, h, high)

	lowB, highB := settled("b", t2, "1"), settled("b", t2, "2")
	lowB.VersionDigest, highB.VersionDigest = "1111", "eeee"
	h.load(t, "r-3", lowB)
	wantChanged(t, "higher digest after lower", h.load(t, "r-4", highB), 1)
	lowC, highC := settled("c", t2, "1"), settled("c", t2, "2")
	lowC.VersionDigest, highC.VersionDigest = "1111", "eeee"
	h.load(t, "r-5", highC, lowC) // both in one batch
	wantRows(t, h, high, highB, highC)
}

func testSmallestRawRef(t *testing.T, h *harness) {
	second, first := settlement("a", t1), settlement("a", t1)
	second.RawRef, first.RawRef = "pages/src/w2/page-00001", "pages/src/w1/page-00007"
	h.load(t, "r-1", second)
	wantChanged(t, "a copy in an earlier object", h.load(t, "r-2", first), 0)
	h.load(t, "r-3", second)
	wantRows(t, h, first)
}

func testNewestInvalidWithdraws(t *testing.T, h *harness) {
	old := settled("a", t1, "10")
	h.load(t, "r-1", old)
	bad := failed("a", t2, "abcd", "amount_negative", "r-2")
	h.stage(t, warehouse.Batch{RunID: "r-2", QuarantineFiles: []string{h.quarantineFile(t, bad)}})
	if diff := cmp.Diff(warehouse.PromoteStats{Withdrawn: 1, Withheld: 1, Rejected: 1}, h.promoteStats(t, "r-2")); diff != "" {
		t.Errorf("Promote(newer invalid) stats mismatch (-want +got):\n%s", diff)
	}
	wantRows(t, h)
	wantWithheld(t, h, withheldOf(bad))
	want := bad
	want.DisplacedUpdatedAt, want.DisplacedDigest = ptr(old.UpdatedAt), ptr(old.VersionDigest)
	if diff := cmp.Diff([]warehouse.Quarantined{normalizeQuarantined(t, want)}, h.quarantine(t)); diff != "" {
		t.Errorf("quarantine mismatch (-want +got):\n%s", diff)
	}

	// The older valid version again, alone or beside the invalid one:
	// finance never sees it.
	st := h.promoteStatsOf(t, "r-3", []warehouse.Settlement{old}, nil)
	if diff := cmp.Diff(warehouse.PromoteStats{Stale: 1}, st); diff != "" {
		t.Errorf("Promote(older valid) stats mismatch (-want +got):\n%s", diff)
	}
	// Both versions of b in one run (two chunks): the newer, failed one
	// wins, the older one is superseded.
	st = h.promoteStatsOf(t, "r-4", []warehouse.Settlement{settled("b", t1, "5")}, []warehouse.Quarantined{failed("b", t2, "ffff", "currency_unknown", "r-4")})
	if diff := cmp.Diff(warehouse.PromoteStats{Withheld: 1, Superseded: 1, Rejected: 1}, st); diff != "" {
		t.Errorf("Promote(older valid and newer failed of b) stats mismatch (-want +got):\n%s", diff)
	}
	wantRows(t, h)
	wantWithheld(t, h, withheldOf(bad), withheldOf(failed("b", t2, "ffff", "currency_unknown", "r-4")))
}

func testNewerValidReleases(t *testing.T, h *harness) {
	bad := failed("a", t2, "abcd", "amount_missing", "r-1")
	h.promoteStatsOf(t, "r-1", nil, []warehouse.Quarantined{bad})
	newer := settled("a", t3, "12")
	st := h.promoteStatsOf(t, "r-2", []warehouse.Settlement{newer}, nil)
	if diff := cmp.Diff(warehouse.PromoteStats{Inserted: 1}, st); diff != "" {
		t.Errorf("Promote(newer valid) stats mismatch (-want +got):\n%s", diff)
	}
	wantRows(t, h, newer)
	wantWithheld(t, h)
	// The same invalid version again is stale now.
	if st := h.promoteStatsOf(t, "r-3", nil, []warehouse.Quarantined{bad}); st.Stale != 1 || st.Changed() != 0 {
		t.Errorf("Promote(the old invalid version again) = %+v, want 1 stale and no change", st)
	}
	wantRows(t, h, newer)
}

// promoteStatsOf stages the rows as one run and promotes it.
func (h *harness) promoteStatsOf(t *testing.T, runID string, rows []warehouse.Settlement, bad []warehouse.Quarantined) warehouse.PromoteStats {
	t.Helper()
	b := warehouse.Batch{RunID: runID}
	if len(rows) > 0 {
		b.ValidatedFiles = []string{h.settlementsFile(t, rows...)}
	}
	if len(bad) > 0 {
		b.QuarantineFiles = []string{h.quarantineFile(t, bad...)}
	}
	h.stage(t, b)
	return h.promoteStats(t, runID)
}

// version is one generated version: a valid row or a failed one.
type version struct {
	row warehouse.Settlement
	bad *warehouse.Quarantined
}

func (v version) key() (updatedAt, digest, ref string) {
	if v.bad != nil {
		return *v.bad.UpdatedAt, *v.bad.VersionDigest, v.bad.RawRef
	}
	return v.row.UpdatedAt, v.row.VersionDigest, v.row.RawRef
}

// newer is the reference order: updated_at, then digest; of copies the
// smaller raw ref ranks higher. Times here share one format, so text
// order is time order.
func newer(a, b version) bool {
	au, ad, ar := a.key()
	bu, bd, br := b.key()
	if au != bu {
		return au > bu
	}
	if ad != bd {
		return ad > bd
	}
	return ar < br
}

// genVersions makes versions of a few ids: several updated_at, ties with
// different digests, copies in several raw objects, some failed.
func genVersions(r *rand.Rand, prefix string) []version {
	times := []string{"2026-03-01T10:00:00.000001Z", "2026-03-01T10:00:00.000002Z", "2026-03-01T11:30:00.5Z"}
	digests := []string{"1a1a", "7c7c", "e0e0"}
	var out []version
	for id := range 6 {
		name := fmt.Sprintf("%sst_%d", prefix, id)
		for range 1 + r.IntN(5) {
			ts, dg := times[r.IntN(len(times))], digests[r.IntN(len(digests))]
			ref := fmt.Sprintf("pages/src/w%d/page-%05d", r.IntN(3), r.IntN(3))
			// The content is a function of the version: copies agree.
			if (len(name)+len(ts)+int(dg[0]))%3 == 0 {
				q := failed(name, ts, dg, "amount_negative", "r")
				q.RawRef = ref
				q.QuarantineKey = name + "@" + ts + "#" + dg
				out = append(out, version{bad: &q})
				continue
			}
			s := settled(name, ts, fmt.Sprintf("%d.%02d", len(ts), int(dg[0])%100))
			s.VersionDigest, s.RawRef = dg, ref
			out = append(out, version{row: s})
		}
	}
	return out
}

// fold is the reference: per id the newest version; a valid one is the
// row, a failed one is withheld.
func fold(t *testing.T, vs []version) (rows []warehouse.Settlement, held []warehouse.Withheld) {
	t.Helper()
	best := map[string]version{}
	for _, v := range vs {
		id := v.row.VendorTxnID
		if v.bad != nil {
			id = *v.bad.VendorTxnID
		}
		if b, ok := best[id]; !ok || newer(v, b) {
			best[id] = v
		}
	}
	ids := slices.Sorted(func(yield func(string) bool) {
		for id := range best {
			if !yield(id) {
				return
			}
		}
	})
	for _, id := range ids {
		if v := best[id]; v.bad != nil {
			held = append(held, withheldOf(*v.bad))
		} else {
			rows = append(rows, v.row)
		}
	}
	return rows, held
}

// testBatchingIndependent is a property test: each round generates
// versions of fresh ids, cuts them into 1..4 batches in a random order and
// promotes them; the warehouse must then hold the reference fold of all
// versions so far. The seed is printed on failure.
func testBatchingIndependent(t *testing.T, h *harness) {
	seed := uint64(rand.Int64())
	r := rand.New(rand.NewPCG(seed, 7))
	var all []version
	for round := range h.cfg.rounds {
		vs := genVersions(r, fmt.Sprintf("r%d_", round))
		all = append(all, vs...)
		cuts := promoteShuffled(t, h, r, vs, fmt.Sprintf("r%d", round))
		if !checkFold(t, h, all) {
			t.Fatalf("seed %d, round %d, %d batches: the warehouse is not the fold of its versions (see above)", seed, round, cuts)
		}
	}
}

// promoteShuffled shuffles vs, cuts it into 1..4 batches and promotes them
// one after the other; it returns the number of batches.
func promoteShuffled(t *testing.T, h *harness, r *rand.Rand, vs []version, runPrefix string) int {
	t.Helper()
	r.Shuffle(len(vs), func(i, j int) { vs[i], vs[j] = vs[j], vs[i] })
	cuts := 1 + r.IntN(4)
	for b := range cuts {
		var rows []warehouse.Settlement
		var bad []warehouse.Quarantined
		for i := b; i < len(vs); i += cuts {
			if vs[i].bad != nil {
				bad = append(bad, *vs[i].bad)
			} else {
				rows = append(rows, vs[i].row)
			}
		}
		if len(rows)+len(bad) > 0 {
			h.promoteStatsOf(t, fmt.Sprintf("%s-%d", runPrefix, b), rows, bad)
		}
	}
	return cuts
}

// checkFold compares the warehouse with the fold of vs, run ids aside.
func checkFold(t *testing.T, h *harness, vs []version) bool {
	t.Helper()
	wantRowsFolded, wantHeld := fold(t, vs)
	ok := true
	opt := cmp.Transformer("noRunID", func(s warehouse.Settlement) warehouse.Settlement { s.RunID = ""; return s })
	optW := cmp.Transformer("noRunIDW", func(w warehouse.Withheld) warehouse.Withheld { w.RunID = ""; return w })
	if diff := cmp.Diff(normalized(t, wantRowsFolded...), h.settlements(t), cmpopts.EquateEmpty(), opt); diff != "" {
		t.Errorf("settlements differ from the fold (-want +got):\n%s", diff)
		ok = false
	}
	for i := range wantHeld {
		wantHeld[i].UpdatedAt = normalizeTime(t, wantHeld[i].UpdatedAt)
	}
	if diff := cmp.Diff(wantHeld, h.withheld(t), cmpopts.EquateEmpty(), optW); diff != "" {
		t.Errorf("withheld differ from the fold (-want +got):\n%s", diff)
		ok = false
	}
	return ok
}
