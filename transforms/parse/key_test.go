package parse_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/marketplace/settle/transforms/parse"
)

func TestKey(t *testing.T) {
	tests := []struct {
		name       string
		raw        []byte
		wantID     string
		wantNanos  int64
		wantReason string
	}{
		{
			name:      "the sample record yields its id and updated_at",
			raw:       readRecord(t),
			wantID:    "st_01HZX4K9M2Q7RVB3T8WJ5N6C1D",
			wantNanos: time.Date(2025, 3, 14, 11, 2, 17, 238462000, time.UTC).UnixNano(),
		},
		{
			name:      "an updated_at with an offset is compared in UTC",
			raw:       []byte(`{"updated_at":"2025-03-14T12:00:00+02:00","vendor_txn_id":"st_1"}`),
			wantID:    "st_1",
			wantNanos: time.Date(2025, 3, 14, 10, 0, 0, 0, time.UTC).UnixNano(),
		},
		{
			name:      "an escaped id is unescaped",
			raw:       []byte(`{"vendor_txn_id":"st_\u0031\/2","updated_at":"2025-03-14T10:00:00Z"}`),
			wantID:    "st_1/2",
			wantNanos: time.Date(2025, 3, 14, 10, 0, 0, 0, time.UTC).UnixNano(),
		},
		{
			name:      "an id of invalid UTF-8 is decoded as encoding/json does",
			raw:       []byte("{\"vendor_txn_id\":\"st_\xff\",\"updated_at\":\"2025-03-14T10:00:00Z\"}"),
			wantID:    "st_\uFFFD",
			wantNanos: time.Date(2025, 3, 14, 10, 0, 0, 0, time.UTC).UnixNano(),
		},
		{
			name:      "an id of exactly 64 characters is accepted",
			raw:       []byte(`{"vendor_txn_id":"` + strings.Repeat("é", 64) + `","updated_at":"2025-03-14T10:00:00Z"}`),
			wantID:    strings.Repeat("é", 64),
			wantNanos: time.Date(2025, 3, 14, 10, 0, 0, 0, time.UTC).UnixNano(),
		},
		{name: "a missing id is vendor_txn_id_missing", raw: []byte(`{"updated_at":"2025-03-14T10:00:00Z"}`), wantReason: parse.ReasonVendorTxnIDMissing},
		{name: "a null id is vendor_txn_id_missing", raw: []byte(`{"vendor_txn_id":null,"updated_at":"2025-03-14T10:00:00Z"}`), wantReason: parse.ReasonVendorTxnIDMissing},
		{name: "an empty id is vendor_txn_id_missing", raw: []byte(`{"vendor_txn_id":"","updated_at":"2025-03-14T10:00:00Z"}`), wantReason: parse.ReasonVendorTxnIDMissing},
		{name: "a numeric id is vendor_txn_id_missing", raw: []byte(`{"vendor_txn_id":17,"updated_at":"2025-03-14T10:00:00Z"}`), wantReason: parse.ReasonVendorTxnIDMissing},
		{name: "an id of 65 characters is vendor_txn_id_missing", raw: []byte(`{"vendor_txn_id":"` + strings.Repeat("a", 65) + `","updated_at":"2025-03-14T10:00:00Z"}`), wantReason: parse.ReasonVendorTxnIDMissing},
		{name: "a missing updated_at is updated_at_invalid", raw: []byte(`{"vendor_txn_id":"st_1"}`), wantReason: parse.ReasonUpdatedAtInvalid},
		{name: "a null updated_at is updated_at_invalid", raw: []byte(`{"vendor_txn_id":"st_1","updated_at":null}`), wantReason: parse.ReasonUpdatedAtInvalid},
		{name: "a unix-seconds updated_at is updated_at_invalid", raw: []byte(`{"vendor_txn_id":"st_1","updated_at":1741946400}`), wantReason: parse.ReasonUpdatedAtInvalid},
		{name: "a malformed updated_at is updated_at_invalid", raw: []byte(`{"vendor_txn_id":"st_1","updated_at":"yesterday"}`), wantReason: parse.ReasonUpdatedAtInvalid},
		{name: "a bad id wins over a bad updated_at", raw: []byte(`{"updated_at":"x"}`), wantReason: parse.ReasonVendorTxnIDMissing},
		{name: "a syntax error in metadata is record_not_object", raw: []byte(`{"vendor_txn_id":"st_1","updated_at":"2025-03-14T10:00:00Z","metadata":{"a":tru}}`), wantReason: parse.ReasonRecordNotObject},
		{name: "an id given twice is a duplicate key", raw: []byte(`{"vendor_txn_id":"st_1","updated_at":"2025-03-14T10:00:00Z","vendor_txn_id":"st_2"}`), wantReason: parse.ReasonDuplicateKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, nanos, err := parse.Key(tt.raw)
			if tt.wantReason != "" {
				if got := parse.ReasonOf(err); got != tt.wantReason {
					t.Fatalf("Key(%.80q) reason = %q (err %v), want %q", tt.raw, got, err, tt.wantReason)
				}
				return
			}
			if err != nil {
				t.Fatalf("Key(%.80q) error = %v", tt.raw, err)
			}
			if id != tt.wantID || nanos != tt.wantNanos {
				t.Errorf("Key(%.80q) = %q, %d, want %q, %d", tt.raw, id, nanos, tt.wantID, tt.wantNanos)
			}
		})
	}
}

