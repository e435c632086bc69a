package vendorsim_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/marketplace/settle/testing/vendorsim"
)

// TestEveryRequestFaultIsObservable turns on one knob at a time, always
// firing, and checks the first response shows it.
func TestEveryRequestFaultIsObservable(t *testing.T) {
	isJSONError := func(code, msg string) func(*testing.T, *httptest.ResponseRecorder) {
		return func(t *testing.T, rr *httptest.ResponseRecorder) {
			t.Helper()
			if got := errorCode(t, rr.Body.Bytes()); got != code {
				t.Errorf("error code = %q, want %q", got, code)
			}
			if msg != "" && !strings.Contains(rr.Body.String(), msg) {
				t.Errorf("body %s does not say %q", rr.Body, msg)
			}
		}
	}
	retryAfterIs := func(want string) func(*testing.T, *httptest.ResponseRecorder) {
		return func(t *testing.T, rr *httptest.ResponseRecorder) {
			t.Helper()
			if got := rr.Header().Get("Retry-After"); got != want {
				t.Errorf("Retry-After = %q, want %q", got, want)
			}
		}
	}
	notAPage := func(t *testing.T, rr *httptest.ResponseRecorder) {
		t.Helper()
		if _, ok := decodePage(rr); ok {
			t.Errorf("body %.80s… decodes as a page", rr.Body)
		}
	}
	tests := []struct {
		name     string
		spec     string
		statuses []int
		check    func(*testing.T, *httptest.ResponseRecorder)
	}{
		{"rate429 answers 429 with delta seconds", "rate429=1,retryafter=2s,retryformat=delta",
			[]int{429}, retryAfterIs("2")},
		{"rate429 answers 429 with an HTTP-date", "rate429=1,retryafter=2s,retryformat=date",
			[]int{429}, retryAfterIs("Mon, 03 Mar 2025 00:00:02 GMT")},
		{"rate429 answers 429 with a fractional delta", "rate429=1,retryafter=2s,retryformat=fraction",
			[]int{429}, retryAfterIs("2.5")},
		{"rate429 answers 429 without Retry-After", "rate429=1,retryformat=none",
			[]int{429}, retryAfterIs("")},
		{"err5xx answers a JSON 5xx", "err5xx=1",
			[]int{500, 502, 503, 504}, isJSONError(vendorsim.CodeInternal, "")},
		{"err5xx with html answers an HTML 5xx", "err5xx=1,html=1",
			[]int{500, 502, 503, 504}, func(t *testing.T, rr *httptest.ResponseRecorder) {
				if !strings.HasPrefix(rr.Header().Get("Content-Type"), "text/html") || !strings.Contains(rr.Body.String(), "<html>") {
					t.Errorf("body %q (%s) is not HTML", rr.Body, rr.Header().Get("Content-Type"))
				}
			}},
		{"busy5xx reports rate limiting as a 5xx", "busy5xx=1",
			[]int{500, 503}, isJSONError(vendorsim.CodeInternal, "too many requests")},
		{"err200 answers 200 with an error object", "err200=1",
			[]int{200}, isJSONError(vendorsim.CodeInternal, "")},
		{"badjson answers 200 with invalid JSON", "badjson=1",
			[]int{200}, func(t *testing.T, rr *httptest.ResponseRecorder) {
				if json.Valid(rr.Body.Bytes()) {
					t.Errorf("body %.80s… is valid JSON", rr.Body)
				}
			}},
		{"truncate cuts a 200 body short", "truncate=1", []int{200}, notAPage},
		{"reset cuts the body short without a connection to reset", "reset=1", []int{200}, notAPage},
		{"poison fails with a 5xx", "poison=1", []int{500, 502, 503, 504}, nil},
		{"sticky fails with a 503 at first", "sticky=1,stickyfor=30s", []int{503}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, clock := newSim(t, 50, mustFaults(t, tt.spec))
			clock.Freeze(time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC))
			for _, gz := range []string{"", "gzip"} {
				rr := get(t, s.Handler(), query(day0, day1, 10, ""), map[string]string{"Accept-Encoding": gz})
				if !containsInt(tt.statuses, rr.Code) {
					t.Fatalf("status = %d, want one of %v", rr.Code, tt.statuses)
				}
				if tt.check != nil {
					tt.check(t, rr)
				}
			}
		})
	}
}

func containsInt(xs []int, x int) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

