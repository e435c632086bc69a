package vendorapi_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/marketplace/settle/io/vendorapi"
)

// fixtures returns the bodies under testdata/vendorapi by file name.
func fixtures(t testing.TB) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "vendorapi", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatal("no fixtures in testdata/vendorapi")
	}
	out := make(map[string][]byte, len(paths))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(p)] = b
	}
	return out
}

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, ok := fixtures(t)[name]
	if !ok {
		t.Fatalf("no fixture %s", name)
	}
	return b
}

// envSummary is what a test checks of an Envelope besides the raw records.
type envSummary struct {
	Records    int
	HasMore    bool
	NextCursor string
}

func summarize(e vendorapi.Envelope) envSummary {
	return envSummary{Records: len(e.Records), HasMore: e.HasMore, NextCursor: e.NextCursor}
}

// TestParsePageFixtures parses every fixture: page_* must parse to the
// summary below, bad_* and error_* must be refused as malformed pages.
func TestParsePageFixtures(t *testing.T) {
	want := map[string]envSummary{
		"page_first.json":                  {Records: 3, HasMore: true, NextCursor: "cur_eyJwIjoyfQ"},
		"page_last.json":                   {Records: 1},
		"page_empty_has_more.json":         {HasMore: true, NextCursor: "cur_empty_but_more"},
		"page_empty_last.json":             {},
		"page_odd_records.json":            {Records: 5, HasMore: true, NextCursor: "cur_3"},
		"page_last_with_stale_cursor.json": {},
	}
	for name, body := range fixtures(t) {
		t.Run(name, func(t *testing.T) {
			env, err := vendorapi.ParsePage(body)
			if strings.HasPrefix(name, "page_") {
				w, ok := want[name]
				if !ok {
					t.Fatalf("fixture %s has no expectation in this test", name)
				}
				if err != nil {
					t.Fatalf("ParsePage(%s) error = %v, want nil", name, err)
				}
				if diff := cmp.Diff(w, summarize(env)); diff != "" {
					t.Errorf("ParsePage(%s) mismatch (-want +got):\n%s", name, diff)
				}
				if env.Records == nil {
					t.Errorf("ParsePage(%s).Records = nil, want a non-nil slice", name)
				}
				return
			}
			if err == nil {
				t.Fatalf("ParsePage(%s) = %+v, want an error", name, summarize(env))
			}
			if !errors.Is(err, vendorapi.ErrMalformedPage) {
				t.Errorf("ParsePage(%s) error = %v, want one wrapping ErrMalformedPage", name, err)
			}
			if got := vendorapi.Retryable(err); !got {
				t.Errorf("Retryable(%v) = %v, want true", err, got)
			}
		})
	}
}

func TestParsePageKeepsRecordsByteForByte(t *testing.T) {
	env, err := vendorapi.ParsePage(fixture(t, "page_odd_records.json"))
	if err != nil {
		t.Fatal(err)
	}
	got := make([]string, len(env.Records))
	for i, r := range env.Records {
		got[i] = string(r)
	}
	want := []string{
		`{"vendor_txn_id": "st_0005", "amount": 12.345, "fee": null, "currency": "eur", "updated_at": "2025-03-01T12:00:00Z", "extra_field": [1, 2]}`,
		`{"vendor_txn_id": "st_0005", "amount": "12.35", "currency": "XXX", "updated_at": "2025-03-01T12:00:00Z"}`,
		`{"seller_id": "sel_missing_id"}`,
		`null`,
		`"not an object"`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("records mismatch (-want +got):\n%s", diff)
	}
}

