package vendorsim_test

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/marketplace/settle/testing/vendorsim"
)

// transcript walks every hourly window of the day in order and records
// every response: status, the headers a client reads, and the body.
func transcript(t *testing.T, seed int64, spec string) []string {
	t.Helper()
	s, clock := newSim(t, 1500, mustFaults(t, spec), func(c *vendorsim.Config) { c.Seed = seed })
	var out []string
	for _, w := range hours(day0, day1) {
		cursor := ""
		for range 500 {
			clock.Advance(50 * time.Millisecond)
			rr := get(t, s.Handler(), query(w[0], w[1], 100, cursor), map[string]string{"Accept-Encoding": "gzip"})
			h := rr.Header()
			out = append(out, fmt.Sprintf("%d %s %s %s %s %x", rr.Code, h.Get("X-Request-Id"),
				h.Get("Retry-After"), h.Get("Content-Encoding"), h.Get("X-RateLimit-Remaining"), sha256.Sum256(rr.Body.Bytes())))
			if rr.Code == http.StatusGone {
				cursor = ""
			}
			if rr.Code == http.StatusTooManyRequests || rr.Code >= 500 {
				clock.Advance(2 * time.Second)
			}
			p, ok := decodePage(rr)
			if !ok {
				continue
			}
			if !p.HasMore {
				break
			}
			cursor = *p.NextCursor
		}
	}
	return out
}

func TestSameSeedGivesTheSameBytes(t *testing.T) {
	spec := "all,poison=0,slow=0"
	a, b := transcript(t, 7, spec), transcript(t, 7, spec)
	if diff := cmp.Diff(a, b); diff != "" {
		t.Fatalf("two runs with seed 7 differ (-first +second):\n%s", diff)
	}
	if c := transcript(t, 8, spec); cmp.Equal(a, c) {
		t.Error("seeds 7 and 8 give the same transcript")
	}
}

// TestConcurrentChainsGetTheirSequentialResponses walks the windows of a day
// concurrently over TCP and checks each window got the bodies a sequential
// walk gets: faults are drawn per request identity and attempt, not per
// arrival order.
func TestConcurrentChainsGetTheirSequentialResponses(t *testing.T) {
	run := func(concurrent bool) map[time.Time][]string {
		clock := newClock(day1.Add(time.Hour))
		clock.Freeze(day1.Add(time.Hour))
		s, base, err := vendorsim.Start(vendorsim.Config{
			Seed: 11, Records: 1500, From: day0, To: day1, Token: testToken, Now: clock.Now,
			Faults: mustFaults(t, "all,poison=0,slow=0,sticky=0,ratelimit=0,cursorttl=0,reset=0"),
		})
		if err != nil {
			t.Fatalf("Start: %v", err)
		}
		defer s.Close()
		out := map[time.Time][]string{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, w := range hours(day0, day1) {
			one := func() {
				bodies := fetchWindow(t, base, w[0], w[1])
				mu.Lock()
				out[w[0]] = bodies
				mu.Unlock()
			}
			if concurrent {
				wg.Go(one)
			} else {
				one()
			}
		}
		wg.Wait()
		return out
	}
	if diff := cmp.Diff(run(false), run(true)); diff != "" {
		t.Errorf("responses per window (-sequential +concurrent):\n%s", diff)
	}
}

// fetchWindow walks one window over HTTP, retrying anything that is not a
// whole page, and returns a digest of every response body.
func fetchWindow(t *testing.T, base string, gte, lt time.Time) []string {
	var out []string
	cursor := ""
	for range 300 {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, base+query(gte, lt, 50, cursor), nil)
		if err != nil {
			t.Error(err)
			return out
		}
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			return out
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		out = append(out, fmt.Sprintf("%d %x %v", resp.StatusCode, sha256.Sum256(body), err))
		if err != nil || resp.StatusCode != http.StatusOK {
			continue
		}
		var p pageBody
		if json.Unmarshal(body, &p) != nil || p.Data == nil {
			continue
		}
		if !p.HasMore {
			return out
		}
		cursor = *p.NextCursor
	}
	t.Errorf("window %s not done after 300 requests", gte)
	return out
}