func TestFaultsFireAtTheirRate(t *testing.T) {
	s, clock := newSim(t, 50, mustFaults(t, "rate429=0.2,err5xx=0.1"))
	var n429, n5xx int
	const requests = 4000
	for range requests {
		clock.Advance(time.Millisecond)
		switch rr := get(t, s.Handler(), query(day0, day1, 10, ""), nil); {
		case rr.Code == 429:
			n429++
		case rr.Code >= 500:
			n5xx++
		}
	}
	// 429 is drawn first, so 5xx fires on 10% of the other 80%.
	if n429 < 700 || n429 > 900 {
		t.Errorf("429s = %d of %d, want about 800", n429, requests)
	}
	if n5xx < 250 || n5xx > 390 {
		t.Errorf("5xx = %d of %d, want about 320", n5xx, requests)
	}
	st := s.Stats()
	if st.RateLimited != int64(n429) || st.ServerErrors != int64(n5xx) || st.Requests != requests {
		t.Errorf("Stats() = %d requests, %d 429, %d 5xx; want %d, %d, %d",
			st.Requests, st.RateLimited, st.ServerErrors, requests, n429, n5xx)
	}
}

func TestResetClosesTheConnectionMidBody(t *testing.T) {
	s, base, err := vendorsim.Start(vendorsim.Config{
		Seed: 3, Records: 500, From: day0, To: day1, Token: testToken, Faults: mustFaults(t, "reset=1"),
	})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, base+query(day0, day1, 500, ""), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("reading the body: err = %v after %d of %d bytes, want an unexpected EOF or a reset",
			err, len(body), resp.ContentLength)
	}
	if got := s.Stats().Resets; got != 1 {
		t.Errorf("Stats().Resets = %d, want 1", got)
	}
}

func TestSlowResponsesWaitTheDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, err := vendorsim.New(vendorsim.Config{
			Seed: 1, Records: 20, From: day0, To: day1, Token: testToken, Faults: mustFaults(t, "slow=1,slowdelay=10s"),
		})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		rr := get(t, s.Handler(), query(day0, day1, 10, ""), nil)
		if got, want := time.Since(start), 10*time.Second; got != want {
			t.Errorf("response took %v, want %v", got, want)
		}
		if rr.Code != http.StatusOK {
			t.Errorf("status = %d, want 200", rr.Code)
		}
	})
}

func TestStickyPageRecoversAfterItsDuration(t *testing.T) {
	s, clock := newSim(t, 50, mustFaults(t, "sticky=1,stickyfor=30s"))
	target := query(day0, day1, 10, "")
	var codes []int
	for range 20 { // 20 s: inside every duration in [20 s, 40 s]
		codes = append(codes, get(t, s.Handler(), target, nil).Code)
		clock.Advance(time.Second)
	}
	for i, c := range codes {
		if c != 503 && c != 429 {
			t.Fatalf("request %d in the first 20 s: status %d, want 503 or 429", i, c)
		}
	}
	clock.Advance(20 * time.Second)
	if rr := get(t, s.Handler(), target, nil); rr.Code != http.StatusOK {
		t.Errorf("status after 40 s = %d, want 200", rr.Code)
	}
	if got := s.Stats().StickyFailures; got != 20 {
		t.Errorf("Stats().StickyFailures = %d, want 20", got)
	}
}

func TestPoisonPageNeverRecovers(t *testing.T) {
	poisoned := day0.Add(90 * time.Minute)
	s, clock := newSim(t, 500, mustFaults(t, "poisonwindow="+poisoned.Format(time.RFC3339)+",poisonpage=1"))
	first := get(t, s.Handler(), query(day0.Add(time.Hour), day0.Add(2*time.Hour), 5, ""), nil)
	p, ok := decodePage(first)
	if !ok || !p.HasMore {
		t.Fatalf("page 0 of the poisoned window: status %d, want a page with more", first.Code)
	}
	for range 10 {
		clock.Advance(time.Hour)
		if rr := get(t, s.Handler(), query(day0.Add(time.Hour), day0.Add(2*time.Hour), 5, *p.NextCursor), nil); rr.Code < 500 {
			t.Fatalf("page 1 of the poisoned window: status %d, want a 5xx", rr.Code)
		}
	}
	clock.Advance(-10 * time.Hour)
	walk(t, s, clock, day0, day0.Add(time.Hour), 5, 1000) // another window completes
}

func TestEmptyAndShortPagesKeepTheChainGoing(t *testing.T) {
	s, clock := newSim(t, 1000, mustFaults(t, "empty=0.3,short=0.5"))
	res := walk(t, s, clock, day0, day1, 20, 10000)
	var empty, short int
	for _, p := range res.pages[:len(res.pages)-1] {
		switch {
		case len(p.Data) == 0:
			empty++
		case len(p.Data) < 20:
			short++
		}
	}
	if empty == 0 || short == 0 {
		t.Errorf("%d empty and %d short pages with has_more true, want some of each", empty, short)
	}
	if diff := cmp.Diff(listableOf(s.Listable(day0, day1, clock.Now())), listedOf(t, res.records())); diff != "" {
		t.Errorf("listed (-want +got):\n%s", diff)
	}
	if st := s.Stats(); st.EmptyPages != int64(empty) || st.ShortPages != int64(short) {
		t.Errorf("Stats() = %d empty, %d short; want %d, %d", st.EmptyPages, st.ShortPages, empty, short)
	}
}