func TestParsePageErrorObjectIsAStatusError(t *testing.T) {
	tests := []struct {
		name        string
		body        string
		wantCode    string
		wantMessage string
		wantLimited bool
	}{
		{"an internal error object is a transient 200 error", `{"error":{"code":"internal","message":"upstream timeout"}}`, "internal", "upstream timeout", false},
		{"a rate_limited error object is a rate-limit signal", `{"error":{"code":"rate_limited","message":"slow down"}}`, "rate_limited", "slow down", true},
		{"a bare string error says too many requests", `{"error":"Too Many Requests"}`, "", "Too Many Requests", true},
		{"an error next to data still is an error", `{"data":[],"has_more":false,"next_cursor":null,"error":{"code":"internal"}}`, "internal", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := vendorapi.ParsePage([]byte(tt.body))
			se, ok := errors.AsType[*vendorapi.StatusError](err)
			if !ok {
				t.Fatalf("ParsePage(%s) error = %v, want a *StatusError", tt.body, err)
			}
			got := vendorapi.StatusError{Code: se.Code, ErrCode: se.ErrCode, Message: se.Message, RateLimited: se.RateLimited}
			want := vendorapi.StatusError{Code: 200, ErrCode: tt.wantCode, Message: tt.wantMessage, RateLimited: tt.wantLimited}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("StatusError mismatch (-want +got):\n%s", diff)
			}
			if !errors.Is(err, vendorapi.ErrMalformedPage) {
				t.Errorf("errors.Is(%v, ErrMalformedPage) = false, want true", err)
			}
		})
	}
}

