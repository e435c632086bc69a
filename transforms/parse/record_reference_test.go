package parse_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/marketplace/settle/testing/vendorsim"
	"github.com/marketplace/settle/transforms/decimal"
	"github.com/marketplace/settle/transforms/parse"
)

// parseRecordReference is ParseRecord as it was before the single-pass
// scanner (commit 8576d2b): encoding/json's Decoder with UseNumber, each
// member taken as a json.RawMessage. It is kept, with its helpers, as the
// reference FuzzParseRecordMatchesReference holds ParseRecord to; only the
// names changed (and unexported helpers of the package are re-stated here).
func parseRecordReference(raw []byte) (parse.Record, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	notObject := func() (parse.Record, error) {
		return parse.Record{}, &parse.ReasonError{Reason: parse.ReasonRecordNotObject, Err: parse.ErrNotObject}
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return notObject()
	}
	var (
		rec   parse.Record
		seen  = make(map[string]struct{}, 16)
		dup   bool
		value json.RawMessage
	)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return notObject()
		}
		name, ok := tok.(string)
		if !ok {
			return notObject()
		}
		value = nil
		if err := dec.Decode(&value); err != nil {
			return notObject()
		}
		if _, ok := seen[name]; ok {
			dup = true
		}
		seen[name] = struct{}{}
		refSet(&rec, name, value)
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return notObject()
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return notObject()
	}
	if dup {
		return parse.Record{}, &parse.ReasonError{Reason: parse.ReasonDuplicateKey, Err: parse.ErrDuplicateKey}
	}
	return rec, nil
}

// refSet is the old Record.set: it stores one member. value is a copy
// owned by the record.
func refSet(r *parse.Record, name string, value json.RawMessage) {
	switch name {
	case "vendor_txn_id":
		r.VendorTxnID = refText(value)
	case "order_id":
		r.OrderID = refText(value)
	case "seller_id":
		r.SellerID = refText(value)
	case "type":
		r.Type = refText(value)
	case "status":
		r.Status = refText(value)
	case "currency":
		r.Currency = refText(value)
		r.Currency.Value = refUpperASCII(r.Currency.Value)
	case "amount":
		r.Amount = refNumber(value)
	case "fee":
		r.Fee = refNumber(value)
	case "created_at":
		r.CreatedAt = refTimestamp(value)
	case "updated_at":
		r.UpdatedAt = refTimestamp(value)
	case "settled_at":
		r.SettledAt = refTimestamp(value)
	case "metadata":
		r.Metadata = value
	default:
		if r.Extra == nil {
			r.Extra = make(map[string]json.RawMessage)
		}
		r.Extra[name] = value
	}
}

func refIsNull(v json.RawMessage) bool { return string(v) == "null" }

func refText(v json.RawMessage) parse.Text {
	if refIsNull(v) {
		return parse.Text{State: parse.Null}
	}
	s, ok := refDecodeString(v)
	if !ok {
		return parse.Text{State: parse.Invalid}
	}
	return parse.Text{State: parse.Present, Value: s}
}

func refNumber(v json.RawMessage) parse.Number {
	if refIsNull(v) {
		return parse.Number{State: parse.Null}
	}
	if s, ok := refDecodeString(v); ok {
		d, err := decimal.Parse(s)
		if err != nil {
			return parse.Number{State: parse.Invalid}
		}
		return parse.Number{State: parse.Present, Value: d}
	}
	if len(v) > 0 && (v[0] == '-' || refIsDigit(v[0])) {
		d, err := decimal.FromJSONNumber(json.Number(v))
		if err != nil {
			return parse.Number{State: parse.Invalid, FromJSONNumber: true}
		}
		return parse.Number{State: parse.Present, Value: d, FromJSONNumber: true}
	}
	return parse.Number{State: parse.Invalid}
}

func refTimestamp(v json.RawMessage) parse.Timestamp {
	if refIsNull(v) {
		return parse.Timestamp{State: parse.Null}
	}
	s, ok := refDecodeString(v)
	if !ok {
		return parse.Timestamp{State: parse.Invalid}
	}
	t, ok := refParseTimestamp(s)
	if !ok {
		return parse.Timestamp{State: parse.Invalid}
	}
	return parse.Timestamp{State: parse.Present, Value: t}
}

// refUpperASCII upper-cases ASCII letters only, so no Unicode case mapping can
// turn an unknown code into a known one.
func refUpperASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if 'a' <= s[i] && s[i] <= 'z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'a' <= b[j] && b[j] <= 'z' {
					b[j] -= 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

