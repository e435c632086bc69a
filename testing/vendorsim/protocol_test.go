package vendorsim_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/marketplace/settle/testing/vendorsim"
)

// listed is a version as the tests compare it.
type listed struct {
	ID        string
	UpdatedAt time.Time
}

func listedOf(t *testing.T, raws []json.RawMessage) []listed {
	t.Helper()
	out := make([]listed, 0, len(raws))
	for _, raw := range raws {
		r := parseRecord(t, raw)
		out = append(out, listed{r.VendorTxnID, r.UpdatedAt})
	}
	return out
}

func listableOf(vs []vendorsim.Version) []listed {
	out := make([]listed, 0, len(vs))
	for _, v := range vs {
		out = append(out, listed{v.VendorTxnID, v.UpdatedAt})
	}
	return out
}

func TestChainListsEveryListableVersionOnceInOrder(t *testing.T) {
	s, clock := newSim(t, 800, vendorsim.Faults{Ties: 0.3, TieGroup: 25})
	for _, limit := range []int{1, 7, 100, 500} {
		t.Run(fmt.Sprintf("pages of %d", limit), func(t *testing.T) {
			var all []listed
			for _, w := range []([2]time.Time){{day0, day0.Add(3 * time.Hour)}, {day0.Add(3 * time.Hour), day1}} {
				res := walk(t, s, clock, w[0], w[1], limit, 10000)
				for _, p := range res.pages[:len(res.pages)-1] {
					if len(p.Data) != limit {
						t.Fatalf("a page before the last has %d records, want %d", len(p.Data), limit)
					}
				}
				got := listedOf(t, res.records())
				want := listableOf(s.Listable(w[0], w[1], clock.Now()))
				if diff := cmp.Diff(want, got); diff != "" {
					t.Fatalf("window [%s, %s) listed (-want +got):\n%s", w[0], w[1], diff)
				}
				all = append(all, got...)
			}
			if got, want := len(all), s.Versions(); got != want {
				t.Errorf("listed %d versions over the span, want all %d", got, want)
			}
			for i := 1; i < len(all); i++ {
				a, b := all[i-1], all[i]
				if b.UpdatedAt.Before(a.UpdatedAt) || (b.UpdatedAt.Equal(a.UpdatedAt) && b.ID <= a.ID) {
					t.Fatalf("record %d (%v) is not after record %d (%v)", i, b, i-1, a)
				}
			}
		})
	}
}

func TestTiesShareUpdatedAtToTheMicrosecond(t *testing.T) {
	s, clock := newSim(t, 2000, vendorsim.Faults{Ties: 0.5, TieGroup: 50})
	count := map[time.Time]int{}
	for _, v := range s.Listable(day0, day1, clock.Now()) {
		count[v.UpdatedAt]++
	}
	biggest := 0
	for _, n := range count {
		biggest = max(biggest, n)
	}
	if biggest < 20 {
		t.Errorf("largest group sharing one updated_at has %d versions, want at least 20", biggest)
	}
}

