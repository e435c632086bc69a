package rawzone_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/marketplace/settle/io/rawzone"
)

func mustTime(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func samplePage(t testing.TB) rawzone.PageObject {
	t.Helper()
	return rawzone.PageObject{
		Source:        "settlements",
		WindowStart:   mustTime(t, "2024-05-01T23:00:00Z"),
		WindowEnd:     mustTime(t, "2024-05-02T00:00:00Z"),
		Page:          42,
		Chain:         1,
		RequestCursor: "c_41",
		Limit:         500,
		NextCursor:    "c_42",
		HasMore:       true,
		RequestID:     "req_abc",
		Status:        200,
		Attempts:      3,
		FetchedAt:     mustTime(t, "2024-05-02T00:11:12.123456789Z"),
		Records:       1,
		Body:          json.RawMessage(`{"data":[{"vendor_txn_id":"st_1","amount":"12.50","note":"<b>&</b>"}],"has_more":true,"next_cursor":"c_42"}`),
	}
}

func TestPageNameRoundTrip(t *testing.T) {
	cest := time.FixedZone("CEST", 2*3600)
	for _, tc := range []struct {
		name                  string
		source                string
		start, end            time.Time
		page                  int64
		wantName              string
		wantStart, wantEndUTC string
	}{
		{
			name:   "an hour window names its start date",
			source: "settlements", start: mustTime(t, "2024-05-01T10:00:00Z"), end: mustTime(t, "2024-05-01T11:00:00Z"), page: 0,
			wantName: "pages/settlements/date=2024-05-01/window=20240501T1000Z-20240501T1100Z/page-00000-",
		},
		{
			name:   "a window across midnight is filed under its start date",
			source: "settlements", start: mustTime(t, "2024-12-31T23:45:00Z"), end: mustTime(t, "2025-01-01T00:15:00Z"), page: 7,
			wantName: "pages/settlements/date=2024-12-31/window=20241231T2345Z-20250101T0015Z/page-00007-",
		},
		{
			name:   "bounds in another zone are named in UTC",
			source: "vendor-eu_2.x", start: time.Date(2024, 3, 1, 1, 30, 0, 0, cest), end: time.Date(2024, 3, 2, 1, 30, 0, 0, cest), page: 99999,
			wantName: "pages/vendor-eu_2.x/date=2024-02-29/window=20240229T2330Z-20240301T2330Z/page-99999-",
		},
		{
			name:   "a page number past five digits widens the field",
			source: "s", start: mustTime(t, "2024-05-01T00:00:00Z"), end: mustTime(t, "2024-05-02T00:00:00Z"), page: 1234567,
			wantName: "pages/s/date=2024-05-01/window=20240501T0000Z-20240502T0000Z/page-1234567-",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := rawzone.PageObject{Source: tc.source, WindowStart: tc.start, WindowEnd: tc.end, Page: tc.page, Body: json.RawMessage(`{"data":[]}`)}
			name, err := rawzone.PageName(p)
			if err != nil {
				t.Fatalf("PageName = %v", err)
			}
			if want := tc.wantName + rawzone.BodyHash(p.Body) + ".json.gz"; name != want {
				t.Errorf("PageName = %q, want %q", name, want)
			}
			if !strings.HasPrefix(name, rawzone.WindowPrefix(tc.source, tc.start, tc.end)) {
				t.Errorf("PageName %q is not under WindowPrefix %q", name, rawzone.WindowPrefix(tc.source, tc.start, tc.end))
			}
			if !strings.HasPrefix(name, rawzone.DatePrefix(tc.source, tc.start)) {
				t.Errorf("PageName %q is not under DatePrefix %q", name, rawzone.DatePrefix(tc.source, tc.start))
			}
			src, start, end, page, err := rawzone.ParsePageName(name)
			if err != nil {
				t.Fatalf("ParsePageName(%q) = %v", name, err)
			}
			if src != tc.source || !start.Equal(tc.start) || !end.Equal(tc.end) || page != tc.page {
				t.Errorf("ParsePageName(%q) = %q, %v, %v, %d; want %q, %v, %v, %d",
					name, src, start, end, page, tc.source, tc.start, tc.end, tc.page)
			}
			if err := rawzone.CheckName(name); err != nil {
				t.Errorf("CheckName(%q) = %v", name, err)
			}
		})
	}
}

