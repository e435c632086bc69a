package gate_test

import (
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/marketplace/settle/testing/vendorsim"
	"github.com/marketplace/settle/transforms/gate"
	"github.com/marketplace/settle/transforms/parse"
)

// TestCheckAgreesWithSimulatorTruth runs every record of a seeded simulator
// with many defects through ParseRecord and Check and compares the verdict
// and the normalised row with the simulator's ground truth.
func TestCheckAgreesWithSimulatorTruth(t *testing.T) {
	from := time.Date(2025, 3, 14, 0, 0, 0, 0, time.UTC)
	to := from.Add(24 * time.Hour)
	faults := vendorsim.NoFaults()
	faults.Invalid, faults.Messy = 0.4, 0.3
	sim, err := vendorsim.New(vendorsim.Config{
		Seed: 20250314, Records: 3000, From: from, To: to, Faults: faults, MetadataBytes: 200,
		Now:    func() time.Time { return to.Add(time.Hour) },
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatalf("starting simulator: %v", err)
	}
	seen := map[string]int{}
	for tr := range sim.TruthSeq(from, to, to.Add(time.Hour)) {
		rec, err := parse.ParseRecord(tr.Raw)
		if err != nil {
			t.Fatalf("ParseRecord(%s) error = %v", tr.Raw, err)
		}
		row, reason := gate.Check(rec, gate.DefaultRules())
		seen[tr.Reason+"/"+tr.Defect]++
		if !tr.Valid {
			if reason != tr.Reason {
				t.Errorf("Check(%s) reason = %q, want %q", tr.Raw, reason, tr.Reason)
			}
			continue
		}
		if reason != "" {
			t.Errorf("Check(%s) reason = %q, want valid (defect %q)", tr.Raw, reason, tr.Defect)
			continue
		}
		var settledAt *string
		if tr.SettledAt != nil {
			s := gate.FormatTime(*tr.SettledAt)
			settledAt = &s
		}
		got := []any{row.VendorTxnID, row.OrderID, row.SellerID, row.Type, row.Status, row.Currency, row.CreatedAt, row.UpdatedAt, row.SettledAt}
		want := []any{tr.VendorTxnID, tr.OrderID, tr.SellerID, tr.Type, tr.Status, tr.Currency, gate.FormatTime(tr.CreatedAt), gate.FormatTime(tr.UpdatedAt), settledAt}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Check(%s) row mismatch (-truth +got):\n%s", tr.Raw, diff)
		}
		if !vendorsim.DecimalEqual(row.Amount, tr.Amount) || !vendorsim.DecimalEqual(row.Fee, tr.Fee) {
			t.Errorf("Check(%s) amount, fee = %s, %s, want %s, %s", tr.Raw, row.Amount, row.Fee, tr.Amount, tr.Fee)
		}
		var gotMeta, wantMeta map[string]any
		if err := json.Unmarshal([]byte(row.Metadata), &gotMeta); err != nil {
			t.Fatalf("row metadata %s: %v", row.Metadata, err)
		}
		if err := json.Unmarshal(tr.Metadata, &wantMeta); err != nil {
			t.Fatalf("truth metadata %s: %v", tr.Metadata, err)
		}
		if tr.Defect == "extra_fields" {
			if _, ok := gotMeta["_extra"]; !ok {
				t.Errorf("row metadata %s has no _extra for a record with extra fields", row.Metadata)
			}
			delete(gotMeta, "_extra")
		}
		if diff := cmp.Diff(wantMeta, gotMeta); diff != "" {
			t.Errorf("row metadata mismatch (-truth +got):\n%s", diff)
		}
	}
	// Every defect must have been exercised, or the test proves little.
	for _, r := range vendorsim.Reasons() {
		switch r {
		case parse.ReasonVendorTxnIDMissing, parse.ReasonUpdatedAtInvalid, parse.ReasonRecordNotObject:
			continue // not generated as settlement defects
		}
		if seen[r+"/"+r] == 0 {
			t.Errorf("no record with reason %s in the sample (seen %v)", r, seen)
		}
	}
	for _, d := range []string{"amount_number", "currency_lower_case", "extra_fields"} {
		if seen["/"+d] == 0 {
			t.Errorf("no record with normalisable defect %s in the sample (seen %v)", d, seen)
		}
	}
}
