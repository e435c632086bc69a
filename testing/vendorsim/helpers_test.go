package vendorsim_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/marketplace/settle/testing/vendorsim"
)

const testToken = "secret-test-token"

var (
	day0 = time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	day1 = day0.Add(24 * time.Hour)
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct {
	mu     sync.Mutex
	t      time.Time
	frozen bool // Advance does nothing
}

func newClock(t time.Time) *fakeClock { return &fakeClock{t: t} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	if !c.frozen {
		c.t = c.t.Add(d)
	}
	c.mu.Unlock()
}

// Freeze stops the clock at t.
func (c *fakeClock) Freeze(t time.Time) {
	c.mu.Lock()
	c.t, c.frozen = t, true
	c.mu.Unlock()
}

// newSim builds a simulator over day0 read at a clock two days later.
func newSim(t *testing.T, records int, faults vendorsim.Faults, opts ...func(*vendorsim.Config)) (*vendorsim.Sim, *fakeClock) {
	t.Helper()
	clock := newClock(day1.Add(24 * time.Hour))
	cfg := vendorsim.Config{
		Seed: 42, Records: records, From: day0, To: day1, Token: testToken,
		Faults: faults, Now: clock.Now,
	}
	for _, o := range opts {
		o(&cfg)
	}
	s, err := vendorsim.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s, clock
}

func mustFaults(t *testing.T, spec string) vendorsim.Faults {
	t.Helper()
	f, err := vendorsim.ParseFaults(spec)
	if err != nil {
		t.Fatalf("ParseFaults(%q): %v", spec, err)
	}
	return f
}

func query(gte, lt time.Time, limit int, cursor string) string {
	q := url.Values{}
	q.Set("updated_gte", gte.Format(time.RFC3339Nano))
	q.Set("updated_lt", lt.Format(time.RFC3339Nano))
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	return vendorsim.SettlementsPath + "?" + q.Encode()
}

// get serves one request in process and returns the recorded response.
func get(t *testing.T, h http.Handler, target string, header map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequestWithContext(t.Context(), http.MethodGet, target, nil)
	r.Header.Set("Authorization", "Bearer "+testToken)
	for k, v := range header {
		if v == "" {
			r.Header.Del(k)
			continue
		}
		r.Header.Set(k, v)
	}
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, r)
	return rr
}

type pageBody struct {
	Data       []json.RawMessage `json:"data"`
	HasMore    bool              `json:"has_more"`
	NextCursor *string           `json:"next_cursor"`
}

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// decodePage returns the page of a response, or false when a careful client
// must retry it.
func decodePage(rr *httptest.ResponseRecorder) (pageBody, bool) {
	if rr.Code != http.StatusOK {
		return pageBody{}, false
	}
	body := rr.Body.Bytes()
	if rr.Header().Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return pageBody{}, false
		}
		if body, err = io.ReadAll(zr); err != nil {
			return pageBody{}, false
		}
	}
	if n, err := strconv.Atoi(rr.Header().Get("Content-Length")); err == nil && n != rr.Body.Len() {
		return pageBody{}, false
	}
	var p pageBody
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil || p.Data == nil || dec.More() {
		return pageBody{}, false
	}
	if p.HasMore != (p.NextCursor != nil) {
		return pageBody{}, false
	}
	return p, true
}

// retryAfter parses a Retry-After value the way a lenient client does.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil && f >= 0 && !math.IsInf(f, 0) {
		return time.Duration(f * float64(time.Second)), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(0, t.Sub(now)), true
	}
	return 0, false
}

// walkResult is what a careful client got from one window.
type walkResult struct {
	pages    []pageBody
	requests int
	restarts int
}

func (w walkResult) records() []json.RawMessage {
	var out []json.RawMessage
	for _, p := range w.pages {
		out = append(out, p.Data...)
	}
	return out
}

// walk pages through one window like a careful client: it retries every
// transient failure, waits on the fake clock as Retry-After says (1 s
// otherwise), paces itself at the documented rate and restarts the chain on
// 410. It fails the test on a 4xx it must not retry or after maxRequests.
func walk(t *testing.T, s *vendorsim.Sim, clock *fakeClock, gte, lt time.Time, limit, maxRequests int) walkResult {
	t.Helper()
	var res walkResult
	cursor := ""
	header := map[string]string{"Accept-Encoding": "gzip"}
	for res.requests < maxRequests {
		res.requests++
		clock.Advance(time.Second / vendorsim.DocumentedRateLimit)
		rr := get(t, s.Handler(), query(gte, lt, limit, cursor), header)
		switch {
		case rr.Code == http.StatusGone:
			cursor, res.pages = "", nil
			res.restarts++
			continue
		case rr.Code == http.StatusTooManyRequests:
			d, ok := retryAfter(rr.Header().Get("Retry-After"), clock.Now())
			if !ok {
				d = time.Second
			}
			clock.Advance(d)
			continue
		case rr.Code >= 400 && rr.Code < 500:
			t.Fatalf("GET %s: status %d: %s", query(gte, lt, limit, cursor), rr.Code, rr.Body)
		}
		p, ok := decodePage(rr)
		if !ok {
			clock.Advance(time.Second)
			continue
		}
		res.pages = append(res.pages, p)
		if !p.HasMore {
			return res
		}
		cursor = *p.NextCursor
	}
	t.Fatalf("window [%s, %s) not done after %d requests", gte, lt, maxRequests)
	return res
}

// wireRecord is the part of a listed record the tests look at.
type wireRecord struct {
	VendorTxnID string          `json:"vendor_txn_id"`
	UpdatedAt   time.Time       `json:"updated_at"`
	Amount      json.RawMessage `json:"amount"`
}

func parseRecord(t *testing.T, raw json.RawMessage) wireRecord {
	t.Helper()
	var r wireRecord
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("decoding record %s: %v", raw, err)
	}
	return r
}

// hours splits [from, to) into hourly windows.
func hours(from, to time.Time) [][2]time.Time {
	var ws [][2]time.Time
	for t := from; t.Before(to); t = t.Add(time.Hour) {
		ws = append(ws, [2]time.Time{t, earliest(to, t.Add(time.Hour))})
	}
	return ws
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