func refDecodeString(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	content := raw[1 : len(raw)-1]
	if bytes.IndexByte(content, '\\') < 0 && utf8.Valid(content) {
		return string(content), true
	}
	var v string
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", false
	}
	return v, true
}

func refParseTimestamp(s string) (time.Time, bool) {
	t, err := parse.ParseTimestamp(s)
	return t, err == nil
}

func refIsDigit(c byte) bool { return '0' <= c && c <= '9' }

// cmpTime compares instants and locations, stricter than time.Time.Equal.
var cmpTime = cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) && a.Location() == b.Location() })

// checkMatchesReference is the differential property of the single-pass
// ParseRecord: for every input, the same Record and the same error as the
// encoding/json implementation it replaced.
func checkMatchesReference(t *testing.T, raw []byte) {
	t.Helper()
	want, wantErr := parseRecordReference(raw)
	got, gotErr := parse.ParseRecord(raw)
	if (gotErr == nil) != (wantErr == nil) || parse.ReasonOf(gotErr) != parse.ReasonOf(wantErr) {
		t.Fatalf("ParseRecord(%q) error = %v, reference error = %v", raw, gotErr, wantErr)
	}
	if gotErr != nil {
		if gotErr.Error() != wantErr.Error() || !errors.Is(gotErr, errors.Unwrap(wantErr)) {
			t.Fatalf("ParseRecord(%q) error = %v, reference error = %v", raw, gotErr, wantErr)
		}
	}
	if diff := cmp.Diff(want, got, cmpDecimal, cmpTime); diff != "" {
		t.Fatalf("ParseRecord(%q) differs from the reference (-reference +got):\n%s", raw, diff)
	}
}

