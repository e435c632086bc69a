package warehousetest

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/marketplace/settle/io/warehouse"
)

// The behaviours of the optional capabilities warehouse.Accounts and
// warehouse.RangeReader, and of the promote's buckets, by subtest name.
const (
	NamePromoteBuckets     = "every staged version lands in exactly one promote bucket"
	NameAccountRoundTrip   = "a run account and its exact currency totals round trip and are replaced"
	NameRunTotalsExact     = "run totals sum the run's settlements per currency exactly"
	NameSettlementsUpdated = "settlements of a range are those updated in it"
)

// accountTests are the cases of this file, for Run.
var accountTests = []struct {
	name string
	fn   func(t *testing.T, h *harness)
}{
	{NamePromoteBuckets, testPromoteBuckets},
	{NameAccountRoundTrip, testAccountRoundTrip},
	{NameRunTotalsExact, testRunTotalsExact},
	{NameSettlementsUpdated, testSettlementsUpdated},
}

func accountsOf(t *testing.T, h *harness) warehouse.Accounts {
	t.Helper()
	a, ok := h.w.(warehouse.Accounts)
	if !ok {
		t.Fatalf("%T does not implement warehouse.Accounts", h.w)
	}
	return a
}

func testPromoteBuckets(t *testing.T, h *harness) {
	h.load(t, "r-1", settlement("a", t1), settlement("b", t1), settlement("e", t2))
	// r-2, as two chunks would stage it: a again (unchanged) and an older
	// a (superseded), a newer b (updated), two versions of a new c
	// (inserted, superseded), an older e (stale), a failed new d
	// (rejected).
	rows := []warehouse.Settlement{
		settlement("a", t1), settlement("a", t0), settlement("b", t2),
		settlement("c", t1), settlement("c", t2), settlement("e", t1),
	}
	bad := []warehouse.Quarantined{failed("d", t1, "abcd", "currency_unknown", "r-2")}
	st := h.promoteStatsOf(t, "r-2", rows, bad)
	want := warehouse.PromoteStats{Inserted: 1, Updated: 1, Unchanged: 1, Superseded: 2, Stale: 1, Rejected: 1, Withheld: 1}
	if diff := cmp.Diff(want, st); diff != "" {
		t.Errorf("Promote(r-2) stats mismatch (-want +got):\n%s", diff)
	}
	if got, staged := st.Versions(), int64(len(rows)+len(bad)); got != staged {
		t.Errorf("Promote(r-2).Versions() = %d, want the %d staged versions", got, staged)
	}
}

func testAccountRoundTrip(t *testing.T, h *harness) {
	acc := accountsOf(t, h)
	ctx := t.Context()
	if _, _, err := acc.Account(ctx, "r-none"); !errors.Is(err, warehouse.ErrNoAccount) {
		t.Errorf("Account(unknown run) error = %v, want ErrNoAccount", err)
	}
	a := warehouse.RunAccount{
		RunID: "r-1", Kind: "run", PagesListed: 4, PagesRead: 3, PagesQuarantined: 1, PagesLanded: 4,
		RecordsRead: 100, Unkeyed: 2, Duplicates: 10, Superseded: 3, Stale: 4, Promoted: 70, Unchanged: 6,
		Rejected: 5, Winners: 88, Valid: 80, Failed: 8, StagedValid: 80, StagedQuar: 11,
		QuarantinedByReason: map[string]int64{"page_unparseable": 1, "currency_unknown": 8, "vendor_txn_id_missing": 2},
		Balanced:            true, RecordedAt: time.Date(2026, 3, 1, 10, 0, 0, 123456000, time.UTC),
	}
	totals := []warehouse.CurrencyTotal{
		{Currency: "EUR", Count: 2, Total: "99999999999999999999.999999999"},
		{Currency: "JPY", Count: 1, Total: "-0.000000001"},
		{Currency: "USD", Count: 3, Total: "0"},
	}
	if err := acc.RecordAccount(ctx, a, totals); err != nil {
		t.Fatalf("RecordAccount() = %v", err)
	}
	gotA, gotT, err := acc.Account(ctx, "r-1")
	if err != nil {
		t.Fatalf("Account() = %v", err)
	}
	if diff := cmp.Diff(a, gotA); diff != "" {
		t.Errorf("Account() mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(totals, gotT); diff != "" {
		t.Errorf("Account() totals mismatch (-want +got):\n%s", diff)
	}
	// Recording again replaces the row and every total.
	a.Balanced, a.Detail, a.Promoted = false, "records_read 100 != 99", 69
	totals2 := []warehouse.CurrencyTotal{{Currency: "GBP", Count: 1, Total: "12.3"}}
	if err := acc.RecordAccount(ctx, a, totals2); err != nil {
		t.Fatalf("RecordAccount(again) = %v", err)
	}
	gotA, gotT, err = acc.Account(ctx, "r-1")
	if err != nil {
		t.Fatalf("Account() = %v", err)
	}
	if diff := cmp.Diff(a, gotA); diff != "" {
		t.Errorf("Account() after re-recording mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(totals2, gotT); diff != "" {
		t.Errorf("Account() totals after re-recording mismatch (-want +got):\n%s", diff)
	}
	if err := acc.RecordAccount(ctx, warehouse.RunAccount{RunID: "r-2"}, []warehouse.CurrencyTotal{{Currency: "EUR", Count: 1, Total: "0.0000000001"}}); err == nil {
		t.Errorf("RecordAccount(a total with 10 fraction digits) = nil, want an error (never rounded)")
	}
}

func testRunTotalsExact(t *testing.T, h *harness) {
	mine := func(id, amount, currency string) warehouse.Settlement {
		s := settled(id, t1, amount)
		s.Currency, s.RunID = currency, "r-1"
		return s
	}
	other := settled("z", t1, "1000")
	other.RunID = "r-0"
	h.load(t, "r-1", mine("a", "0.000000001", "EUR"), mine("b", "99999999999999999999.99999999", "EUR"),
		mine("c", "5", "JPY"), mine("d", "0.1", "USD"), mine("e", "0.2", "USD"), other)
	got, err := accountsOf(t, h).RunTotals(t.Context(), "r-1")
	if err != nil {
		t.Fatalf("RunTotals() = %v", err)
	}
	want := []warehouse.CurrencyTotal{
		{Currency: "EUR", Count: 2, Total: "99999999999999999999.999999991"},
		{Currency: "JPY", Count: 1, Total: "5"},
		{Currency: "USD", Count: 2, Total: "0.3"},
	}
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("RunTotals(r-1) mismatch (-want +got):\n%s", diff)
	}
}

func testSettlementsUpdated(t *testing.T, h *harness) {
	r, ok := h.w.(warehouse.RangeReader)
	if !ok {
		t.Fatalf("%T does not implement warehouse.RangeReader", h.w)
	}
	h.load(t, "r-1", settlement("a", t0), settlement("b", t1), settlement("c", t2), settlement("d", t3))
	from, _ := time.Parse(time.RFC3339Nano, t1)
	to, _ := time.Parse(time.RFC3339Nano, t3)
	got, err := r.SettlementsUpdated(t.Context(), from, to)
	if err != nil {
		t.Fatalf("SettlementsUpdated() = %v", err)
	}
	want := normalized(t, settlement("b", t1), settlement("c", t2))
	for i := range got {
		got[i] = normalizeSettlement(t, got[i])
	}
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("SettlementsUpdated([t1, t3)) mismatch (-want +got):\n%s", diff)
	}
}
