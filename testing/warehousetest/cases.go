package warehousetest

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/marketplace/settle/io/warehouse"
)

// Versions one microsecond apart: the vendor's updated_at resolution.
const (
	t0 = "2026-03-01T09:00:00.5Z"
	t1 = "2026-03-01T10:00:00.000001Z"
	t2 = "2026-03-01T10:00:00.000002Z"
	t3 = "2026-03-02T00:00:00Z"
)

func ptr[T any](v T) *T { return &v }

// settlement is a pending version of id updated at updatedAt.
func settlement(id, updatedAt string) warehouse.Settlement {
	return warehouse.Settlement{
		VendorTxnID: id,
		OrderID:     ptr("ord_" + id),
		SellerID:    "sel_1",
		Type:        "charge",
		Status:      "pending",
		Amount:      "10.5",
		Fee:         "0.3",
		Currency:    "EUR",
		CreatedAt:   t0,
		UpdatedAt:   updatedAt,
		Metadata:    `{"channel":"web"}`,
		// One digest for every version built here: they differ in
		// updated_at. Tie tests set their own.
		VersionDigest: "5e775e775e775e775e775e775e775e77",
		RunID:         "run-files",
		RawRef:        "pages/src/" + id + "-" + updatedAt,
	}
}

// settled is the settled version of id at updatedAt, with its own amount.
func settled(id, updatedAt, amount string) warehouse.Settlement {
	s := settlement(id, updatedAt)
	s.Status = "settled"
	s.Amount = amount
	s.SettledAt = ptr(updatedAt)
	return s
}

func normalized(t *testing.T, rows ...warehouse.Settlement) []warehouse.Settlement {
	t.Helper()
	out := make([]warehouse.Settlement, len(rows))
	for i, r := range rows {
		out[i] = normalizeSettlement(t, r)
	}
	return out
}

func wantRows(t *testing.T, h *harness, want ...warehouse.Settlement) {
	t.Helper()
	if diff := cmp.Diff(normalized(t, want...), h.settlements(t), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("settlements mismatch (-want +got):\n%s", diff)
	}
}

func wantChanged(t *testing.T, what string, got, want int64) {
	t.Helper()
	if got != want {
		t.Errorf("%s: Promote() changed %d rows, want %d", what, got, want)
	}
}

func testNewestWinsAcrossBatches(t *testing.T, h *harness) {
	// Batch "first" holds the newer a and the older b; batch "second" the
	// opposite. Whatever the promotion order, each id ends at its newest.
	aOld, aNew := settlement("a", t1), settled("a", t2, "11")
	bOld, bNew := settlement("b", t1), settled("b", t2, "12")
	first := h.settlementsFile(t, aNew, bOld)
	second := h.settlementsFile(t, aOld, bNew)

	h.stage(t, warehouse.Batch{RunID: "r-second", ValidatedFiles: []string{second}})
	h.stage(t, warehouse.Batch{RunID: "r-first", ValidatedFiles: []string{first}})
	wantChanged(t, "second batch onto empty table", h.promote(t, "r-second"), 2)
	wantChanged(t, "first batch, newer a only", h.promote(t, "r-first"), 1)
	wantRows(t, h, aNew, bNew)

	// And the other order on fresh ids.
	cOld, cNew := settlement("c", t1), settled("c", t2, "13")
	h.load(t, "r-c-new", cNew)
	wantChanged(t, "older c after newer", h.load(t, "r-c-old", cOld), 0)
	wantRows(t, h, aNew, bNew, cNew)
}

func testNewestWinsWithinBatch(t *testing.T, h *harness) {
	old1, new1 := settlement("x", t1), settled("x", t2, "20")
	old2, new2 := settlement("y", t1), settled("y", t3, "21")
	// Newer first in one run, older first in the other, and both versions
	// in one file too.
	h.stage(t, warehouse.Batch{RunID: "r-1", ValidatedFiles: []string{
		h.settlementsFile(t, new1), h.settlementsFile(t, old1),
	}})
	h.stage(t, warehouse.Batch{RunID: "r-2", ValidatedFiles: []string{
		h.settlementsFile(t, old2, new2),
	}})
	wantChanged(t, "run with x newer first", h.promote(t, "r-1"), 1)
	wantChanged(t, "run with y older first", h.promote(t, "r-2"), 1)
	wantRows(t, h, new1, new2)
}

func testOlderNeverOverwrites(t *testing.T, h *harness) {
	stored := settled("a", t2, "30")
	h.load(t, "r-new", stored)

	older := settlement("a", t1)
	older.Amount = "999"
	wantChanged(t, "older version", h.load(t, "r-old", older), 0)

	// Same updated_at, smaller digest: a different version that ranks
	// lower, so the stored row is kept.
	tie := settled("a", t2, "31")
	tie.RawRef, tie.VersionDigest = "pages/src/zzz", "0000"
	wantChanged(t, "equal updated_at, smaller digest", h.load(t, "r-tie", tie), 0)
	wantRows(t, h, stored)
}