func TestBadRequestsAreRejected(t *testing.T) {
	s, clock := newSim(t, 200, vendorsim.NoFaults())
	first := get(t, s.Handler(), query(day0, day0.Add(time.Hour), 2, ""), nil)
	p, ok := decodePage(first)
	if !ok || !p.HasMore {
		t.Fatalf("first page: status %d, has_more %v, want a page with more", first.Code, p.HasMore)
	}
	cursor := *p.NextCursor
	hour := day0.Add(time.Hour)
	tests := []struct {
		name   string
		target string
	}{
		{"a request without a window", vendorsim.SettlementsPath},
		{"a request without updated_lt", vendorsim.SettlementsPath + "?updated_gte=2025-03-01T00:00:00Z"},
		{"a window start that is not RFC 3339", vendorsim.SettlementsPath + "?updated_gte=2025-03-01&updated_lt=2025-03-01T01:00:00Z"},
		{"a window end before its start", query(hour, day0, 0, "")},
		{"an empty window", query(day0, day0, 0, "")},
		{"a window over 24 hours", query(day0, day1.Add(time.Microsecond), 0, "")},
		{"a limit of zero", query(day0, hour, 0, "") + "&limit=0"},
		{"a limit over 500", query(day0, hour, 501, "")},
		{"a limit that is not a number", query(day0, hour, 0, "") + "&limit=ten"},
		{"an empty cursor", query(day0, hour, 2, "") + "&cursor="},
		{"a cursor not issued here", query(day0, hour, 2, "bm90IGEgY3Vyc29y")},
		{"a cursor with one byte changed", query(day0, hour, 2, flipByte(cursor))},
		{"a cursor with a different limit", query(day0, hour, 3, cursor)},
		{"a cursor with the default limit instead of 2", query(day0, hour, 0, cursor)},
		{"a cursor with a different window start", query(day0.Add(time.Second), hour, 2, cursor)},
		{"a cursor with a different window end", query(day0, hour.Add(time.Second), 2, cursor)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock.Advance(time.Second)
			rr := get(t, s.Handler(), tt.target, nil)
			if rr.Code != http.StatusBadRequest {
				t.Fatalf("status = %d, want 400; body %s", rr.Code, rr.Body)
			}
			if got, want := errorCode(t, rr.Body.Bytes()), vendorsim.CodeInvalidRequest; got != want {
				t.Errorf("error code = %q, want %q", got, want)
			}
		})
	}
	t.Run("the cursor itself still works", func(t *testing.T) {
		if rr := get(t, s.Handler(), query(day0, hour, 2, cursor), nil); rr.Code != http.StatusOK {
			t.Errorf("status = %d, want 200", rr.Code)
		}
	})
}

func flipByte(s string) string {
	b := []byte(s)
	i := len(b) / 2
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

func errorCode(t *testing.T, body []byte) string {
	t.Helper()
	var e errorBody
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body %q is not JSON: %v", body, err)
	}
	return e.Error.Code
}

func TestAuthorization(t *testing.T) {
	s, _ := newSim(t, 10, vendorsim.NoFaults())
	target := query(day0, day1, 0, "")
	tests := []struct {
		name   string
		header string
		want   int
	}{
		{"no Authorization header", "", http.StatusUnauthorized},
		{"a wrong token", "Bearer wrong", http.StatusUnauthorized},
		{"an empty bearer token", "Bearer ", http.StatusUnauthorized},
		{"another scheme", "Basic " + testToken, http.StatusUnauthorized},
		{"the right token", "Bearer " + testToken, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rr := get(t, s.Handler(), target, map[string]string{"Authorization": tt.header})
			if rr.Code != tt.want {
				t.Fatalf("status = %d, want %d", rr.Code, tt.want)
			}
			if tt.want == http.StatusUnauthorized {
				if got := errorCode(t, rr.Body.Bytes()); got != vendorsim.CodeUnauthorized {
					t.Errorf("error code = %q, want %q", got, vendorsim.CodeUnauthorized)
				}
				if strings.Contains(rr.Body.String(), testToken) {
					t.Errorf("error body %q contains the token", rr.Body)
				}
			}
		})
	}
}

func TestRevokedTokenGets403(t *testing.T) {
	s, _ := newSim(t, 10, vendorsim.NoFaults(), func(c *vendorsim.Config) { c.RevokeAfter = 2 })
	var got []int
	for range 4 {
		got = append(got, get(t, s.Handler(), query(day0, day1, 0, ""), nil).Code)
	}
	if diff := cmp.Diff([]int{200, 200, 403, 403}, got); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
}

func TestCursorExpiresAfterTTL(t *testing.T) {
	s, clock := newSim(t, 500, vendorsim.Faults{CursorTTL: 5 * time.Minute})
	target := query(day0, day1, 10, "")
	p, ok := decodePage(get(t, s.Handler(), target, nil))
	if !ok || !p.HasMore {
		t.Fatal("first page is not a page with more")
	}
	next := query(day0, day1, 10, *p.NextCursor)
	clock.Advance(5 * time.Minute)
	if rr := get(t, s.Handler(), next, nil); rr.Code != http.StatusOK {
		t.Fatalf("status at exactly the TTL = %d, want 200", rr.Code)
	}
	clock.Advance(time.Nanosecond)
	rr := get(t, s.Handler(), next, nil)
	if rr.Code != http.StatusGone {
		t.Fatalf("status after the TTL = %d, want 410", rr.Code)
	}
	if got := errorCode(t, rr.Body.Bytes()); got != vendorsim.CodeCursorExpired {
		t.Errorf("error code = %q, want %q", got, vendorsim.CodeCursorExpired)
	}
	if got := s.Stats().CursorsExpired; got != 1 {
		t.Errorf("Stats().CursorsExpired = %d, want 1", got)
	}
}

