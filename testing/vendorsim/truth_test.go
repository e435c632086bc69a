package vendorsim_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/marketplace/settle/testing/vendorsim"
)

// TestTruthIsTheNewestListedVersion reads every window under every fault
// but those that need waiting, keeps the newest version of each id (the
// pipeline's rule: the later updated_at, then the greater Digest), and
// compares it with the truth, raw bytes and all.
func TestTruthIsTheNewestListedVersion(t *testing.T) {
	s, clock := newSim(t, 3000, mustFaults(t, "all,poison=0,sticky=0,slow=0,ratelimit=0,late=0.5"))
	now := day0.Add(20 * time.Hour)
	clock.Freeze(now)
	newest := map[string]json.RawMessage{}
	newestAt := map[string]time.Time{}
	for _, w := range hours(day0, day1) {
		for _, raw := range walk(t, s, clock, w[0], w[1], 100, 5000).records() {
			if raw[0] != '{' {
				continue
			}
			r := parseRecord(t, raw)
			at, ok := newestAt[r.VendorTxnID]
			if !ok || r.UpdatedAt.After(at) || (r.UpdatedAt.Equal(at) && vendorsim.Digest(raw) > vendorsim.Digest(newest[r.VendorTxnID])) {
				newest[r.VendorTxnID], newestAt[r.VendorTxnID] = raw, r.UpdatedAt
			}
		}
	}
	truth := s.TruthVisibleAt(now)
	if got, want := len(newest), len(truth); got != want {
		t.Fatalf("%d distinct settlements listed, truth has %d", got, want)
	}
	if all := len(s.Truth()); all <= len(truth) {
		t.Errorf("Truth() has %d settlements, TruthVisibleAt(%s) %d; want more once everything is visible", all, now, len(truth))
	}
	for _, tr := range truth {
		if got := newest[tr.VendorTxnID]; !bytes.Equal(got, tr.Raw) {
			t.Fatalf("%s: newest listed\n%s\ntruth\n%s", tr.VendorTxnID, got, tr.Raw)
		}
	}
}

func TestTruthWithinCountsOnlyItsWindow(t *testing.T) {
	s, _ := newSim(t, 2000, vendorsim.NoFaults())
	mid := day0.Add(12 * time.Hour)
	later := day1.Add(time.Hour)
	for _, tr := range s.TruthWithin(day0, mid, later) {
		if !tr.UpdatedAt.Before(mid) {
			t.Fatalf("%s: version at %s is outside [%s, %s)", tr.VendorTxnID, tr.UpdatedAt, day0, mid)
		}
	}
	first, second, all := s.TruthWithin(day0, mid, later), s.TruthWithin(mid, day1, later), s.Truth()
	if len(first)+len(second) <= len(all) {
		t.Errorf("halves hold %d + %d settlements, all %d; want overlap from versions on both sides", len(first), len(second), len(all))
	}
}

func TestTruthFieldsAreNormalised(t *testing.T) {
	s, _ := newSim(t, 5000, mustFaults(t, "messy=0.5,invalid=0.3"))
	scale := map[string]int{"USD": 2, "EUR": 2, "GBP": 2, "CAD": 2, "AUD": 2, "JPY": 0}
	defects := map[string]int{}
	for _, tr := range s.Truth() {
		defects[tr.Defect]++
		var wire map[string]json.RawMessage
		if err := json.Unmarshal(tr.Raw, &wire); err != nil {
			t.Fatalf("%s: raw record is not an object: %v", tr.VendorTxnID, err)
		}
		if !tr.Valid {
			continue
		}
		if tr.Reason != "" {
			t.Errorf("%s: valid with reason %q", tr.VendorTxnID, tr.Reason)
		}
		sc, ok := scale[tr.Currency]
		if !ok {
			t.Fatalf("%s: valid with currency %q", tr.VendorTxnID, tr.Currency)
		}
		for _, d := range []string{tr.Amount, tr.Fee} {
			_, frac, _ := strings.Cut(d, ".")
			if _, err := vendorsim.ParseDecimal(d); err != nil || len(frac) != sc || strings.HasPrefix(d, "-") {
				t.Errorf("%s: %q is not a non-negative decimal in %s's scale %d", tr.VendorTxnID, d, tr.Currency, sc)
			}
		}
		var amount json.Number
		if err := json.Unmarshal(wire["amount"], &amount); err != nil { // a number, or a string holding one
			t.Fatalf("%s: amount %s: %v", tr.VendorTxnID, wire["amount"], err)
		}
		if !vendorsim.DecimalEqual(amount.String(), tr.Amount) {
			t.Errorf("%s: wire amount %s, truth %q", tr.VendorTxnID, wire["amount"], tr.Amount)
		}
	}
	for _, d := range []string{"", "amount_number", "currency_lower_case", "extra_fields"} {
		if defects[d] == 0 {
			t.Errorf("no settlement with defect %q among %d", d, len(s.Truth()))
		}
	}
}