func TestParsePageRefusesBodiesThatAreNotOnePage(t *testing.T) {
	tests := []struct {
		name string
		body string
	}{
		{"an empty body", ``},
		{"a JSON null", `null`},
		{"an empty object", `{}`},
		{"a number", `42`},
		{"an HTML page", `<html><body><h1>502 Bad Gateway</h1></body></html>`},
		{"a body cut inside a record", `{"data":[{"vendor_txn_id":"st_1"`},
		{"a body cut after has_more", `{"data":[],"has_more":true`},
		{"has_more null", `{"data":[],"has_more":null,"next_cursor":null}`},
		{"has_more as a number", `{"data":[],"has_more":1,"next_cursor":"c"}`},
		{"a next_cursor object", `{"data":[],"has_more":true,"next_cursor":{"c":1}}`},
		{"two objects", `{"data":[],"has_more":false}{"data":[],"has_more":false}`},
		{"field names in another case", `{"DATA":[],"Has_More":false,"next_cursor":null}`},
		{"an error key in another case is not data", `{"Error":{"code":"internal"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, err := vendorapi.ParsePage([]byte(tt.body))
			if !errors.Is(err, vendorapi.ErrMalformedPage) {
				t.Errorf("ParsePage(%q) = %+v, %v; want an error wrapping ErrMalformedPage", tt.body, summarize(env), err)
			}
		})
	}
}

// FuzzParsePage checks ParsePage's promises on any input: no panic; an error
// is always a retryable malformed page with a zero Envelope; a success holds
// valid JSON records, a cursor exactly when the chain goes on, and survives a
// re-encoding unchanged.
func FuzzParsePage(f *testing.F) {
	for _, b := range fixtures(f) {
		f.Add(b)
	}
	f.Add([]byte(`{"data":[],"has_more":false,"next_cursor":null}`))
	f.Add([]byte(`{"data":[1,"a",{},[]],"has_more":true,"next_cursor":"x"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		env, err := vendorapi.ParsePage(body)
		if err != nil {
			if !errors.Is(err, vendorapi.ErrMalformedPage) || !vendorapi.Retryable(err) {
				t.Fatalf("ParsePage(%q) error = %v, want a retryable ErrMalformedPage", body, err)
			}
			if env.Records != nil || env.HasMore || env.NextCursor != "" {
				t.Fatalf("ParsePage(%q) returned %+v with error %v, want a zero Envelope", body, env, err)
			}
			return
		}
		if !json.Valid(body) {
			t.Fatalf("ParsePage accepted invalid JSON %q", body)
		}
		if env.Records == nil {
			t.Fatalf("ParsePage(%q).Records = nil", body)
		}
		for i, r := range env.Records {
			if !json.Valid(r) {
				t.Fatalf("record %d %q is not valid JSON", i, r)
			}
		}
		if env.HasMore != (env.NextCursor != "") {
			t.Fatalf("ParsePage(%q) = HasMore %v with NextCursor %q", body, env.HasMore, env.NextCursor)
		}
		type wire struct {
			Data       []json.RawMessage `json:"data"`
			HasMore    bool              `json:"has_more"`
			NextCursor *string           `json:"next_cursor"`
		}
		w := wire{Data: env.Records, HasMore: env.HasMore}
		if env.HasMore {
			w.NextCursor = &env.NextCursor
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(w); err != nil {
			t.Fatalf("re-encoding %+v: %v", env, err)
		}
		again := buf.Bytes()
		env2, err := vendorapi.ParsePage(again)
		if err != nil {
			t.Fatalf("ParsePage(re-encoded %q) error = %v", again, err)
		}
		if diff := cmp.Diff(compactEnv(t, env), compactEnv(t, env2)); diff != "" {
			t.Fatalf("re-encoded page differs (-first +second):\n%s", diff)
		}
	})
}

func compactEnv(t *testing.T, e vendorapi.Envelope) vendorapi.Envelope {
	t.Helper()
	out := e
	out.Records = make([]json.RawMessage, len(e.Records))
	for i, r := range e.Records {
		var b bytes.Buffer
		if err := json.Compact(&b, r); err != nil {
			t.Fatalf("compacting record %d: %v", i, err)
		}
		out.Records[i] = b.Bytes()
	}
	return out
}

func TestWindowValidate(t *testing.T) {
	t0 := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		w       vendorapi.Window
		wantErr bool
	}{
		{"an hour is fine", vendorapi.Window{Start: t0, End: t0.Add(time.Hour)}, false},
		{"exactly 24 hours is fine", vendorapi.Window{Start: t0, End: t0.Add(24 * time.Hour)}, false},
		{"one nanosecond over 24 hours is refused", vendorapi.Window{Start: t0, End: t0.Add(24*time.Hour + 1)}, true},
		{"an empty window is refused", vendorapi.Window{Start: t0, End: t0}, true},
		{"an end before the start is refused", vendorapi.Window{Start: t0, End: t0.Add(-time.Minute)}, true},
		{"a zero start is refused", vendorapi.Window{End: t0}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.w.Validate()
			if (err != nil) != tt.wantErr {
				t.Fatalf("Validate(%s) = %v, want error %v", tt.w, err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, vendorapi.ErrBadRequest) {
				t.Errorf("Validate(%s) = %v, want it to wrap ErrBadRequest", tt.w, err)
			}
		})
	}
}

func TestRequestQueryUsesRFC3339InUTC(t *testing.T) {
	cet := time.FixedZone("CET", 3600)
	r := vendorapi.Request{
		Window: vendorapi.Window{
			Start: time.Date(2025, 3, 1, 1, 0, 0, 0, cet),
			End:   time.Date(2025, 3, 1, 1, 30, 0, 500_000_000, cet),
		},
		Cursor: "cur/+=?&",
		Limit:  500,
	}
	got := r.Query()
	want := map[string][]string{
		"updated_gte": {"2025-03-01T00:00:00Z"},
		"updated_lt":  {"2025-03-01T00:30:00.5Z"},
		"limit":       {"500"},
		"cursor":      {"cur/+=?&"},
	}
	if diff := cmp.Diff(want, map[string][]string(got)); diff != "" {
		t.Errorf("Query() mismatch (-want +got):\n%s", diff)
	}
	if got, want := r.Window.String(), "2025-03-01T00:00:00Z_2025-03-01T00:30:00.5Z"; got != want {
		t.Errorf("Window.String() = %q, want %q", got, want)
	}
	first := vendorapi.Request{Window: r.Window}
	if q := first.Query(); q.Has("limit") || q.Has("cursor") {
		t.Errorf("Query() of a first page with the default limit = %v, want no limit and no cursor", q)
	}
}

func TestRequestValidateLimit(t *testing.T) {
	w := vendorapi.Window{Start: time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2025, 3, 1, 1, 0, 0, 0, time.UTC)}
	for _, tt := range []struct {
		limit   int
		wantErr bool
	}{{0, false}, {1, false}, {500, false}, {501, true}, {-1, true}} {
		err := vendorapi.Request{Window: w, Limit: tt.limit}.Validate()
		if (err != nil) != tt.wantErr || (err != nil && !errors.Is(err, vendorapi.ErrBadRequest)) {
			t.Errorf("Request{Limit: %d}.Validate() = %v, want error %v wrapping ErrBadRequest", tt.limit, err, tt.wantErr)
		}
	}
}