func TestParsePageNameRejectsOtherNames(t *testing.T) {
	const good = "pages/s/date=2024-05-01/window=20240501T0000Z-20240501T0100Z/page-00001-0123456789abcdef.json.gz"
	if _, _, _, _, err := rawzone.ParsePageName(good); err != nil {
		t.Fatalf("ParsePageName(%q) = %v, want nil", good, err)
	}
	for _, tc := range []struct{ name, in string }{
		{"a dead letter", "deadletter/s/date=2024-05-01/window=20240501T0000Z-20240501T0100Z/1.json"},
		{"a missing date segment", "pages/s/window=20240501T0000Z-20240501T0100Z/page-00001-0123456789abcdef.json.gz"},
		{"a date that is not the window start's", "pages/s/date=2024-05-02/window=20240501T0000Z-20240501T0100Z/page-00001-0123456789abcdef.json.gz"},
		{"a window that ends before it starts", "pages/s/date=2024-05-01/window=20240501T0100Z-20240501T0000Z/page-00001-0123456789abcdef.json.gz"},
		{"an empty window", "pages/s/date=2024-05-01/window=20240501T0100Z-20240501T0100Z/page-00001-0123456789abcdef.json.gz"},
		{"an impossible minute", "pages/s/date=2024-05-01/window=20240501T0060Z-20240501T0100Z/page-00001-0123456789abcdef.json.gz"},
		{"a window without Z", "pages/s/date=2024-05-01/window=20240501T0000-20240501T0100/page-00001-0123456789abcdef.json.gz"},
		{"a four-digit page", "pages/s/date=2024-05-01/window=20240501T0000Z-20240501T0100Z/page-0001-0123456789abcdef.json.gz"},
		{"a page with extra leading zeros", "pages/s/date=2024-05-01/window=20240501T0000Z-20240501T0100Z/page-000001-0123456789abcdef.json.gz"},
		{"a page number that overflows", "pages/s/date=2024-05-01/window=20240501T0000Z-20240501T0100Z/page-9999999999999999999-0123456789abcdef.json.gz"},
		{"an upper-case hash", "pages/s/date=2024-05-01/window=20240501T0000Z-20240501T0100Z/page-00001-0123456789ABCDEF.json.gz"},
		{"a short hash", "pages/s/date=2024-05-01/window=20240501T0000Z-20240501T0100Z/page-00001-0123456789abcde.json.gz"},
		{"another extension", "pages/s/date=2024-05-01/window=20240501T0000Z-20240501T0100Z/page-00001-0123456789abcdef.json"},
		{"an extra directory", "pages/s/x/date=2024-05-01/window=20240501T0000Z-20240501T0100Z/page-00001-0123456789abcdef.json.gz"},
		{"a dot source", "pages/./date=2024-05-01/window=20240501T0000Z-20240501T0100Z/page-00001-0123456789abcdef.json.gz"},
		{"the empty string", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, _, _, err := rawzone.ParsePageName(tc.in)
			if !errors.Is(err, rawzone.ErrInvalidPage) {
				t.Errorf("ParsePageName(%q) = %v, want ErrInvalidPage", tc.in, err)
			}
		})
	}
}