// TestEveryInvalidDefectIsOneReason checks each reason the simulator
// generates appears, and that the raw record shows exactly that defect.
func TestEveryInvalidDefectIsOneReason(t *testing.T) {
	s, _ := newSim(t, 3000, mustFaults(t, "invalid=1"))
	seen := map[string]int{}
	for _, tr := range s.Truth() {
		if tr.Valid || tr.Reason == "" || tr.Reason != tr.Defect {
			t.Fatalf("%s: valid=%v reason=%q defect=%q, want invalid with reason = defect", tr.VendorTxnID, tr.Valid, tr.Reason, tr.Defect)
		}
		seen[tr.Reason]++
		var wire map[string]json.RawMessage
		if err := json.Unmarshal(tr.Raw, &wire); err != nil {
			t.Fatalf("%s: %v", tr.VendorTxnID, err)
		}
		check := map[string]func() bool{
			vendorsim.ReasonAmountMissing:    func() bool { return string(wire["amount"]) == "null" },
			vendorsim.ReasonAmountInvalid:    func() bool { return strings.Contains(string(wire["amount"]), " ") },
			vendorsim.ReasonAmountNegative:   func() bool { return strings.HasPrefix(string(wire["amount"]), `"-`) },
			vendorsim.ReasonAmountPrecision:  func() bool { return tr.Amount != "" && !strings.HasSuffix(tr.Amount, "0") },
			vendorsim.ReasonFeeInvalid:       func() bool { _, err := vendorsim.ParseDecimal(tr.Fee); return err != nil },
			vendorsim.ReasonCurrencyMissing:  func() bool { _, ok := wire["currency"]; return !ok },
			vendorsim.ReasonCurrencyUnknown:  func() bool { return string(wire["currency"]) == `"BTC"` },
			vendorsim.ReasonSellerIDMissing:  func() bool { _, ok := wire["seller_id"]; return !ok },
			vendorsim.ReasonTypeInvalid:      func() bool { return string(wire["type"]) == `"transfer"` },
			vendorsim.ReasonStatusInvalid:    func() bool { return string(wire["status"]) == `"processing"` },
			vendorsim.ReasonCreatedAtInvalid: func() bool { return !parsesAsTime(wire["created_at"]) },
			vendorsim.ReasonSettledAtInvalid: func() bool { return !parsesAsTime(wire["settled_at"]) },
		}[tr.Reason]
		if check == nil || !check() {
			t.Errorf("%s: reason %q does not match the raw record %s", tr.VendorTxnID, tr.Reason, tr.Raw)
		}
	}
	want := slices.DeleteFunc(vendorsim.Reasons(), func(r string) bool {
		return r == vendorsim.ReasonVendorTxnIDMissing || r == vendorsim.ReasonUpdatedAtInvalid || r == vendorsim.ReasonRecordNotObject
	})
	var got []string
	for _, r := range vendorsim.Reasons() {
		if seen[r] > 0 {
			got = append(got, r)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("reasons generated (-want +got):\n%s", diff)
	}
}

func parsesAsTime(raw json.RawMessage) bool {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return false
	}
	_, err := time.Parse(time.RFC3339Nano, s)
	return err == nil
}

