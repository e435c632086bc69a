package vendorsim_test

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/marketplace/settle/testing/vendorsim"
)

// newestInvalid returns the settlements whose newest version fails the
// gate while every older one passes, with all their versions.
func newestInvalid(t *testing.T, s *vendorsim.Sim) map[string][]vendorsim.TruthRecord {
	t.Helper()
	out := map[string][]vendorsim.TruthRecord{}
	for _, tr := range s.Truth() {
		versions, ok := s.Lookup(tr.VendorTxnID)
		if !ok {
			t.Fatalf("Lookup(%q) found nothing", tr.VendorTxnID)
		}
		older := versions[:len(versions)-1]
		if len(older) == 0 || versions[len(versions)-1].Valid {
			continue
		}
		if slices.ContainsFunc(older, func(v vendorsim.TruthRecord) bool { return !v.Valid }) {
			continue
		}
		out[tr.VendorTxnID] = versions
	}
	return out
}

func TestNewestInvalidGivesOnlyTheNewestVersionADefect(t *testing.T) {
	s, _ := newSim(t, 4000, mustFaults(t, "newestinvalid=0.3"))
	got := newestInvalid(t, s)
	multi := 0
	for _, tr := range s.Truth() {
		if tr.Versions > 1 {
			multi++
		}
	}
	// About 0.3 of the multi-version settlements (half of all).
	if n := len(got); float64(n) < 0.2*float64(multi) || float64(n) > 0.4*float64(multi) {
		t.Errorf("%d settlements with an invalid newest over valid older versions, want about 0.3 of the %d with several versions", n, multi)
	}
	reasons := map[string]int{}
	spread := 0
	for id, versions := range got {
		newest, before := versions[len(versions)-1], versions[len(versions)-2]
		reasons[newest.Reason]++
		if newest.Defect != newest.Reason {
			t.Errorf("%s: newest defect %q, reason %q; want equal", id, newest.Defect, newest.Reason)
		}
		var wire map[string]json.RawMessage
		if err := json.Unmarshal(newest.Raw, &wire); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		shows := map[string]bool{
			vendorsim.ReasonAmountMissing:   string(wire["amount"]) == "null",
			vendorsim.ReasonAmountNegative:  strings.HasPrefix(string(wire["amount"]), `"-`),
			vendorsim.ReasonCurrencyUnknown: string(wire["currency"]) == `"BTC"`,
		}
		if !shows[newest.Reason] {
			t.Errorf("%s: newest version's reason %q does not show in %s", id, newest.Reason, newest.Raw)
		}
		for _, v := range versions[:len(versions)-1] {
			if v.Defect != "" && !slices.Contains([]string{"amount_number", "currency_lower_case", "extra_fields"}, v.Defect) {
				t.Errorf("%s: older version %d has defect %q", id, v.Version, v.Defect)
			}
		}
		if !newest.UpdatedAt.Truncate(time.Hour).Equal(before.UpdatedAt.Truncate(time.Hour)) {
			spread++
		}

		// The truth is the newest version: invalid, with its reason.
		// Over a range that ends before it, the older valid one.
		if w := s.TruthWithin(newest.UpdatedAt, newest.UpdatedAt.Add(time.Microsecond), day1.Add(time.Hour)); len(w) != 1 || w[0].VendorTxnID != id || w[0].Valid || w[0].Reason != newest.Reason {
			t.Fatalf("%s: TruthWithin its newest instant = %+v, want it invalid with reason %q", id, w, newest.Reason)
		}
		if w := s.TruthWithin(day0, newest.UpdatedAt, day1.Add(time.Hour)); !slices.ContainsFunc(w, func(tr vendorsim.TruthRecord) bool {
			return tr.VendorTxnID == id && tr.Valid && tr.UpdatedAt.Equal(before.UpdatedAt)
		}) {
			t.Fatalf("%s: TruthWithin a range before its newest version lacks the valid version at %s", id, before.UpdatedAt)
		}
	}
	for _, r := range []string{vendorsim.ReasonAmountMissing, vendorsim.ReasonAmountNegative, vendorsim.ReasonCurrencyUnknown} {
		if reasons[r] == 0 {
			t.Errorf("no newest-invalid settlement with reason %q (seen %v)", r, reasons)
		}
	}
	// Spread across windows: the invalid newest sits in another hour than
	// the valid version before it for nearly all of them.
	if len(got) == 0 || float64(spread) < 0.9*float64(len(got)) {
		t.Errorf("%d of %d newest-invalid settlements have their last two versions in different hours, want at least 90%%", spread, len(got))
	}

	byID := map[string]vendorsim.TruthRecord{}
	for _, tr := range s.Truth() {
		byID[tr.VendorTxnID] = tr
	}
	for id, versions := range got {
		if tr := byID[id]; tr.Valid || tr.Version != versions[len(versions)-1].Version {
			t.Errorf("%s: Truth has version %d valid=%v, want the invalid newest %d", id, tr.Version, tr.Valid, versions[len(versions)-1].Version)
		}
	}
}

