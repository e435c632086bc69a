package gate_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/marketplace/settle/io/warehouse"
	"github.com/marketplace/settle/transforms/gate"
	"github.com/marketplace/settle/transforms/parse"
)

// raw returns a valid record with members replaced (a nil value deletes
// the member; a json.RawMessage is inserted verbatim), as compact JSON.
func raw(t *testing.T, changes map[string]any) []byte {
	t.Helper()
	m := map[string]any{
		"vendor_txn_id": "st_1",
		"order_id":      "ord_1",
		"seller_id":     "sel_1",
		"type":          "charge",
		"status":        "settled",
		"amount":        "10.00",
		"fee":           "0.30",
		"currency":      "USD",
		"created_at":    "2025-03-14T09:00:00.000001Z",
		"updated_at":    "2025-03-14T10:00:00.000002Z",
		"settled_at":    "2025-03-14T10:00:00.000002Z",
		"metadata":      json.RawMessage(`{"channel":"web"}`),
	}
	for k, v := range changes {
		if v == nil {
			delete(m, k)
			continue
		}
		m[k] = v
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatalf("marshalling record: %v", err)
	}
	return b
}

func parsed(t *testing.T, b []byte) parse.Record {
	t.Helper()
	rec, err := parse.ParseRecord(b)
	if err != nil {
		t.Fatalf("ParseRecord(%s): %v", b, err)
	}
	return rec
}

func ptr(s string) *string { return &s }

// baseRow is the Check result of raw(t, nil).
func baseRow() warehouse.Settlement {
	return warehouse.Settlement{
		VendorTxnID: "st_1",
		OrderID:     ptr("ord_1"),
		SellerID:    "sel_1",
		Type:        "charge",
		Status:      "settled",
		Amount:      "10.00",
		Fee:         "0.30",
		Currency:    "USD",
		CreatedAt:   "2025-03-14T09:00:00.000001Z",
		UpdatedAt:   "2025-03-14T10:00:00.000002Z",
		SettledAt:   ptr("2025-03-14T10:00:00.000002Z"),
		Metadata:    `{"channel":"web"}`,
	}
}

