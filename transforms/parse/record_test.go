package parse_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/marketplace/settle/transforms/decimal"
	"github.com/marketplace/settle/transforms/parse"
)

var cmpDecimal = cmp.Comparer(func(a, b decimal.Decimal) bool { return a == b })

func dec(t *testing.T, s string) decimal.Decimal {
	t.Helper()
	d, err := decimal.Parse(s)
	if err != nil {
		t.Fatalf("decimal.Parse(%q): %v", s, err)
	}
	return d
}

func ts(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("time.Parse(%q): %v", s, err)
	}
	return v.UTC()
}

func readRecord(tb testing.TB) []byte {
	tb.Helper()
	b, err := os.ReadFile("testdata/record.json")
	if err != nil {
		tb.Fatalf("reading sample record: %v", err)
	}
	return b
}

func TestParseRecordFullRecord(t *testing.T) {
	raw := readRecord(t)
	got, err := parse.ParseRecord(raw)
	if err != nil {
		t.Fatalf("ParseRecord(sample) error = %v", err)
	}
	var whole map[string]json.RawMessage
	if err := json.Unmarshal(raw, &whole); err != nil {
		t.Fatal(err)
	}
	want := parse.Record{
		VendorTxnID: parse.Text{State: parse.Present, Value: "st_01HZX4K9M2Q7RVB3T8WJ5N6C1D"},
		OrderID:     parse.Text{State: parse.Present, Value: "ord_8842113377"},
		SellerID:    parse.Text{State: parse.Present, Value: "sel_000412"},
		Type:        parse.Text{State: parse.Present, Value: "charge"},
		Status:      parse.Text{State: parse.Present, Value: "settled"},
		Amount:      parse.Number{State: parse.Present, Value: dec(t, "1234.50")},
		Fee:         parse.Number{State: parse.Present, Value: dec(t, "35.80")},
		Currency:    parse.Text{State: parse.Present, Value: "USD"},
		CreatedAt:   parse.Timestamp{State: parse.Present, Value: ts(t, "2025-03-14T09:26:53.589793Z")},
		UpdatedAt:   parse.Timestamp{State: parse.Present, Value: ts(t, "2025-03-14T11:02:17.238462Z")},
		SettledAt:   parse.Timestamp{State: parse.Present, Value: ts(t, "2025-03-14T11:02:17.238462Z")},
		Metadata:    whole["metadata"],
	}
	if diff := cmp.Diff(want, got, cmpDecimal); diff != "" {
		t.Errorf("ParseRecord(sample) mismatch (-want +got):\n%s", diff)
	}
}