func TestNewestInvalidIsOffUnlessAsked(t *testing.T) {
	for _, spec := range []string{"none", "invalid=0.3"} {
		s, _ := newSim(t, 3000, mustFaults(t, spec))
		if n := len(newestInvalid(t, s)); n != 0 {
			t.Errorf("faults %q: %d settlements with an invalid newest over valid older versions, want 0", spec, n)
		}
	}
	for name, f := range map[string]vendorsim.Faults{"default": vendorsim.DefaultFaults(), "all": vendorsim.AllFaults()} {
		if f.NewestInvalid <= 0 || f.NewestInvalid > 0.1 || f.SameInstant <= 0 || f.SameInstant > 0.1 {
			t.Errorf("preset %s: newestinvalid=%v sameinstant=%v, want both on at a few percent", name, f.NewestInvalid, f.SameInstant)
		}
	}
	if _, err := vendorsim.ParseFaults("newestinvalid=0.7,sameinstant=0.5"); err == nil {
		t.Errorf("ParseFaults accepted newestinvalid+sameinstant above 1")
	}
}

// sameInstant returns the settlements whose last two versions share an
// updated_at, with all their versions.
func sameInstant(t *testing.T, s *vendorsim.Sim) map[string][]vendorsim.TruthRecord {
	t.Helper()
	out := map[string][]vendorsim.TruthRecord{}
	for _, tr := range s.Truth() {
		versions, _ := s.Lookup(tr.VendorTxnID)
		if n := len(versions); n >= 2 && versions[n-1].UpdatedAt.Equal(versions[n-2].UpdatedAt) {
			out[tr.VendorTxnID] = versions
		}
	}
	return out
}

func TestSameInstantTruthIsTheGreaterDigest(t *testing.T) {
	s, _ := newSim(t, 3000, mustFaults(t, "sameinstant=0.2"))
	got := sameInstant(t, s)
	if n := len(got); n < 400 || n > 800 {
		t.Fatalf("%d settlements with two versions at one updated_at, want about 600", n)
	}
	truth := map[string]vendorsim.TruthRecord{}
	for _, tr := range s.Truth() {
		truth[tr.VendorTxnID] = tr
	}
	lastWins, firstWins := 0, 0
	for id, versions := range got {
		a, b := versions[len(versions)-2], versions[len(versions)-1]
		if bytes.Equal(a.Raw, b.Raw) || a.Status == b.Status {
			t.Fatalf("%s: the two versions at %s do not differ in status:\n%s\n%s", id, a.UpdatedAt, a.Raw, b.Raw)
		}
		want := b
		if vendorsim.Digest(a.Raw) > vendorsim.Digest(b.Raw) {
			want = a
			firstWins++
		} else {
			lastWins++
		}
		if tr := truth[id]; !bytes.Equal(tr.Raw, want.Raw) || tr.Status != want.Status {
			t.Errorf("%s: truth is the version with status %s, want %s (digest %s over %s)", id, tr.Status, want.Status,
				vendorsim.Digest(want.Raw), vendorsim.Digest(map[bool][]byte{true: a.Raw, false: b.Raw}[want.Version == b.Version]))
		}
		if w := s.TruthWithin(a.UpdatedAt, a.UpdatedAt.Add(time.Microsecond), day1.Add(time.Hour)); len(w) != 1 || !bytes.Equal(w[0].Raw, want.Raw) {
			t.Errorf("%s: TruthWithin its instant is not the greater digest", id)
		}
		var numbers []int
		for _, v := range s.Listable(a.UpdatedAt, a.UpdatedAt.Add(time.Microsecond), day1.Add(time.Hour)) {
			if v.VendorTxnID == id {
				numbers = append(numbers, v.Version)
			}
		}
		if !slices.Equal(numbers, []int{a.Version, b.Version}) || b.Version != len(versions)-1 {
			t.Errorf("%s: Listable at its instant gives versions %v, want %d then %d (of %d)", id, numbers, a.Version, b.Version, len(versions))
		}
	}
	// Both orders occur, so a truth that took the last listed would fail.
	if lastWins == 0 || firstWins == 0 {
		t.Errorf("greater digest listed last %d times, first %d times; want both", lastWins, firstWins)
	}
}