func TestEncodePageIsDeterministic(t *testing.T) {
	p := samplePage(t)
	name1, data1, err := rawzone.EncodePage(p)
	if err != nil {
		t.Fatalf("EncodePage = %v", err)
	}
	// The same instants in another zone, with a monotonic reading, and a
	// body with surrounding whitespace encode to the same bytes.
	q := samplePage(t)
	zone := time.FixedZone("X", -7*3600)
	q.WindowStart, q.WindowEnd = q.WindowStart.In(zone), q.WindowEnd.In(zone)
	q.FetchedAt = q.FetchedAt.In(zone)
	q.Body = append(append([]byte(" \n"), q.Body...), "\r\n\t"...)
	name2, data2, err := rawzone.EncodePage(q)
	if err != nil {
		t.Fatalf("EncodePage = %v", err)
	}
	if name1 != name2 {
		t.Errorf("EncodePage names differ: %q vs %q", name1, name2)
	}
	if !bytes.Equal(data1, data2) {
		t.Errorf("EncodePage of the same page gave different bytes")
	}
	zr, err := gzip.NewReader(bytes.NewReader(data1))
	if err != nil {
		t.Fatal(err)
	}
	if zr.Name != "" || !zr.ModTime.IsZero() || zr.Comment != "" || zr.Extra != nil {
		t.Errorf("gzip header = %+v, want no name, time, comment or extra", zr.Header)
	}
	// A change to any field changes the bytes.
	q = samplePage(t)
	q.RequestID = "req_other"
	if _, data3, _ := rawzone.EncodePage(q); bytes.Equal(data1, data3) {
		t.Errorf("EncodePage ignored a changed request id")
	}
}

func TestEncodePageKeepsTheBodyVerbatimAndDecodesBack(t *testing.T) {
	p := samplePage(t)
	// Whitespace, key order, HTML characters and number spelling are the
	// vendor's and must survive: json.Marshal would change all of them.
	p.Body = json.RawMessage("{\"data\": [ {\"amount\": 12.500, \"z\":1, \"a\":\"<&>\\u00e9\"} ],\n \"has_more\": false}")
	name, data, err := rawzone.EncodePage(p)
	if err != nil {
		t.Fatalf("EncodePage = %v", err)
	}
	got, err := rawzone.DecodePage(data)
	if err != nil {
		t.Fatalf("DecodePage = %v", err)
	}
	if diff := cmp.Diff(p, got); diff != "" {
		t.Errorf("DecodePage(EncodePage(p)) mismatch (-want +got):\n%s", diff)
	}
	if !strings.Contains(name, "-"+rawzone.BodyHash(got.Body)+".json.gz") {
		t.Errorf("name %q does not carry the hash %s of the decoded body", name, rawzone.BodyHash(got.Body))
	}
	// Plain JSON (an object copied out by hand) decodes too.
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	got, err = rawzone.DecodePage(plain)
	if err != nil {
		t.Fatalf("DecodePage(plain JSON) = %v", err)
	}
	if diff := cmp.Diff(p, got); diff != "" {
		t.Errorf("DecodePage(plain JSON) mismatch (-want +got):\n%s", diff)
	}
}

func TestEncodedPageHoldsOnlyTheDocumentedFields(t *testing.T) {
	_, data, err := rawzone.EncodePage(samplePage(t))
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]json.RawMessage
	if err := json.NewDecoder(zr).Decode(&fields); err != nil {
		t.Fatal(err)
	}
	var got []string
	for k := range fields {
		got = append(got, k)
	}
	slices.Sort(got)
	want := []string{"attempts", "body", "chain", "fetched_at", "has_more", "limit", "next_cursor", "page", "records",
		"request_cursor", "request_id", "source", "status", "window_end", "window_start"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("page object keys mismatch (-want +got):\n%s", diff)
	}
}