func TestParseRecordMembers(t *testing.T) {
	tests := []struct {
		name  string
		raw   string
		check func(t *testing.T, r parse.Record)
	}{
		{
			name: "an amount sent as a JSON number is taken exactly from its literal",
			raw:  `{"amount":1234.5}`,
			check: func(t *testing.T, r parse.Record) {
				want := parse.Number{State: parse.Present, Value: dec(t, "1234.5"), FromJSONNumber: true}
				if diff := cmp.Diff(want, r.Amount, cmpDecimal); diff != "" {
					t.Errorf("Amount mismatch (-want +got):\n%s", diff)
				}
			},
		},
		{
			name: "an amount number with an exponent is applied exactly",
			raw:  `{"amount":1.2345e3}`,
			check: func(t *testing.T, r parse.Record) {
				if got, want := r.Amount.Value.String(), "1234.5"; got != want {
					t.Errorf("Amount = %q, want %q", got, want)
				}
			},
		},
		{
			name: "an amount with more digits than float64 holds is not rounded",
			raw:  `{"amount":12345678901234567.01,"fee":"0.10000000000000000001"}`,
			check: func(t *testing.T, r parse.Record) {
				if got, want := r.Amount.Value.String(), "12345678901234567.01"; got != want {
					t.Errorf("Amount = %q, want %q", got, want)
				}
				if got, want := r.Fee.Value.String(), "0.10000000000000000001"; got != want {
					t.Errorf("Fee = %q, want %q", got, want)
				}
			},
		},
		{
			name: "a null amount is null, not missing",
			raw:  `{"amount":null}`,
			check: func(t *testing.T, r parse.Record) {
				if r.Amount.State != parse.Null || r.Fee.State != parse.Missing {
					t.Errorf("Amount, Fee states = %v, %v, want null, missing", r.Amount.State, r.Fee.State)
				}
			},
		},
		{
			name: "an empty amount string is invalid",
			raw:  `{"amount":"","fee":"1e2"}`,
			check: func(t *testing.T, r parse.Record) {
				if r.Amount.State != parse.Invalid || r.Fee.State != parse.Invalid {
					t.Errorf("Amount, Fee states = %v, %v, want invalid, invalid", r.Amount.State, r.Fee.State)
				}
			},
		},
		{
			name: "an amount of the wrong JSON type is invalid",
			raw:  `{"amount":true,"fee":{"v":"1"}}`,
			check: func(t *testing.T, r parse.Record) {
				if r.Amount.State != parse.Invalid || r.Fee.State != parse.Invalid {
					t.Errorf("Amount, Fee states = %v, %v, want invalid, invalid", r.Amount.State, r.Fee.State)
				}
			},
		},
		{
			name: "an amount number out of range is invalid",
			raw:  `{"amount":1e999999}`,
			check: func(t *testing.T, r parse.Record) {
				if r.Amount.State != parse.Invalid {
					t.Errorf("Amount state = %v, want invalid", r.Amount.State)
				}
			},
		},
		{
			name: "a lower-case currency is upper-cased",
			raw:  `{"currency":"eur"}`,
			check: func(t *testing.T, r parse.Record) {
				if diff := cmp.Diff(parse.Text{State: parse.Present, Value: "EUR"}, r.Currency); diff != "" {
					t.Errorf("Currency mismatch (-want +got):\n%s", diff)
				}
			},
		},
		{
			name: "a non-ASCII currency is not case-mapped",
			raw:  `{"currency":"ußd"}`,
			check: func(t *testing.T, r parse.Record) {
				if got, want := r.Currency.Value, "UßD"; got != want {
					t.Errorf("Currency = %q, want %q", got, want)
				}
			},
		},
		{
			name: "an empty string is present, not missing",
			raw:  `{"seller_id":"","order_id":null}`,
			check: func(t *testing.T, r parse.Record) {
				want := []parse.Text{{State: parse.Present}, {State: parse.Null}, {State: parse.Missing}}
				if diff := cmp.Diff(want, []parse.Text{r.SellerID, r.OrderID, r.VendorTxnID}); diff != "" {
					t.Errorf("texts mismatch (-want +got):\n%s", diff)
				}
			},
		},
		{
			name: "a string member of the wrong JSON type is invalid",
			raw:  `{"vendor_txn_id":12345,"type":["charge"]}`,
			check: func(t *testing.T, r parse.Record) {
				if r.VendorTxnID.State != parse.Invalid || r.Type.State != parse.Invalid {
					t.Errorf("VendorTxnID, Type states = %v, %v, want invalid, invalid", r.VendorTxnID.State, r.Type.State)
				}
			},
		},
		{
			name: "escapes in strings and member names are resolved",
			raw:  `{"vendor\u005ftxn_id":"st_\u00e9\"x"}`,
			check: func(t *testing.T, r parse.Record) {
				if diff := cmp.Diff(parse.Text{State: parse.Present, Value: "st_é\"x"}, r.VendorTxnID); diff != "" {
					t.Errorf("VendorTxnID mismatch (-want +got):\n%s", diff)
				}
			},
		},
		{
			name: "member names are case-sensitive, so a differently cased name is extra",
			raw:  `{"Vendor_Txn_ID":"st_1"}`,
			check: func(t *testing.T, r parse.Record) {
				if r.VendorTxnID.State != parse.Missing {
					t.Errorf("VendorTxnID state = %v, want missing", r.VendorTxnID.State)
				}
				if diff := cmp.Diff(map[string]json.RawMessage{"Vendor_Txn_ID": json.RawMessage(`"st_1"`)}, r.Extra); diff != "" {
					t.Errorf("Extra mismatch (-want +got):\n%s", diff)
				}
			},
		},
		{
			name: "unknown members and metadata keep their exact bytes",
			raw:  "{\"metadata\" : { \"b\" :1.50e0,\n \"a\":[ ] } , \"risk_score\": 0.10 ,\"x\":{\"y\":null}}",
			check: func(t *testing.T, r parse.Record) {
				if got, want := string(r.Metadata), "{ \"b\" :1.50e0,\n \"a\":[ ] }"; got != want {
					t.Errorf("Metadata = %q, want %q", got, want)
				}
				want := map[string]json.RawMessage{"risk_score": json.RawMessage(`0.10`), "x": json.RawMessage(`{"y":null}`)}
				if diff := cmp.Diff(want, r.Extra); diff != "" {
					t.Errorf("Extra mismatch (-want +got):\n%s", diff)
				}
			},
		},
		{
			name: "absent metadata is nil and null metadata is null",
			raw:  `{"metadata":null}`,
			check: func(t *testing.T, r parse.Record) {
				if got := string(r.Metadata); got != "null" {
					t.Errorf("Metadata = %q, want null", got)
				}
			},
		},
		{
			name: "a timestamp with an offset is converted to UTC",
			raw:  `{"updated_at":"2025-03-14T12:00:00.5+02:00"}`,
			check: func(t *testing.T, r parse.Record) {
				want := parse.Timestamp{State: parse.Present, Value: ts(t, "2025-03-14T10:00:00.5Z")}
				if diff := cmp.Diff(want, r.UpdatedAt); diff != "" {
					t.Errorf("UpdatedAt mismatch (-want +got):\n%s", diff)
				}
				if r.UpdatedAt.Value.Location() != time.UTC {
					t.Errorf("UpdatedAt location = %v, want UTC", r.UpdatedAt.Value.Location())
				}
			},
		},
		{
			name: "a timestamp without a fraction is accepted",
			raw:  `{"created_at":"2025-03-14T12:00:00Z"}`,
			check: func(t *testing.T, r parse.Record) {
				if r.CreatedAt.State != parse.Present {
					t.Errorf("CreatedAt state = %v, want present", r.CreatedAt.State)
				}
			},
		},
		{
			name: "a malformed timestamp is invalid and a null one is null",
			raw:  `{"created_at":"2025-03-14 12:00:00Z","updated_at":1741953600,"settled_at":null}`,
			check: func(t *testing.T, r parse.Record) {
				got := []parse.State{r.CreatedAt.State, r.UpdatedAt.State, r.SettledAt.State}
				if diff := cmp.Diff([]parse.State{parse.Invalid, parse.Invalid, parse.Null}, got); diff != "" {
					t.Errorf("timestamp states mismatch (-want +got):\n%s", diff)
				}
			},
		},
		{
			name: "surrounding whitespace is allowed",
			raw:  " \n\t{\"type\":\"fee\"}\r\n ",
			check: func(t *testing.T, r parse.Record) {
				if r.Type.Value != "fee" {
					t.Errorf("Type = %q, want fee", r.Type.Value)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := parse.ParseRecord([]byte(tt.raw))
			if err != nil {
				t.Fatalf("ParseRecord(%s) error = %v", tt.raw, err)
			}
			tt.check(t, r)
		})
	}
}

func TestParseRecordRejects(t *testing.T) {
	deep := strings.Repeat("[", 10001) + strings.Repeat("]", 10001)
	tests := []struct {
		name string
		raw  string
		want string
	}{
		{name: "an empty input is not an object", raw: "", want: parse.ReasonRecordNotObject},
		{name: "an array is not an object", raw: `[{"vendor_txn_id":"st_1"}]`, want: parse.ReasonRecordNotObject},
		{name: "a string is not an object", raw: `"{}"`, want: parse.ReasonRecordNotObject},
		{name: "a truncated object is not an object", raw: `{"vendor_txn_id":"st_1","amount":"1`, want: parse.ReasonRecordNotObject},
		{name: "an object cut after a comma is not an object", raw: `{"vendor_txn_id":"st_1",`, want: parse.ReasonRecordNotObject},
		{name: "a trailing comma is not an object", raw: `{"a":1,}`, want: parse.ReasonRecordNotObject},
		{name: "a second value after the object is not an object", raw: `{"a":1} {"a":2}`, want: parse.ReasonRecordNotObject},
		{name: "trailing garbage is not an object", raw: `{"a":1}x`, want: parse.ReasonRecordNotObject},
		{name: "a control character in a string is not an object", raw: "{\"a\":\"x\ty\"}", want: parse.ReasonRecordNotObject},
		{name: "a bad escape is not an object", raw: `{"a":"\x"}`, want: parse.ReasonRecordNotObject},
		{name: "a number with a leading zero is not an object", raw: `{"amount":01.5}`, want: parse.ReasonRecordNotObject},
		{name: "NaN is not an object", raw: `{"amount":NaN}`, want: parse.ReasonRecordNotObject},
		{name: "a member value nested too deeply is not an object", raw: `{"metadata":` + deep + `}`, want: parse.ReasonRecordNotObject},
		{name: "a member named twice is a duplicate key", raw: `{"amount":"1.00","amount":"2.00"}`, want: parse.ReasonDuplicateKey},
		{name: "an unknown member named twice is a duplicate key", raw: `{"x":1,"x":1}`, want: parse.ReasonDuplicateKey},
		{name: "a name repeated through an escape is a duplicate key", raw: `{"vendor_txn_id":"a","vendor\u005Ftxn_id":"b"}`, want: parse.ReasonDuplicateKey},
		{name: "a syntax error wins over a duplicate key", raw: `{"x":1,"x":1`, want: parse.ReasonRecordNotObject},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse.ParseRecord([]byte(tt.raw))
			if got := parse.ReasonOf(err); got != tt.want {
				t.Errorf("ReasonOf(ParseRecord(%.60q)) = %q (err %v), want %q", tt.raw, got, err, tt.want)
			}
			_, _, err = parse.Key([]byte(tt.raw))
			if got := parse.ReasonOf(err); got != tt.want {
				t.Errorf("ReasonOf(Key(%.60q)) = %q (err %v), want %q", tt.raw, got, err, tt.want)
			}
		})
	}
}