func TestDigestIsTheFirst16BytesOfSHA256InHex(t *testing.T) {
	// sha256("abc") = ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
	if got, want := vendorsim.Digest([]byte("abc")), "ba7816bf8f01cfea414140de5dae2223"; got != want {
		t.Errorf("Digest(abc) = %s, want %s", got, want)
	}
}

// TestSameInstantVersionsAreListedAdjacentAcrossPageBoundaries pages
// through every window with small pages and page-boundary repeats, so
// that pages end between the two versions of one instant: both are
// listed, next to each other, in (updated_at, vendor_txn_id) order.
func TestSameInstantVersionsAreListedAdjacentAcrossPageBoundaries(t *testing.T) {
	for _, tc := range []struct {
		name   string
		spec   string
		limits []int
	}{
		{"clean pages", "sameinstant=0.3", []int{1, 2, 7, 100}},
		{"with repeats across page boundaries", "sameinstant=0.3,dup=0.5", []int{1, 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, clock := newSim(t, 300, mustFaults(t, tc.spec))
			want := sameInstant(t, s)
			if len(want) < 30 {
				t.Fatalf("only %d same-instant settlements", len(want))
			}
			for _, limit := range tc.limits {
				listed := map[string]int{}
				for _, w := range hours(day0, day1) {
					var prev wireRecord
					var prevRaw json.RawMessage
					for _, raw := range walk(t, s, clock, w[0], w[1], limit, 5000).records() {
						r := parseRecord(t, raw)
						if prevRaw != nil && bytes.Equal(raw, prevRaw) {
							continue // a page-boundary repeat
						}
						if prevRaw != nil && (r.UpdatedAt.Before(prev.UpdatedAt) ||
							(r.UpdatedAt.Equal(prev.UpdatedAt) && r.VendorTxnID < prev.VendorTxnID)) {
							t.Fatalf("limit %d: %s at %s listed after %s at %s", limit, r.VendorTxnID, r.UpdatedAt, prev.VendorTxnID, prev.UpdatedAt)
						}
						if _, ok := want[r.VendorTxnID]; ok {
							if v := want[r.VendorTxnID]; r.UpdatedAt.Equal(v[len(v)-1].UpdatedAt) {
								listed[r.VendorTxnID]++
								if listed[r.VendorTxnID] == 2 && prev.VendorTxnID != r.VendorTxnID {
									t.Errorf("limit %d: the two versions of %s at %s are not adjacent", limit, r.VendorTxnID, r.UpdatedAt)
								}
							}
						}
						prev, prevRaw = r, raw
					}
				}
				for id := range want {
					if listed[id] != 2 {
						t.Errorf("limit %d: %s listed %d times at its shared instant, want 2", limit, id, listed[id])
					}
				}
			}
		})
	}
}