func TestEveryResponseCarriesRateLimitHeadersAndRequestID(t *testing.T) {
	s, _ := newSim(t, 10, vendorsim.NoFaults())
	tests := []struct {
		name   string
		target string
		header map[string]string
	}{
		{"a page", query(day0, day1, 0, ""), nil},
		{"a bad request", vendorsim.SettlementsPath, nil},
		{"an unauthorised request", query(day0, day1, 0, ""), map[string]string{"Authorization": ""}},
		{"an unknown path", "/v2/other", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rr := get(t, s.Handler(), tt.target, tt.header)
			for _, h := range []string{"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "X-Request-Id"} {
				if rr.Header().Get(h) == "" {
					t.Errorf("header %s is missing from a %d response", h, rr.Code)
				}
			}
			if got, want := rr.Header().Get("X-RateLimit-Limit"), "25"; got != want {
				t.Errorf("X-RateLimit-Limit = %q, want %q", got, want)
			}
		})
	}
}

func TestEnforcedRateLimitIsLowerThanAdvertised(t *testing.T) {
	s, clock := newSim(t, 10, vendorsim.Faults{RetryAfterFormat: vendorsim.RetryAfterFraction},
		func(c *vendorsim.Config) { c.RateLimit, c.Burst = 4, 2 })
	target := query(day0, day1, 0, "")
	var got []int
	for range 3 {
		got = append(got, get(t, s.Handler(), target, nil).Code)
	}
	if diff := cmp.Diff([]int{200, 200, 429}, got); diff != "" {
		t.Fatalf("statuses in one instant (-want +got):\n%s", diff)
	}
	rr := get(t, s.Handler(), target, nil)
	if got, want := rr.Header().Get("Retry-After"), "0.3"; got != want {
		t.Errorf("Retry-After = %q, want %q (a quarter second rounded up to a tenth)", got, want)
	}
	if got, want := rr.Header().Get("X-RateLimit-Limit"), "25"; got != want {
		t.Errorf("X-RateLimit-Limit = %q, want the documented %q", got, want)
	}
	clock.Advance(250 * time.Millisecond)
	if rr := get(t, s.Handler(), target, nil); rr.Code != http.StatusOK {
		t.Errorf("status after a quarter second = %d, want 200", rr.Code)
	}
	if got, want := s.Stats().Throttled, int64(2); got != want {
		t.Errorf("Stats().Throttled = %d, want %d", got, want)
	}
}

func TestGzipBodyDecodesToThePlainBody(t *testing.T) {
	s, _ := newSim(t, 300, vendorsim.NoFaults())
	target := query(day0, day1, 50, "")
	plain := get(t, s.Handler(), target, nil)
	zipped := get(t, s.Handler(), target, map[string]string{"Accept-Encoding": "br, gzip;q=0.8"})
	if got := zipped.Header().Get("Content-Encoding"); got != "gzip" {
		t.Fatalf("Content-Encoding = %q, want gzip", got)
	}
	if plain.Header().Get("Content-Encoding") != "" {
		t.Fatal("a request without Accept-Encoding got an encoded body")
	}
	zr, err := gzip.NewReader(zipped.Body)
	if err != nil {
		t.Fatalf("gzip.NewReader: %v", err)
	}
	unzipped, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("reading gzip body: %v", err)
	}
	if !bytes.Equal(unzipped, plain.Body.Bytes()) {
		t.Errorf("gzip body decodes to %d bytes that differ from the %d-byte plain body", len(unzipped), plain.Body.Len())
	}
	refused := get(t, s.Handler(), target, map[string]string{"Accept-Encoding": "gzip;q=0"})
	if refused.Header().Get("Content-Encoding") != "" {
		t.Error("gzip;q=0 got a gzip body")
	}
}