func TestKeyErrorsMatchSentinels(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want error
	}{
		{name: "not an object", raw: `[]`, want: parse.ErrNotObject},
		{name: "duplicate member", raw: `{"a":1,"a":2}`, want: parse.ErrDuplicateKey},
		{name: "no id", raw: `{}`, want: parse.ErrVendorTxnID},
		{name: "no updated_at", raw: `{"vendor_txn_id":"x"}`, want: parse.ErrUpdatedAt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := parse.Key([]byte(tt.raw))
			if !errors.Is(err, tt.want) {
				t.Errorf("Key(%s) error = %v, want errors.Is %v", tt.raw, err, tt.want)
			}
		})
	}
}

// checkKeyAgrees is the differential property between the fast path and the
// full decoder: same acceptance, same reason, same values.
func checkKeyAgrees(t *testing.T, raw []byte) {
	t.Helper()
	rec, perr := parse.ParseRecord(raw)
	id, nanos, kerr := parse.Key(raw)

	// ParseRecord's record-level verdict agrees with encoding/json's.
	trimmed := strings.TrimLeft(string(raw), " \t\r\n")
	isObject := json.Valid(raw) && strings.HasPrefix(trimmed, "{")
	if got := parse.ReasonOf(perr) != parse.ReasonRecordNotObject; got != isObject {
		t.Fatalf("ParseRecord(%q) error = %v, but json.Valid object = %v", raw, perr, isObject)
	}

	var want string
	switch {
	case perr != nil:
		want = parse.ReasonOf(perr)
	case rec.VendorTxnID.State != parse.Present || !parse.ValidVendorTxnID(rec.VendorTxnID.Value):
		want = parse.ReasonVendorTxnIDMissing
	case rec.UpdatedAt.State != parse.Present:
		want = parse.ReasonUpdatedAtInvalid
	}
	if got := parse.ReasonOf(kerr); got != want {
		t.Fatalf("Key(%q) reason = %q (err %v), ParseRecord says %q", raw, got, kerr, want)
	}
	if kerr != nil {
		return
	}
	got := []any{id, nanos}
	wantVals := []any{rec.VendorTxnID.Value, rec.UpdatedAt.Value.UnixNano()}
	if diff := cmp.Diff(wantVals, got); diff != "" {
		t.Fatalf("Key(%q) disagrees with ParseRecord (-parse +key):\n%s", raw, diff)
	}
}

func fuzzSeeds(f *testing.F) {
	f.Helper()
	f.Add(readRecord(f))
	for _, s := range []string{
		`{"vendor_txn_id":"st_1","updated_at":"2025-03-14T10:00:00.000001Z","amount":12.5,"currency":"usd","x":[1,{"y":null}]}`,
		`{"vendor_txn_id":"st_1","updated_at":"2025-03-14T10:00:00Z","vendor_txn_id":"st_2"}`,
		`{"vendor\u005ftxn_id":"st_\u00e9","updated_at":"2025-03-14T12:00:00+02:00"}`,
		"{\"vendor_txn_id\":\"\xff\xfe\",\"updated_at\":\"2025-03-14T10:00:00Z\",\"\xff\":1,\"\xfe\":2}",
		`{"amount":null,"fee":"","metadata":null}`,
		`{"a":1,}`, `[]`, ``, `{"a":"\u12"}`, `{"a":-0.0e+1}`, `{"a":1.}`, ` {} `, `{"a":tru}`,
	} {
		f.Add([]byte(s))
	}
}

func FuzzKey(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		checkKeyAgrees(t, raw)
	})
}

func FuzzParseRecord(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		rec, err := parse.ParseRecord(raw)
		again, err2 := parse.ParseRecord(raw)
		if diff := cmp.Diff(rec, again, cmpDecimal); diff != "" || (err == nil) != (err2 == nil) {
			t.Fatalf("ParseRecord(%q) is not deterministic:\n%s", raw, diff)
		}
		if err != nil {
			if parse.ReasonOf(err) == "" {
				t.Fatalf("ParseRecord(%q) error %v carries no reason", raw, err)
			}
			return
		}
		if rec.Metadata != nil && !json.Valid(rec.Metadata) {
			t.Fatalf("Metadata %q is not valid JSON", rec.Metadata)
		}
		for k, v := range rec.Extra {
			if !json.Valid(v) {
				t.Fatalf("Extra[%q] = %q is not valid JSON", k, v)
			}
		}
		for _, n := range []parse.Number{rec.Amount, rec.Fee} {
			if n.State == parse.Present {
				if _, err := parse.ParseRecord([]byte(`{"amount":"` + n.Value.String() + `"}`)); err != nil {
					t.Fatalf("re-parsing amount %s: %v", n.Value, err)
				}
			}
		}
		if c := rec.Currency.Value; strings.ToUpper(c) != c && strings.ContainsAny(c, "abcdefghijklmnopqrstuvwxyz") {
			t.Fatalf("Currency %q is not upper-cased", c)
		}
		checkKeyAgrees(t, raw)
	})
}

func BenchmarkKey(b *testing.B) {
	raw := readRecord(b)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := parse.Key(raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseRecord(b *testing.B) {
	raw := readRecord(b)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parse.ParseRecord(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUnmarshalMap is the naive baseline: decoding the record into a
// map with encoding/json (UseNumber semantics aside).
func BenchmarkUnmarshalMap(b *testing.B) {
	raw := readRecord(b)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			b.Fatal(err)
		}
	}
}