func TestLookupReturnsEveryVersionOldestFirst(t *testing.T) {
	s, _ := newSim(t, 400, vendorsim.DefaultFaults())
	for _, tr := range s.Truth() {
		versions, ok := s.Lookup(tr.VendorTxnID)
		if !ok {
			t.Fatalf("Lookup(%q) found nothing", tr.VendorTxnID)
		}
		newest := versions[len(versions)-1]
		for i := 1; i < len(versions); i++ {
			if versions[i].CreatedAt != versions[0].CreatedAt {
				t.Fatalf("%s: version %d has another created_at than version 0", tr.VendorTxnID, i)
			}
			if versions[i].UpdatedAt.After(versions[i-1].UpdatedAt) {
				continue
			}
			// Only the SameInstant knob's extra version, the last, may
			// share its updated_at with the one before.
			if i != len(versions)-1 || !versions[i].UpdatedAt.Equal(versions[i-1].UpdatedAt) {
				t.Fatalf("%s: version %d is not newer than version %d", tr.VendorTxnID, i, i-1)
			}
			if vendorsim.Digest(versions[i-1].Raw) > vendorsim.Digest(versions[i].Raw) {
				newest = versions[i-1]
			}
		}
		if diff := cmp.Diff(tr, newest); diff != "" {
			t.Fatalf("newest version of %s differs from the truth (-truth +lookup):\n%s", tr.VendorTxnID, diff)
		}
	}
	for _, id := range []string{"", "st_", "st_0000000aaaaaaaaaaaaa", "st_ZZZZZZZaaaaaaaaaaaaa", "xx_0000000aaaaaaaaaaaaa"} {
		if _, ok := s.Lookup(id); ok {
			t.Errorf("Lookup(%q) found a settlement", id)
		}
	}
}

func TestWriteTruthIsNDJSONOfTruth(t *testing.T) {
	s, _ := newSim(t, 300, vendorsim.DefaultFaults())
	var buf bytes.Buffer
	if err := s.WriteTruth(&buf); err != nil {
		t.Fatalf("WriteTruth: %v", err)
	}
	var got []vendorsim.TruthRecord
	sc := bufio.NewScanner(&buf)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var tr vendorsim.TruthRecord
		if err := json.Unmarshal(sc.Bytes(), &tr); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		got = append(got, tr)
	}
	want := s.Truth()
	for i := range want {
		want[i].Metadata, want[i].Raw = nil, nil
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("WriteTruth lines (-Truth +got):\n%s", diff)
	}
}

func TestDecimalEqual(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"12.5", "12.50", true},
		{"1200", "1200.000", true},
		{"-0.10", "-0.1", true},
		{"0", "0.00", true},
		{"12.50", "12.51", false},
		{"12.50", "-12.50", false},
		{"1e2", "100", false},
		{"", "", false},
		{"12.", "12", false},
		{".5", "0.5", false},
		{"1/2", "0.5", false},
		{"+1", "1", false},
		{"12.50 USD", "12.50", false},
	}
	for _, tt := range tests {
		if got := vendorsim.DecimalEqual(tt.a, tt.b); got != tt.want {
			t.Errorf("DecimalEqual(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func FuzzParseDecimal(f *testing.F) {
	for _, s := range []string{"12.50", "-0.1", "1200", "1e2", "", ".", "-", "1..2", "00.00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := vendorsim.ParseDecimal(s)
		if err != nil {
			return
		}
		if strings.ContainsAny(s, "eE/+_ ") {
			t.Errorf("ParseDecimal(%q) accepted a non-plain literal", s)
		}
		if !vendorsim.DecimalEqual(s, r.FloatString(len(s))) {
			t.Errorf("DecimalEqual(%q, its own value %s) = false", s, r.FloatString(len(s)))
		}
	})
}