func TestCheckNormalises(t *testing.T) {
	tests := []struct {
		name    string
		changes map[string]any
		rules   *gate.Rules
		edit    func(*warehouse.Settlement)
	}{
		{name: "a clean record passes unchanged", edit: func(*warehouse.Settlement) {}},
		{
			name:    "an amount sent as a JSON number becomes exact decimal text at the currency's scale",
			changes: map[string]any{"amount": json.RawMessage(`1234.5`)},
			edit:    func(r *warehouse.Settlement) { r.Amount = "1234.50" },
		},
		{
			name:    "an amount number with an exponent is applied exactly",
			changes: map[string]any{"amount": json.RawMessage(`1.2345E3`)},
			edit:    func(r *warehouse.Settlement) { r.Amount = "1234.50" },
		},
		{
			name:    "an amount number larger than float64 holds exactly stays exact",
			changes: map[string]any{"amount": json.RawMessage(`90071992547409931.01`)},
			edit:    func(r *warehouse.Settlement) { r.Amount = "90071992547409931.01" },
		},
		{
			name:    "an amount with fewer decimals is padded",
			changes: map[string]any{"amount": "7", "fee": "0.3"},
			edit:    func(r *warehouse.Settlement) { r.Amount, r.Fee = "7.00", "0.30" },
		},
		{
			name:    "a zero amount is valid and negative zero is zero",
			changes: map[string]any{"amount": "-0.00", "fee": "0"},
			edit:    func(r *warehouse.Settlement) { r.Amount, r.Fee = "0.00", "0.00" },
		},
		{
			name:    "a lower-case currency is upper-cased",
			changes: map[string]any{"currency": "usd"},
			edit:    func(*warehouse.Settlement) {},
		},
		{
			name:    "yen has no fractional digits",
			changes: map[string]any{"currency": "JPY", "amount": "1200", "fee": json.RawMessage(`35`)},
			edit:    func(r *warehouse.Settlement) { r.Currency, r.Amount, r.Fee = "JPY", "1200", "35" },
		},
		{
			name:    "a missing fee is zero by default",
			changes: map[string]any{"fee": nil},
			edit:    func(r *warehouse.Settlement) { r.Fee = "0.00" },
		},
		{
			name:    "a null fee is zero in yen",
			changes: map[string]any{"fee": json.RawMessage(`null`), "currency": "JPY", "amount": "5"},
			edit:    func(r *warehouse.Settlement) { r.Currency, r.Amount, r.Fee = "JPY", "5", "0" },
		},
		{
			name:    "a null order_id and a null settled_at are nil",
			changes: map[string]any{"order_id": json.RawMessage(`null`), "settled_at": json.RawMessage(`null`), "status": "pending"},
			edit:    func(r *warehouse.Settlement) { r.OrderID, r.SettledAt, r.Status = nil, nil, "pending" },
		},
		{
			name:    "a missing order_id and settled_at are nil",
			changes: map[string]any{"order_id": nil, "settled_at": nil},
			edit:    func(r *warehouse.Settlement) { r.OrderID, r.SettledAt = nil, nil },
		},
		{
			name:    "timestamps with offsets are written in UTC with microseconds",
			changes: map[string]any{"created_at": "2025-03-14T11:00:00+02:00", "updated_at": "2025-03-14T10:00:00.5-01:00"},
			edit: func(r *warehouse.Settlement) {
				r.CreatedAt, r.UpdatedAt = "2025-03-14T09:00:00.000000Z", "2025-03-14T11:00:00.500000Z"
			},
		},
		{
			name:    "a timestamp with nanoseconds keeps nine digits",
			changes: map[string]any{"updated_at": "2025-03-14T10:00:00.000000002Z"},
			edit:    func(r *warehouse.Settlement) { r.UpdatedAt = "2025-03-14T10:00:00.000000002Z" },
		},
		{
			name:    "unknown members are folded into metadata under _extra",
			changes: map[string]any{"risk_level": "low", "processor": json.RawMessage(`{"name":"acq-3"}`)},
			edit: func(r *warehouse.Settlement) {
				r.Metadata = `{"_extra":{"processor":{"name":"acq-3"},"risk_level":"low"},"channel":"web"}`
			},
		},
		{
			name:    "a custom currency with three decimals is allowed by custom rules",
			changes: map[string]any{"currency": "KWD", "amount": "1.234", "fee": "0.001"},
			rules:   &gate.Rules{Currencies: map[string]int32{"KWD": 3}},
			edit:    func(r *warehouse.Settlement) { r.Currency, r.Amount, r.Fee = "KWD", "1.234", "0.001" },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rules := gate.DefaultRules()
			if tt.rules != nil {
				rules = *tt.rules
			}
			got, reason := gate.Check(parsed(t, raw(t, tt.changes)), rules)
			if reason != "" {
				t.Fatalf("Check reason = %q, want valid", reason)
			}
			want := baseRow()
			tt.edit(&want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Check mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCheckReasons(t *testing.T) {
	long := strings.Repeat("x", 65)
	tests := []struct {
		name    string
		changes map[string]any
		rules   *gate.Rules
		want    string
	}{
		{name: "a missing amount", changes: map[string]any{"amount": nil}, want: parse.ReasonAmountMissing},
		{name: "a null amount", changes: map[string]any{"amount": json.RawMessage(`null`)}, want: parse.ReasonAmountMissing},
		{name: "an amount with a currency suffix", changes: map[string]any{"amount": "12.50 USD"}, want: parse.ReasonAmountInvalid},
		{name: "an empty amount", changes: map[string]any{"amount": ""}, want: parse.ReasonAmountInvalid},
		{name: "an amount of the wrong type", changes: map[string]any{"amount": true}, want: parse.ReasonAmountInvalid},
		{name: "an amount too large for the warehouse", changes: map[string]any{"amount": strings.Repeat("9", 30) + ".00"}, want: parse.ReasonAmountInvalid},
		{name: "the largest amount the warehouse holds is valid", changes: map[string]any{"amount": strings.Repeat("9", 29) + ".99"}, want: ""},
		{name: "a negative amount", changes: map[string]any{"amount": "-12.50"}, want: parse.ReasonAmountNegative},
		{name: "a negative amount number", changes: map[string]any{"amount": json.RawMessage(`-1`)}, want: parse.ReasonAmountNegative},
		{name: "an amount with a third decimal", changes: map[string]any{"amount": "12.505"}, want: parse.ReasonAmountPrecision},
		{name: "an amount with a third decimal that is zero, counted as sent", changes: map[string]any{"amount": "12.500"}, want: parse.ReasonAmountPrecision},
		{name: "an amount number with a third decimal", changes: map[string]any{"amount": json.RawMessage(`12.345`)}, want: parse.ReasonAmountPrecision},
		{name: "a yen amount with a decimal", changes: map[string]any{"currency": "JPY", "amount": "1200.5", "fee": "0"}, want: parse.ReasonAmountPrecision},
		{name: "a fee that is not a decimal", changes: map[string]any{"fee": "n/a"}, want: parse.ReasonFeeInvalid},
		{name: "a negative fee", changes: map[string]any{"fee": "-0.30"}, want: parse.ReasonFeeInvalid},
		{name: "a fee with too many decimals", changes: map[string]any{"fee": "0.305"}, want: parse.ReasonFeeInvalid},
		{name: "a missing fee when fees are required", changes: map[string]any{"fee": nil}, rules: &gate.Rules{Currencies: map[string]int32{"USD": 2}, FeeRequired: true}, want: parse.ReasonFeeInvalid},
		{name: "a missing currency", changes: map[string]any{"currency": nil}, want: parse.ReasonCurrencyMissing},
		{name: "a null currency", changes: map[string]any{"currency": json.RawMessage(`null`)}, want: parse.ReasonCurrencyMissing},
		{name: "an empty currency", changes: map[string]any{"currency": ""}, want: parse.ReasonCurrencyMissing},
		{name: "an unknown currency", changes: map[string]any{"currency": "BTC"}, want: parse.ReasonCurrencyUnknown},
		{name: "a currency of the wrong type", changes: map[string]any{"currency": 840}, want: parse.ReasonCurrencyUnknown},
		{name: "a missing id", changes: map[string]any{"vendor_txn_id": nil}, want: parse.ReasonVendorTxnIDMissing},
		{name: "an empty id", changes: map[string]any{"vendor_txn_id": ""}, want: parse.ReasonVendorTxnIDMissing},
		{name: "an id over 64 characters", changes: map[string]any{"vendor_txn_id": long}, want: parse.ReasonVendorTxnIDMissing},
		{name: "a missing seller", changes: map[string]any{"seller_id": nil}, want: parse.ReasonSellerIDMissing},
		{name: "an empty seller", changes: map[string]any{"seller_id": ""}, want: parse.ReasonSellerIDMissing},
		{name: "an unknown type", changes: map[string]any{"type": "transfer"}, want: parse.ReasonTypeInvalid},
		{name: "a type in the wrong case", changes: map[string]any{"type": "Charge"}, want: parse.ReasonTypeInvalid},
		{name: "a missing type", changes: map[string]any{"type": nil}, want: parse.ReasonTypeInvalid},
		{name: "an unknown status", changes: map[string]any{"status": "processing"}, want: parse.ReasonStatusInvalid},
		{name: "a created_at with a space", changes: map[string]any{"created_at": "2025-03-14 09:00:00"}, want: parse.ReasonCreatedAtInvalid},
		{name: "a missing created_at", changes: map[string]any{"created_at": nil}, want: parse.ReasonCreatedAtInvalid},
		{name: "a missing updated_at", changes: map[string]any{"updated_at": nil}, want: parse.ReasonUpdatedAtInvalid},
		{name: "a settled_at that is not a time", changes: map[string]any{"settled_at": "n/a"}, want: parse.ReasonSettledAtInvalid},
		{name: "an order_id that is a number", changes: map[string]any{"order_id": 42}, want: parse.ReasonOrderIDInvalid},
		{name: "a bad id wins over every other defect", changes: map[string]any{"vendor_txn_id": nil, "amount": nil, "updated_at": nil}, want: parse.ReasonVendorTxnIDMissing},
		{name: "a bad updated_at wins over a bad amount", changes: map[string]any{"amount": nil, "updated_at": "x"}, want: parse.ReasonUpdatedAtInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rules := gate.DefaultRules()
			if tt.rules != nil {
				rules = *tt.rules
			}
			row, got := gate.Check(parsed(t, raw(t, tt.changes)), rules)
			if got != tt.want {
				t.Fatalf("Check reason = %q, want %q", got, tt.want)
			}
			if got != "" && row != (warehouse.Settlement{}) {
				t.Errorf("Check returned row %+v with reason %q, want the zero row", row, got)
			}
		})
	}
}

func TestToSettlementStampsRunAndRef(t *testing.T) {
	got, reason := gate.ToSettlement(raw(t, nil), parsed(t, raw(t, nil)), gate.DefaultRules(), "run-1", "pages/x/page-00001.json.gz")
	if reason != "" {
		t.Fatalf("ToSettlement reason = %q", reason)
	}
	want := baseRow()
	want.RunID, want.RawRef = "run-1", "pages/x/page-00001.json.gz"
	want.VersionDigest = digestOf(string(raw(t, nil)))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ToSettlement mismatch (-want +got):\n%s", diff)
	}
}

func TestRulesValidate(t *testing.T) {
	tests := []struct {
		name    string
		rules   gate.Rules
		wantErr bool
	}{
		{name: "the default rules are valid", rules: gate.DefaultRules()},
		{name: "no currency is invalid", rules: gate.Rules{}, wantErr: true},
		{name: "a lower-case code is invalid", rules: gate.Rules{Currencies: map[string]int32{"usd": 2}}, wantErr: true},
		{name: "a scale of ten is invalid", rules: gate.Rules{Currencies: map[string]int32{"USD": 10}}, wantErr: true},
		{name: "a negative scale is invalid", rules: gate.Rules{Currencies: map[string]int32{"USD": -1}}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.rules.Validate(); (err != nil) != tt.wantErr {
				t.Errorf("Validate() = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

func TestFormatTime(t *testing.T) {
	tests := []struct {
		name string
		in   time.Time
		want string
	}{
		{name: "a whole second gets six zero digits", in: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), want: "2025-01-02T03:04:05.000000Z"},
		{name: "microseconds get six digits", in: time.Date(2025, 1, 2, 3, 4, 5, 120000, time.UTC), want: "2025-01-02T03:04:05.000120Z"},
		{name: "nanoseconds get nine digits", in: time.Date(2025, 1, 2, 3, 4, 5, 120001, time.UTC), want: "2025-01-02T03:04:05.000120001Z"},
		{name: "another zone is converted to UTC", in: time.Date(2025, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600)), want: "2025-01-02T02:04:05.000000Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := gate.FormatTime(tt.in); got != tt.want {
				t.Errorf("FormatTime(%v) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