func testPromoteTwice(t *testing.T, h *harness) {
	rows := []warehouse.Settlement{settlement("a", t1), settled("b", t2, "1.25"), settlement("c", t3)}
	files := []string{h.settlementsFile(t, rows[:2]...), h.settlementsFile(t, rows[2])}
	quarantine := []string{h.quarantineFile(t, quarantined("k1", "r-1"))}
	b := warehouse.Batch{RunID: "r-1", ValidatedFiles: files, QuarantineFiles: quarantine}

	h.stage(t, b)
	wantChanged(t, "first promotion", h.promote(t, "r-1"), 3)
	before, beforeQ := h.settlements(t), h.quarantine(t)

	h.stage(t, b)
	wantChanged(t, "same run promoted again", h.promote(t, "r-1"), 0)
	b.RunID = "r-2"
	h.stage(t, b)
	wantChanged(t, "same files under another run", h.promote(t, "r-2"), 0)

	if diff := cmp.Diff(before, h.settlements(t)); diff != "" {
		t.Errorf("settlements changed by the second promotion (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff(beforeQ, h.quarantine(t)); diff != "" {
		t.Errorf("quarantine changed by the second promotion (-before +after):\n%s", diff)
	}
	wantRows(t, h, rows...)
}

func testRestageReplaces(t *testing.T, h *harness) {
	first := warehouse.Batch{
		RunID:           "r-1",
		ValidatedFiles:  []string{h.settlementsFile(t, settlement("a", t1), settlement("b", t1), settlement("b", t2))},
		QuarantineFiles: []string{h.quarantineFile(t, quarantined("k1", "r-1"))},
	}
	if diff := cmp.Diff(warehouse.StageStats{Validated: 3, Quarantined: 1}, h.stage(t, first)); diff != "" {
		t.Errorf("Stage(first) stats mismatch (-want +got):\n%s", diff)
	}
	second := warehouse.Batch{RunID: "r-1", ValidatedFiles: []string{h.settlementsFile(t, settlement("c", t1))}}
	if diff := cmp.Diff(warehouse.StageStats{Validated: 1}, h.stage(t, second)); diff != "" {
		t.Errorf("Stage(second) stats mismatch (-want +got):\n%s", diff)
	}
	wantChanged(t, "restaged run", h.promote(t, "r-1"), 1)
	wantRows(t, h, settlement("c", t1))
	if got := h.quarantine(t); len(got) != 0 {
		t.Errorf("quarantine = %v, want empty: the restage had no quarantine files", got)
	}
}

func testRunsIsolated(t *testing.T, h *harness) {
	h.stage(t, warehouse.Batch{RunID: "r-1", ValidatedFiles: []string{h.settlementsFile(t, settlement("a", t1))}})
	h.stage(t, warehouse.Batch{RunID: "r-2", ValidatedFiles: []string{h.settlementsFile(t, settlement("b", t1))}})
	wantChanged(t, "run 1", h.promote(t, "r-1"), 1)
	wantRows(t, h, settlement("a", t1))
	wantChanged(t, "run 2", h.promote(t, "r-2"), 1)
	wantRows(t, h, settlement("a", t1), settlement("b", t1))
}

func testExactAmounts(t *testing.T, h *harness) {
	tests := []struct {
		name, currency, amount, fee string
		wantAmount, wantFee         string
	}{
		{"smallest unit", "EUR", "0.000000001", "0.00", "0.000000001", "0"},
		{"twenty integer digits", "USD", "12345678901234567890.12", "0.000000009", "12345678901234567890.12", "0.000000009"},
		{"yen without decimals", "JPY", "1000", "5", "1000", "5"},
		{"trailing zero", "EUR", "1234.50", "1.10", "1234.5", "1.1"},
		{"largest value", "USD", "99999999999999999999999999999.999999999", "0", "99999999999999999999999999999.999999999", "0"},
		{"point one plus point two", "EUR", "0.3", "0.1", "0.3", "0.1"},
		{"largest with nine integer digits", "EUR", "999999999.999999999", "0.000000001", "999999999.999999999", "0.000000001"},
		{"ten integer digits", "EUR", "1000000000.000000001", "1000000000", "1000000000.000000001", "1000000000"},
	}
	var rows, want []warehouse.Settlement
	for i, tt := range tests {
		s := settlement(string(rune('a'+i))+"-"+tt.name, t1)
		s.Currency, s.Amount, s.Fee = tt.currency, tt.amount, tt.fee
		rows = append(rows, s)
		s.Amount, s.Fee = tt.wantAmount, tt.wantFee
		want = append(want, s)
	}
	wantChanged(t, "exact amounts", h.load(t, "r-1", rows...), int64(len(rows)))
	wantRows(t, h, want...)
}

func testTooManyDecimals(t *testing.T, h *harness) {
	ok := settlement("a", t1)
	bad := settlement("b", t1)
	bad.Amount = "1.0000000001"
	_, err := h.w.Stage(t.Context(), warehouse.Batch{RunID: "r-1", ValidatedFiles: []string{h.settlementsFile(t, ok, bad)}})
	if err == nil {
		t.Fatalf("Stage(amount %s) = nil error, want a refusal (DECIMAL(38,9) would round it)", bad.Amount)
	}
	if _, err := h.w.Promote(t.Context(), "r-1"); !errors.Is(err, warehouse.ErrNotStaged) {
		t.Errorf("Promote after a refused Stage = %v, want ErrNotStaged (nothing half staged)", err)
	}
	wantRows(t, h)
}

func testNullableColumns(t *testing.T, h *harness) {
	fee := settlement("fee-1", t1)
	fee.Type, fee.OrderID, fee.SettledAt = "fee", nil, nil
	paid := settled("chg-1", t2, "50")
	h.load(t, "r-1", fee, paid)
	wantRows(t, h, paid, fee)
}

func testJSONColumns(t *testing.T, h *harness) {
	s := settlement("a", t1)
	s.Metadata = `{"nested":{"list":[1,"two",null,true]},"unicode":"café ✓","_extra":{"odd":"x"}}`
	h.load(t, "r-1", s)
	wantRows(t, h, s)

	page := quarantined("raw-page#0", "r-1")
	page.VendorTxnID = nil
	page.Raw = `"<html>502 Bad Gateway</html>"`
	rec := quarantined("a@"+t1, "r-1")
	rec.Raw = `{"vendor_txn_id":"a","amount":null,"currency":"eur"}`
	// Raw is JSON text by contract; text that is not is kept as a JSON
	// string rather than lost.
	broken := quarantined("raw-page#1", "r-1")
	broken.Raw = `{"data": [truncated`
	h.stage(t, warehouse.Batch{RunID: "r-2", QuarantineFiles: []string{h.quarantineFile(t, page, rec, broken)}})
	wantChanged(t, "quarantine only", h.promote(t, "r-2"), 0)
	broken.Raw = `"{\"data\": [truncated"`
	want := []warehouse.Quarantined{
		normalizeQuarantined(t, rec), normalizeQuarantined(t, page), normalizeQuarantined(t, broken),
	}
	if diff := cmp.Diff(want, h.quarantine(t)); diff != "" {
		t.Errorf("quarantine mismatch (-want +got):\n%s", diff)
	}
}

func testWideJSONNumbers(t *testing.T, h *harness) {
	// The vendor sends amounts as JSON numbers with more digits than a
	// float64 holds; the quarantined record is the evidence, so it must keep
	// them: either as JSON with the exact number, or as a JSON string of
	// the original text (BigQuery's PARSE_JSON refuses such numbers).
	const raw = `{"vendor_txn_id":"w","amount":12345678901234567890.123456789,"fee":0.1000000000000000055511151231257827}`
	q := quarantined("w@"+t1, "r-1")
	q.Raw = raw
	h.stage(t, warehouse.Batch{RunID: "r-1", QuarantineFiles: []string{h.quarantineFile(t, q)}})
	h.promote(t, "r-1")
	got := h.quarantine(t)
	if len(got) != 1 {
		t.Fatalf("quarantine has %d rows, want 1", len(got))
	}
	asJSON, asString := normalizeJSON(t, raw), normalizeJSON(t, strconv.Quote(raw))
	if got[0].Raw != asJSON && got[0].Raw != asString {
		t.Errorf("quarantined raw = %s, want %s or the JSON string %s", got[0].Raw, asJSON, asString)
	}
}

func quarantined(key, runID string) warehouse.Quarantined {
	return warehouse.Quarantined{
		QuarantineKey: key,
		VendorTxnID:   ptr("a"),
		Reason:        "amount_missing",
		Raw:           `{"vendor_txn_id":"a"}`,
		RunID:         runID,
		RawRef:        "pages/src/p1.json.gz",
		QuarantinedAt: "2026-03-01T11:00:00Z",
	}
}

func testQuarantineIdempotent(t *testing.T, h *harness) {
	k1, k1Again, k2 := quarantined("k1", "r-1"), quarantined("k1", "r-1"), quarantined("k2", "r-1")
	k1Again.Reason = "currency_unknown"
	k1Again.QuarantinedAt = "2026-03-01T12:00:00Z"
	h.stage(t, warehouse.Batch{RunID: "r-1", QuarantineFiles: []string{
		h.quarantineFile(t, k1Again, k1), h.quarantineFile(t, k2),
	}})
	wantChanged(t, "quarantine-only run", h.promote(t, "r-1"), 0)

	later, k3 := quarantined("k1", "r-2"), quarantined("k3", "r-2")
	later.Reason = "something_else"
	h.stage(t, warehouse.Batch{RunID: "r-2", QuarantineFiles: []string{h.quarantineFile(t, later, k3)}})
	h.promote(t, "r-2")
	h.stage(t, warehouse.Batch{RunID: "r-3", QuarantineFiles: []string{h.quarantineFile(t, later, k3)}})
	h.promote(t, "r-3")

	// Within a run the earliest quarantined_at of a key is kept; across
	// runs the stored row is never replaced.
	want := []warehouse.Quarantined{k1, k2, k3}
	for i := range want {
		want[i] = normalizeQuarantined(t, want[i])
	}
	if diff := cmp.Diff(want, h.quarantine(t)); diff != "" {
		t.Errorf("quarantine mismatch (-want +got):\n%s", diff)
	}
}

func testNotStaged(t *testing.T, h *harness) {
	if _, err := h.w.Promote(t.Context(), "r-never"); !errors.Is(err, warehouse.ErrNotStaged) {
		t.Errorf("Promote(never staged) = %v, want ErrNotStaged", err)
	}
	h.stage(t, warehouse.Batch{RunID: "r-empty"})
	if _, err := h.w.Promote(t.Context(), "r-empty"); !errors.Is(err, warehouse.ErrNotStaged) {
		t.Errorf("Promote(staged no files) = %v, want ErrNotStaged", err)
	}
	empty := h.settlementsFile(t)
	h.stage(t, warehouse.Batch{RunID: "r-empty-file", ValidatedFiles: []string{empty}})
	if _, err := h.w.Promote(t.Context(), "r-empty-file"); !errors.Is(err, warehouse.ErrNotStaged) {
		t.Errorf("Promote(staged one empty file) = %v, want ErrNotStaged", err)
	}
	h.load(t, "r-1", settlement("a", t1))
	if _, err := h.w.Promote(t.Context(), "r-1"); !errors.Is(err, warehouse.ErrNotStaged) {
		t.Errorf("Promote(already promoted) = %v, want ErrNotStaged", err)
	}
}

func testRunsUpsertAndOrder(t *testing.T, h *harness) {
	ctx := t.Context()
	at := func(s string) time.Time {
		ts, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatalf("parsing %q: %v", s, err)
		}
		return ts
	}
	run := func(id, started string) warehouse.Run {
		return warehouse.Run{
			RunID: id, Kind: "run",
			WindowStart: at("2026-03-01T00:00:00Z"), WindowEnd: at("2026-03-02T00:00:00Z"),
			StartedAt: at(started), Fetched: 10, Duplicates: 1, Validated: 8, Quarantined: 1,
			Outcome: warehouse.OutcomeHeld, Detail: "volume out of band",
		}
	}
	r1 := run("r-1", "2026-03-02T01:00:00.000001Z")
	r2 := run("r-2", "2026-03-02T03:00:00Z")
	r3 := run("r-3", "2026-03-02T02:00:00Z")
	for _, r := range []warehouse.Run{r1, r2, r3} {
		if err := h.w.RecordRun(ctx, r); err != nil {
			t.Fatalf("RecordRun(%s) = %v", r.RunID, err)
		}
	}
	r1.Kind, r1.Outcome, r1.Detail = "promote", warehouse.OutcomePromoted, ""
	r1.FinishedAt, r1.Promoted, r1.DeadLettered = at("2026-03-02T04:05:06.789Z"), 8, 2
	if err := h.w.RecordRun(ctx, r1); err != nil {
		t.Fatalf("RecordRun(%s again) = %v", r1.RunID, err)
	}

	tests := []struct {
		n    int
		want []warehouse.Run
	}{
		{10, []warehouse.Run{r2, r3, r1}},
		{2, []warehouse.Run{r2, r3}},
		{0, nil},
	}
	for _, tt := range tests {
		got, err := h.w.Runs(ctx, tt.n)
		if err != nil {
			t.Fatalf("Runs(%d) = %v", tt.n, err)
		}
		if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
			t.Errorf("Runs(%d) mismatch (-want +got):\n%s", tt.n, diff)
		}
	}
}

func testSettlementsKeepProvenance(t *testing.T, h *harness) {
	a := settlement("a", t1)
	a.RunID, a.RawRef = "r-ingest-7", "pages/vendor/date=2026-03-01/window=x/page-00042-abc.json.gz"
	h.load(t, "r-promote", a)
	wantRows(t, h, a)
	newer := settled("a", t2, "10.5")
	newer.RunID, newer.RawRef = "r-ingest-8", "pages/vendor/date=2026-03-01/window=y/page-00001-def.json.gz"
	h.load(t, "r-promote-2", newer)
	wantRows(t, h, newer)
}