func TestNestingLimitMatchesBetweenKeyAndParseRecord(t *testing.T) {
	for _, depth := range []int{9999, 10000, 10001} {
		raw := []byte(`{"vendor_txn_id":"st_1","updated_at":"2025-01-01T00:00:00Z","metadata":` +
			strings.Repeat("[", depth) + strings.Repeat("]", depth) + `}`)
		_, perr := parse.ParseRecord(raw)
		_, _, kerr := parse.Key(raw)
		if (perr == nil) != (kerr == nil) {
			t.Errorf("depth %d: ParseRecord error = %v, Key error = %v, want both nil or both non-nil", depth, perr, kerr)
		}
		if wantOK := depth <= 10000; (perr == nil) != wantOK {
			t.Errorf("depth %d: ParseRecord error = %v, want ok = %v", depth, perr, wantOK)
		}
	}
}

func TestParseTimestamp(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // RFC 3339 in UTC, or "" for an error
	}{
		{name: "microseconds in UTC are parsed", in: "2025-03-14T10:00:00.000002Z", want: "2025-03-14T10:00:00.000002Z"},
		{name: "nanoseconds are parsed", in: "2025-03-14T10:00:00.123456789Z", want: "2025-03-14T10:00:00.123456789Z"},
		{name: "no fraction is accepted", in: "2025-03-14T10:00:00Z", want: "2025-03-14T10:00:00Z"},
		{name: "a negative offset is converted to UTC", in: "2025-03-14T23:30:00-01:00", want: "2025-03-15T00:30:00Z"},
		{name: "ten fraction digits are rejected, not truncated", in: "2025-03-14T10:00:00.1234567891Z"},
		{name: "a comma fraction separator is rejected", in: "2025-03-14T10:00:00,5Z"},
		{name: "an empty fraction is rejected", in: "2025-03-14T10:00:00.Z"},
		{name: "a lower-case t is rejected", in: "2025-03-14t10:00:00Z"},
		{name: "a space separator is rejected", in: "2025-03-14 10:00:00Z"},
		{name: "a missing zone is rejected", in: "2025-03-14T10:00:00"},
		{name: "an offset of 24 hours is rejected", in: "2025-03-14T10:00:00+24:00"},
		{name: "an offset without a colon is rejected", in: "2025-03-14T10:00:00+0100"},
		{name: "the 30th of February is rejected", in: "2024-02-30T10:00:00Z"},
		{name: "a leap second is rejected", in: "2016-12-31T23:59:60Z"},
		{name: "a year beyond int64 nanoseconds is rejected", in: "2300-01-01T00:00:00Z"},
		{name: "a year before int64 nanoseconds is rejected", in: "1600-01-01T00:00:00Z"},
		{name: "an empty string is rejected", in: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parse.ParseTimestamp(tt.in)
			if tt.want == "" {
				if err == nil {
					t.Errorf("ParseTimestamp(%q) = %v, want an error", tt.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseTimestamp(%q) error = %v", tt.in, err)
			}
			if s := got.Format(time.RFC3339Nano); s != tt.want || got.Location() != time.UTC {
				t.Errorf("ParseTimestamp(%q) = %s (%v), want %s in UTC", tt.in, s, got.Location(), tt.want)
			}
		})
	}
}