func TestServerOverTCP(t *testing.T) {
	s, base, err := vendorsim.Start(vendorsim.Config{Seed: 1, Records: 100, From: day0, To: day1, Token: testToken})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Fatalf("base URL %q is not on 127.0.0.1", base)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, base+query(day0, day1, 500, ""), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req) // the transport asks for gzip and decodes it
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	defer resp.Body.Close()
	var p pageBody
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
		t.Fatalf("decoding page: %v", err)
	}
	if !resp.Uncompressed {
		t.Error("the body was not gzip encoded on the wire")
	}
	if got, want := len(p.Data), s.Versions(); got != want {
		t.Errorf("records = %d, want %d", got, want)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

func TestUnknownPathAndMethod(t *testing.T) {
	s, _ := newSim(t, 10, vendorsim.NoFaults())
	if rr := get(t, s.Handler(), "/v1/other", nil); rr.Code != http.StatusNotFound {
		t.Errorf("unknown path: status = %d, want 404", rr.Code)
	}
	r, err := http.NewRequestWithContext(t.Context(), http.MethodPost, query(day0, day1, 0, ""), nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Authorization", "Bearer "+testToken)
	rr := httptest.NewRecorder()
	s.Handler().ServeHTTP(rr, r)
	if rr.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: status = %d, want 405", rr.Code)
	}
}

func TestLateVersionsAreListedOnlyAfterTheirLag(t *testing.T) {
	s, clock := newSim(t, 2000, vendorsim.Faults{Late: 1, MaxLag: 10 * time.Minute})
	now := day0.Add(12 * time.Hour)
	clock.Freeze(now)
	listable := s.Listable(day0, day1, now)
	for _, v := range listable {
		if v.VisibleAt.After(now) {
			t.Fatalf("Listable at %s includes %v, visible only at %s", now, v.VendorTxnID, v.VisibleAt)
		}
	}
	recent := 0
	for _, v := range s.Listable(day0, day1, day1.Add(time.Hour)) {
		if v.UpdatedAt.Before(now) && v.VisibleAt.After(now) {
			recent++
		}
	}
	if recent == 0 {
		t.Fatal("no version updated before now is still invisible at now; the lag is not applied")
	}
	var got []listed
	for _, w := range hours(day0, day1) {
		got = append(got, listedOf(t, walk(t, s, clock, w[0], w[1], 100, 1000).records())...)
	}
	if diff := cmp.Diff(listableOf(listable), got); diff != "" {
		t.Errorf("listed at %s (-want +got):\n%s", now, diff)
	}
}

func FuzzHandlerQuery(f *testing.F) {
	for _, q := range []string{
		"updated_gte=2025-03-01T00:00:00Z&updated_lt=2025-03-01T01:00:00Z",
		"updated_gte=2025-03-01T00:00:00Z&updated_lt=2025-03-01T01:00:00Z&limit=5&cursor=AQ",
		"updated_gte=2025-03-01T00:00:00.000001+02:00&updated_lt=2025-03-02T00:00:00Z&limit=500",
		"limit=%zz", "",
	} {
		f.Add(q)
	}
	s, err := vendorsim.New(vendorsim.Config{Seed: 1, Records: 200, From: day0, To: day1, Faults: vendorsim.AllFaults(),
		Now: func() time.Time { return day1 }})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, rawQuery string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.URL.Path, r.URL.RawQuery = vendorsim.SettlementsPath, rawQuery
		r.Header.Set("Authorization", "Bearer any")
		rr := httptest.NewRecorder()
		s.Handler().ServeHTTP(rr, r)
		if rr.Code < 200 || rr.Code > 504 || rr.Code == http.StatusUnauthorized {
			t.Errorf("query %q: status %d", rawQuery, rr.Code)
		}
		if rr.Code == http.StatusBadRequest && errorCode(t, rr.Body.Bytes()) != vendorsim.CodeInvalidRequest {
			t.Errorf("query %q: 400 with body %s", rawQuery, rr.Body)
		}
	})
}

func TestServeStopsWithItsContextAndNeverLogsTheToken(t *testing.T) {
	var logs syncBuffer
	s, err := vendorsim.New(vendorsim.Config{Seed: 1, Records: 10, From: day0, To: day1, Token: testToken,
		Faults: vendorsim.DefaultFaults(), Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, "127.0.0.1:0") }()
	for !strings.Contains(logs.String(), "listening") {
		runtime.Gosched()
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve after cancel = %v, want nil", err)
	}
	if strings.Contains(logs.String(), testToken) {
		t.Errorf("logs contain the token:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "addr=127.0.0.1:") {
		t.Errorf("logs do not name the address:\n%s", logs.String())
	}
}

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