func TestEncodePageRejectsInvalidPages(t *testing.T) {
	for _, tc := range []struct {
		name   string
		modify func(*rawzone.PageObject)
	}{
		{"a body that is not JSON", func(p *rawzone.PageObject) { p.Body = json.RawMessage(`{"data":[`) }},
		{"an empty body", func(p *rawzone.PageObject) { p.Body = nil }},
		{"an HTML error page as body", func(p *rawzone.PageObject) { p.Body = json.RawMessage(`<html>502</html>`) }},
		{"an empty source", func(p *rawzone.PageObject) { p.Source = "" }},
		{"a source with a slash", func(p *rawzone.PageObject) { p.Source = "a/b" }},
		{"a source starting with a dot", func(p *rawzone.PageObject) { p.Source = ".." }},
		{"a window that ends at its start", func(p *rawzone.PageObject) { p.WindowEnd = p.WindowStart }},
		{"a zero window", func(p *rawzone.PageObject) { p.WindowStart, p.WindowEnd = time.Time{}, time.Time{}.Add(time.Hour) }},
		{"a negative page", func(p *rawzone.PageObject) { p.Page = -1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := samplePage(t)
			tc.modify(&p)
			if _, _, err := rawzone.EncodePage(p); !errors.Is(err, rawzone.ErrInvalidPage) {
				t.Errorf("EncodePage = %v, want ErrInvalidPage", err)
			}
		})
	}
}

func gz(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func TestDecodePageRejectsCorruptObjects(t *testing.T) {
	_, good, err := rawzone.EncodePage(samplePage(t))
	if err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(good)
	flipped[len(flipped)-6] ^= 0xff // inside the CRC-32 trailer
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"no bytes", nil},
		{"a gzip magic alone", []byte{0x1f, 0x8b}},
		{"a truncated gzip stream", good[:len(good)/2]},
		{"a gzip stream missing its trailer", good[:len(good)-4]},
		{"a gzip stream with a bad checksum", flipped},
		{"JSON without a body", []byte(`{"source":"s","page":1}`)},
		{"JSON with a null body", []byte(`{"source":"s","body":null}`)},
		{"JSON with a wrongly typed field", []byte(`{"source":"s","page":"one","body":{}}`)},
		{"JSON with trailing garbage", []byte(`{"source":"s","body":{}} x`)},
		{"gzip'd text that is not JSON", gz(t, []byte("<html>oops</html>"))},
		{"a gzip bomb past the size limit", gz(t, bytes.Repeat([]byte(" "), 1<<20+1))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rawzone.SetMaxPageObject(t, 1<<20)
			if _, err := rawzone.DecodePage(tc.data); !errors.Is(err, rawzone.ErrInvalidPage) {
				t.Errorf("DecodePage = %v, want ErrInvalidPage", err)
			}
		})
	}
}

func FuzzDecodePage(f *testing.F) {
	_, good, err := rawzone.EncodePage(samplePage(f))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)-3])
	f.Add([]byte(`{"source":"s","window_start":"2024-05-01T00:00:00+02:00","window_end":"2024-05-01T01:00:00Z","body":{"data":[]}}`))
	f.Add([]byte(`{"body":"text"}`))
	f.Add([]byte(`{"body":[1,2,3],"page":-4}`))
	f.Add(gz(f, []byte(`{"body":{}}`)))
	f.Add([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff})
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := rawzone.DecodePage(data)
		if err != nil {
			if !errors.Is(err, rawzone.ErrInvalidPage) {
				t.Fatalf("DecodePage error %v does not wrap ErrInvalidPage", err)
			}
			return
		}
		if !json.Valid(p.Body) {
			t.Fatalf("DecodePage returned a body that is not JSON: %q", p.Body)
		}
		_, enc, err := rawzone.EncodePage(p)
		if err != nil {
			return // decodable but not a page we would write (bad source, window)
		}
		again, err := rawzone.DecodePage(enc)
		if err != nil {
			t.Fatalf("DecodePage(EncodePage(p)) = %v", err)
		}
		if diff := cmp.Diff(p, again); diff != "" {
			t.Fatalf("decode-encode-decode mismatch (-first +second):\n%s", diff)
		}
	})
}