func TestDuplicateRepeatsTheLastRecordOnTheNextPage(t *testing.T) {
	s, clock := newSim(t, 500, mustFaults(t, "dup=1"))
	res := walk(t, s, clock, day0, day1, 10, 10000)
	for i := 1; i < len(res.pages); i++ {
		prev, cur := res.pages[i-1].Data, res.pages[i].Data
		if string(prev[len(prev)-1]) != string(cur[0]) {
			t.Fatalf("page %d does not start with the last record of page %d", i, i-1)
		}
	}
	var deduped []json.RawMessage
	for i, p := range res.pages {
		if i > 0 {
			p.Data = p.Data[1:]
		}
		deduped = append(deduped, p.Data...)
	}
	if diff := cmp.Diff(listableOf(s.Listable(day0, day1, clock.Now())), listedOf(t, deduped)); diff != "" {
		t.Errorf("listed without the repeats (-want +got):\n%s", diff)
	}
}

func TestResendListsAnOlderVersionAfterANewerOne(t *testing.T) {
	s, clock := newSim(t, 500, mustFaults(t, "resend=1"))
	res := walk(t, s, clock, day0, day1, 50, 10000)
	resends := 0
	records := res.records()
	for i := 1; i < len(records); i++ {
		prev, cur := parseRecord(t, records[i-1]), parseRecord(t, records[i])
		if cur.VendorTxnID == prev.VendorTxnID && cur.UpdatedAt.Before(prev.UpdatedAt) {
			resends++
		}
	}
	if resends == 0 {
		t.Fatal("no older version follows a newer one")
	}
	if got := s.Stats().Resends; got != int64(resends) {
		t.Errorf("Stats().Resends = %d, want %d", got, resends)
	}
	for _, p := range res.pages {
		if len(p.Data) > 50 {
			t.Errorf("a page has %d records, over the limit of 50", len(p.Data))
		}
	}
}

func TestJunkPutsANonObjectInData(t *testing.T) {
	s, clock := newSim(t, 100, mustFaults(t, "junk=1"))
	res := walk(t, s, clock, day0, day1, 10, 1000)
	junk := 0
	for _, raw := range res.records() {
		if raw[0] != '{' {
			junk++
		}
	}
	if junk != len(res.pages) {
		t.Errorf("%d junk elements on %d pages, want one per page", junk, len(res.pages))
	}
}

// TestDefaultFaultsServeADayQuickly checks the make run mix: every window of
// a day of a few thousand records completes within a few minutes of (fake)
// retrying, and what was listed matches the truth.
func TestDefaultFaultsServeADayQuickly(t *testing.T) {
	s, clock := newSim(t, 4000, vendorsim.DefaultFaults())
	start := clock.Now()
	newest := map[string]wireRecord{}
	requests := 0
	for _, w := range hours(day0, day1) {
		res := walk(t, s, clock, w[0], w[1], 100, 2000)
		requests += res.requests
		for _, raw := range res.records() {
			if raw[0] != '{' {
				continue
			}
			r := parseRecord(t, raw)
			if old, ok := newest[r.VendorTxnID]; !ok || r.UpdatedAt.After(old.UpdatedAt) {
				newest[r.VendorTxnID] = r
			}
		}
	}
	if took := clock.Now().Sub(start); took > 10*time.Minute {
		t.Errorf("the day took %v of client time, want under 10 minutes", took)
	}
	truth := s.Truth()
	if got, want := len(newest), len(truth); got != want {
		t.Fatalf("%d distinct settlements listed, want %d", got, want)
	}
	for _, tr := range truth {
		if got := newest[tr.VendorTxnID]; !got.UpdatedAt.Equal(tr.UpdatedAt) {
			t.Fatalf("%s: newest listed version at %s, truth at %s", tr.VendorTxnID, got.UpdatedAt, tr.UpdatedAt)
		}
	}
	st := s.Stats()
	t.Logf("%d requests, %v of client time; stats %+v", requests, clock.Now().Sub(start), st)
	if st.RateLimited == 0 || st.ServerErrors == 0 {
		t.Errorf("Stats() shows %d 429s and %d 5xx under the default mix, want some", st.RateLimited, st.ServerErrors)
	}
}