// simulatorRecords returns records of a seeded vendor simulator with many
// defects (invalid and normalisable): up to perDefect records of each
// defect, clean records included.
func simulatorRecords(tb testing.TB, records, perDefect int) [][]byte {
	tb.Helper()
	from := time.Date(2025, 3, 14, 0, 0, 0, 0, time.UTC)
	to := from.Add(24 * time.Hour)
	faults := vendorsim.NoFaults()
	faults.Invalid, faults.Messy = 0.5, 0.3
	sim, err := vendorsim.New(vendorsim.Config{
		Seed: 20250314, Records: records, From: from, To: to, Faults: faults, MetadataBytes: 300,
		Now:    func() time.Time { return to.Add(time.Hour) },
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		tb.Fatalf("starting simulator: %v", err)
	}
	var out [][]byte
	seen := map[string]int{}
	for tr := range sim.TruthSeq(from, to, to.Add(time.Hour)) {
		if seen[tr.Defect] < perDefect {
			seen[tr.Defect]++
			out = append(out, tr.Raw)
		}
	}
	if len(seen) < 10 {
		tb.Fatalf("simulator gave %d kinds of defect (%v), want at least 10", len(seen), seen)
	}
	return out
}

// referenceSeeds are inputs aimed at the places where the single-pass
// scanner could part from encoding/json.
var referenceSeeds = []string{
	`{}`, ` {} `, "\t{\n}\r\n", `{"vendor_txn_id":"st_1"}`,
	// Every state of every kind of member.
	`{"vendor_txn_id":null,"order_id":17,"seller_id":"","type":["charge"],"status":{"a":1},"amount":true,"fee":false,"currency":null,"created_at":"2025-03-14T10:00:00Z","updated_at":null,"settled_at":5}`,
	`{"amount":"12.50","fee":"-0.00","currency":"usD","created_at":"2025-03-14T10:00:00.123456789+05:30","updated_at":"2025-03-14 10:00:00Z","settled_at":"2300-01-01T00:00:00Z"}`,
	`{"amount":-12.5e-3,"fee":0,"currency":"ußd"}`, `{"amount":1e999999,"fee":1E+2}`, `{"amount":"1e2","fee":"+1"}`,
	`{"amount":"007.50","fee":".5"}`, `{"amount":-0,"fee":-0.0e0}`, `{"amount":"` + strings.Repeat("9", 401) + `"}`,
	// Escapes and invalid UTF-8 in names and values.
	`{"vendor\u005ftxn_id":"st_\u00e9\"x","\u0063urrency":"\u0065ur"}`,
	`{"seller_id":"\ud83d\ude00","type":"\ud83d","status":"\ude00\ud83d","order_id":"\ud83d\u0041","currency":"\uDBFF\uDFFF"}`,
	`{"seller_id":"\b\f\n\r\t\/\\\"\u0000\u001f"}`,
	"{\"vendor_txn_id\":\"\xff\xfe\",\"type\":\"\xed\xa0\x80\",\"status\":\"\xc3\",\"\xff\":1,\"\xfe\":2}",
	"{\"x\xff\":1,\"x\\ufffd\":2}", "{\"\xef\xbf\xbd\":1,\"\xff\":2}",
	`{"metadata":{"a":"\ud800"},"r\u00e9":[1,"\n"]}`,
	// Duplicates, also after unescaping, among contract and unknown names.
	`{"amount":"1.00","amount":"2.00"}`, `{"x":1,"y":2,"x":3}`, `{"metadata":1,"metadata":1}`,
	`{"vendor_txn_id":"a","vendor\u005Ftxn_id":"b"}`, `{"Amount":1,"amount":1,"AMOUNT":1}`,
	`{"a0":0,"a1":1,"a2":2,"a3":3,"a4":4,"a5":5,"a6":6,"a7":7,"a8":8,"a9":9,"b0":0,"b1":1,"b2":2,"b3":3,"b4":4,"b5":5,"b6":6,"a3":7}`,
	`{"a0":0,"a1":1,"a2":2,"a3":3,"a4":4,"a5":5,"a6":6,"a7":7,"a8":8,"a9":9,"b0":0,"b1":1,"b2":2,"b3":3,"b4":4,"b5":5,"b6":6,"b7":7}`,
	`{"x":1,"x":1`, `{"x":1,"x":1} x`,
	// Exact bytes of metadata and unknown members, whitespace around them.
	"{\"metadata\" : { \"b\" :1.50e0,\n \"a\":[ ] } , \"risk_score\": 0.10 ,\"x\":{\"y\":null}}",
	`{"metadata":"","extra":""}`, `{"metadata":null}`, `{"metadata":[]}`,
	// Not objects.
	``, ` `, `[]`, `"{}"`, `null`, `1`, `{`, `}`, `{"a"}`, `{"a":}`, `{"a" 1}`, `{,"a":1}`, `{"a":1,}`,
	`{"a":1 "b":2}`, `{"a":1}{}`, `{"a":1}]`, `{"a":1}1`, `{"a":01}`, `{"a":1.}`, `{"a":.5}`, `{"a":-}`,
	`{"a":1e}`, `{"a":tru}`, `{"a":nul}`, `{"a":"\x"}`, `{"a":"\u12"}`, `{"a":"\u12g4"}`, "{\"a\":\"\x01\"}",
	"\xef\xbb\xbf{}", `{"a":[1,]}`, `{"a":{"b"}}`, `{a:1}`, `{'a':1}`, `{"a":NaN}`, `{"a":Infinity}`,
	`{"a":[` + strings.Repeat("[", 9999) + strings.Repeat("]", 9999) + `]}`,
	`{"a":[` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `]}`,
}

func referenceFuzzSeeds(f *testing.F) {
	f.Helper()
	fuzzSeeds(f)
	for _, s := range referenceSeeds {
		f.Add([]byte(s))
	}
	for _, raw := range simulatorRecords(f, 600, 3) {
		f.Add(raw)
	}
}

func FuzzParseRecordMatchesReference(f *testing.F) {
	referenceFuzzSeeds(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		checkMatchesReference(t, raw)
	})
}

func TestParseRecordMatchesReferenceOnSimulatorRecords(t *testing.T) {
	for _, raw := range simulatorRecords(t, 3000, 1<<30) {
		checkMatchesReference(t, raw)
	}
}

func TestParseRecordDoesNotAliasItsInput(t *testing.T) {
	raw := []byte(`{"currency":"usd","metadata":{"a":1},"x":[2],"y":"3"}`)
	rec, err := parse.ParseRecord(raw)
	if err != nil {
		t.Fatalf("ParseRecord(%s) error = %v", raw, err)
	}
	for i := range raw {
		raw[i] = ' '
	}
	got := []string{rec.Currency.Value, string(rec.Metadata), string(rec.Extra["x"]), string(rec.Extra["y"])}
	if diff := cmp.Diff([]string{"USD", `{"a":1}`, `[2]`, `"3"`}, got); diff != "" {
		t.Errorf("record after overwriting its input mismatch (-want +got):\n%s", diff)
	}
	// Appending to one raw member must not overwrite another.
	_ = append(rec.Metadata, "!!!!!!!!"...)
	if got, want := string(rec.Extra["x"]), `[2]`; got != want {
		t.Errorf("Extra[x] after appending to Metadata = %q, want %q", got, want)
	}
}

// BenchmarkParseRecordReference is the encoding/json implementation
// ParseRecord replaced, measured on the same record.
func BenchmarkParseRecordReference(b *testing.B) {
	raw := readRecord(b)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseRecordReference(raw); err != nil {
			b.Fatal(err)
		}
	}
}
