package gate_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/marketplace/settle/io/warehouse"
	"github.com/marketplace/settle/transforms/decimal"
	"github.com/marketplace/settle/transforms/gate"
	"github.com/marketplace/settle/transforms/parse"
)

var knownReasons = []string{
	parse.ReasonAmountMissing, parse.ReasonAmountInvalid, parse.ReasonAmountNegative,
	parse.ReasonAmountPrecision, parse.ReasonFeeInvalid, parse.ReasonCurrencyMissing,
	parse.ReasonCurrencyUnknown, parse.ReasonVendorTxnIDMissing, parse.ReasonSellerIDMissing,
	parse.ReasonTypeInvalid, parse.ReasonStatusInvalid, parse.ReasonCreatedAtInvalid,
	parse.ReasonUpdatedAtInvalid, parse.ReasonSettledAtInvalid, parse.ReasonOrderIDInvalid,
}

// vendorJSON writes a validated row back in the vendor's shape, with the
// metadata bytes spliced in verbatim.
func vendorJSON(t *testing.T, row warehouse.Settlement) []byte {
	t.Helper()
	str := func(s string) string {
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	opt := func(s *string) string {
		if s == nil {
			return "null"
		}
		return str(*s)
	}
	var b strings.Builder
	b.WriteString(`{"vendor_txn_id":` + str(row.VendorTxnID) + `,"order_id":` + opt(row.OrderID) +
		`,"seller_id":` + str(row.SellerID) + `,"type":` + str(row.Type) + `,"status":` + str(row.Status) +
		`,"amount":` + str(row.Amount) + `,"fee":` + str(row.Fee) + `,"currency":` + str(row.Currency) +
		`,"created_at":` + str(row.CreatedAt) + `,"updated_at":` + str(row.UpdatedAt) +
		`,"settled_at":` + opt(row.SettledAt) + `,"metadata":` + row.Metadata + `}`)
	return []byte(b.String())
}

func FuzzCheck(f *testing.F) {
	for _, s := range []string{
		`{"vendor_txn_id":"st_1","order_id":null,"seller_id":"s","type":"charge","status":"settled","amount":12.5,"fee":"0.30","currency":"usd","created_at":"2025-03-14T09:00:00.000001Z","updated_at":"2025-03-14T10:00:00+01:00","settled_at":null,"metadata":{"a":1},"extra":[1]}`,
		`{"vendor_txn_id":"st_1","seller_id":"s","type":"fee","status":"pending","amount":"1200","currency":"JPY","created_at":"2025-03-14T09:00:00Z","updated_at":"2025-03-14T10:00:00.123456789Z","metadata":"x","_extra":1}`,
		`{"vendor_txn_id":"st_1","seller_id":"s","type":"refund","status":"failed","amount":"1.005","currency":"EUR","created_at":"2025-03-14T09:00:00Z","updated_at":"2025-03-14T10:00:00Z"}`,
		`{"amount":-1e-2}`, `{}`, `[]`, `{"metadata":{"_extra":{}},"x":null}`,
	} {
		f.Add([]byte(s))
	}
	rules := gate.DefaultRules()
	f.Fuzz(func(t *testing.T, raw []byte) {
		rec, err := parse.ParseRecord(raw)
		q := gate.Quarantine(raw, rec, "x", "run", "ref", 0, time.Unix(0, 0))
		if q.QuarantineKey == "" {
			t.Fatalf("empty QuarantineKey for %q", raw)
		}
		if err != nil {
			return
		}
		row, reason := gate.Check(rec, rules)
		if reason != "" {
			if !slices.Contains(knownReasons, reason) {
				t.Fatalf("Check(%q) reason %q is not a known reason", raw, reason)
			}
			return
		}
		scale, ok := rules.Currencies[row.Currency]
		if !ok {
			t.Fatalf("Check(%q) passed currency %q", raw, row.Currency)
		}
		for _, m := range []string{row.Amount, row.Fee} {
			d, err := decimal.Parse(m)
			if err != nil || d.Scale() != scale || d.Sign() < 0 || d.String() != m {
				t.Fatalf("Check(%q) passed money %q (scale %d, currency %s)", raw, m, d.Scale(), row.Currency)
			}
		}
		for _, ts := range []string{row.CreatedAt, row.UpdatedAt} {
			v, err := parse.ParseTimestamp(ts)
			if err != nil || gate.FormatTime(v) != ts {
				t.Fatalf("Check(%q) passed timestamp %q, not in normal form", raw, ts)
			}
		}
		if !json.Valid([]byte(row.Metadata)) {
			t.Fatalf("Check(%q) metadata %q is not valid JSON", raw, row.Metadata)
		}
		// A validated row, sent again in the vendor's shape, re-validates
		// to the identical row.
		again := vendorJSON(t, row)
		rec2, err := parse.ParseRecord(again)
		if err != nil {
			t.Fatalf("ParseRecord(%s) of a validated row: %v", again, err)
		}
		row2, reason := gate.Check(rec2, rules)
		if reason != "" {
			t.Fatalf("Check(%s) of a validated row = reason %q", again, reason)
		}
		if diff := cmp.Diff(row, row2); diff != "" {
			t.Fatalf("re-validation changed the row (-first +second):\n%s", diff)
		}
	})
}
