package vendorapi_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/marketplace/settle/io/vendorapi"
)

// testToken is what every test client authenticates with; tests check it
// never shows up in errors, logs or pages.
const testToken = "tok_live_S3CR3T_9f8e7d6c"

var t0 = time.Date(2025, 3, 2, 12, 0, 0, 0, time.UTC)

var testWindow = vendorapi.Window{
	Start: time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC),
	End:   time.Date(2025, 3, 1, 11, 0, 0, 0, time.UTC),
}

// fakeClock is the clock and backoff sleep of a test client: sleeping
// records the wait and moves the clock on, at once.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	c.now = c.now.Add(d)
	return nil
}

func (c *fakeClock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

// syncBuffer collects log output from any goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// step answers one request of a scripted vendor.
type step func(w http.ResponseWriter, r *http.Request)

// vendor is an httptest server that answers requests with its steps in
// order and records what it was sent.
type vendor struct {
	t     *testing.T
	srv   *httptest.Server
	mu    sync.Mutex
	steps []step
	got   []*http.Request
}

func newVendor(t *testing.T, steps ...step) *vendor {
	t.Helper()
	v := &vendor{t: t, steps: steps}
	v.srv = httptest.NewServer(http.HandlerFunc(v.serve))
	t.Cleanup(v.srv.Close)
	return v
}

func (v *vendor) serve(w http.ResponseWriter, r *http.Request) {
	v.mu.Lock()
	v.got = append(v.got, r.Clone(context.WithoutCancel(r.Context())))
	n := len(v.got)
	var s step
	if n <= len(v.steps) {
		s = v.steps[n-1]
	}
	v.mu.Unlock()
	if !strings.HasSuffix(r.URL.Path, "/v1/settlements") {
		v.t.Errorf("request %d went to %s, want .../v1/settlements", n, r.URL.Path)
	}
	if s == nil {
		v.t.Errorf("request %d was not scripted (only %d steps)", n, len(v.steps))
		http.Error(w, "unscripted", http.StatusTeapot)
		return
	}
	s(w, r)
}

func (v *vendor) requests() []*http.Request {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]*http.Request(nil), v.got...)
}

// reply answers code with body and header pairs.
func reply(code int, body string, header ...string) step {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		if w.Header().Get("Content-Type") == "" {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(code)
		io.WriteString(w, body)
	}
}

func okPage(body string) step { return reply(200, body, "X-Request-Id", "req_ok") }

func gzipReply(code int, body string) step {
	return func(w http.ResponseWriter, r *http.Request) {
		if got := r.Header.Get("Accept-Encoding"); got != "gzip" {
			http.Error(w, "client did not ask for gzip: "+got, http.StatusBadRequest)
			return
		}
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		io.WriteString(zw, body)
		zw.Close()
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		w.Write(b.Bytes())
	}
}

// cutShort promises len(body) bytes, sends the first n and closes the
// connection: the client sees the body end early.
func cutShort(body string, n int, reset bool) step {
	return func(w http.ResponseWriter, r *http.Request) {
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			panic(err)
		}
		fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body[:n])
		buf.Flush()
		if reset {
			// SO_LINGER 0: the close sends a RST, not a FIN.
			conn.(*net.TCPConn).SetLinger(0)
		}
		conn.Close()
	}
}

const html502 = `<html>
<head><title>502 Bad Gateway</title></head>
<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body>
</html>`

// newClient returns a client of v with a fake clock, no limiter, a pinned
// jitter of 0.5 and debug logs; opts override these. On cleanup it checks
// that the token is nowhere in the logs.
func newClient(t *testing.T, baseURL string, opts ...vendorapi.Option) (*vendorapi.Client, *fakeClock, *syncBuffer) {
	t.Helper()
	clk := &fakeClock{now: t0}
	logs := &syncBuffer{}
	base := []vendorapi.Option{
		vendorapi.WithLimiter(nil),
		vendorapi.WithClock(clk.Now),
		vendorapi.WithSleep(clk.Sleep),
		vendorapi.WithJitter(func() float64 { return 0.5 }),
		vendorapi.WithLogger(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))),
	}
	c, err := vendorapi.New(baseURL, testToken, append(base, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if strings.Contains(logs.String(), testToken) {
			t.Errorf("the token is in the logs:\n%s", logs.String())
		}
	})
	return c, clk, logs
}

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func TestFetchPageScriptedAnswers(t *testing.T) {
	fx := fixtures(t)
	first, last := string(fx["page_first.json"]), string(fx["page_last.json"])
	rateLimited := string(fx["error_rate_limited.json"])
	internal := string(fx["error_internal.json"])
	tests := []struct {
		name   string
		steps  []step
		opts   []vendorapi.Option
		wantIs []error
		// wantClass is the class of the error; ClassNone for success.
		wantClass       vendorapi.Class
		wantAttempts    int
		wantSleeps      []time.Duration
		wantRecords     int
		wantRateLimited int64
		wantServerErrs  int64
	}{
		{
			name:         "a page on the first try",
			steps:        []step{okPage(first)},
			wantAttempts: 1, wantRecords: 3,
		},
		{
			name:         "a 429 with Retry-After in delta-seconds is waited out",
			steps:        []step{reply(429, rateLimited, "Retry-After", "3"), okPage(first)},
			wantAttempts: 2, wantSleeps: []time.Duration{3 * time.Second}, wantRecords: 3, wantRateLimited: 1,
		},
		{
			name:         "a 429 with the observed fractional Retry-After is waited out",
			steps:        []step{reply(429, rateLimited, "Retry-After", "2.5"), okPage(first)},
			wantAttempts: 2, wantSleeps: []time.Duration{2500 * time.Millisecond}, wantRecords: 3, wantRateLimited: 1,
		},
		{
			name:         "a 429 with an HTTP-date Retry-After is waited out",
			steps:        []step{reply(429, rateLimited, "Retry-After", t0.Add(7*time.Second).Format(http.TimeFormat)), okPage(first)},
			wantAttempts: 2, wantSleeps: []time.Duration{7 * time.Second}, wantRecords: 3, wantRateLimited: 1,
		},
		{
			name:         "a 429 without Retry-After waits for X-RateLimit-Reset",
			steps:        []step{reply(429, rateLimited, "X-RateLimit-Reset", "4"), okPage(first)},
			wantAttempts: 2, wantSleeps: []time.Duration{4 * time.Second}, wantRecords: 3, wantRateLimited: 1,
		},
		{
			name:         "a Retry-After shorter than the backoff waits the backoff",
			steps:        []step{reply(503, internal, "Retry-After", "0"), okPage(first)},
			wantAttempts: 2, wantSleeps: []time.Duration{ms(250)}, wantRecords: 3, wantServerErrs: 1,
		},
		{
			name:         "503s back off exponentially",
			steps:        []step{reply(503, internal), reply(503, internal), reply(503, internal), okPage(last)},
			wantAttempts: 4, wantSleeps: []time.Duration{ms(250), ms(500), ms(1000)}, wantRecords: 1, wantServerErrs: 3,
		},
		{
			name:         "an HTML 502 from a load balancer is retried",
			steps:        []step{reply(502, html502, "Content-Type", "text/html"), okPage(first)},
			wantAttempts: 2, wantSleeps: []time.Duration{ms(250)}, wantRecords: 3, wantServerErrs: 1,
		},
		{
			name:         "a 503 saying too many requests counts as rate limited",
			steps:        []step{reply(503, string(fx["error_internal_too_many_requests.json"]), "Retry-After", "1"), okPage(first)},
			wantAttempts: 2, wantSleeps: []time.Duration{time.Second}, wantRecords: 3, wantRateLimited: 1, wantServerErrs: 1,
		},
		{
			name:         "an HTML 500 saying too many requests counts as rate limited",
			steps:        []step{reply(500, "<h1>Too Many Requests</h1>", "Content-Type", "text/html"), okPage(first)},
			wantAttempts: 2, wantSleeps: []time.Duration{ms(250)}, wantRecords: 3, wantRateLimited: 1, wantServerErrs: 1,
		},
		{
			name:         "a 200 whose body is an error object is retried",
			steps:        []step{reply(200, string(fx["bad_error_object.json"])), okPage(first)},
			wantAttempts: 2, wantSleeps: []time.Duration{ms(250)}, wantRecords: 3,
		},
		{
			name:         "a 200 whose body is a rate_limited error object is retried as rate limited",
			steps:        []step{reply(200, string(fx["bad_error_object_rate_limited.json"]), "Retry-After", "2"), okPage(first)},
			wantAttempts: 2, wantSleeps: []time.Duration{2 * time.Second}, wantRecords: 3, wantRateLimited: 1,
		},
		{
			name:         "a body cut short by a closed connection is retried",
			steps:        []step{cutShort(first, 100, false), okPage(first)},
			wantAttempts: 2, wantSleeps: []time.Duration{ms(250)}, wantRecords: 3,
		},
		{
			name:         "a connection reset in the middle of the body is retried",
			steps:        []step{cutShort(first, 100, true), okPage(first)},
			wantAttempts: 2, wantSleeps: []time.Duration{ms(250)}, wantRecords: 3,
		},
		{
			name:         "a truncated JSON body of the announced length is retried",
			steps:        []step{reply(200, string(fx["bad_truncated.json"])), okPage(first)},
			wantAttempts: 2, wantSleeps: []time.Duration{ms(250)}, wantRecords: 3,
		},
		{
			name:         "has_more without a cursor is retried, not taken as the end",
			steps:        []step{reply(200, string(fx["bad_has_more_null_cursor.json"])), okPage(first)},
			wantAttempts: 2, wantSleeps: []time.Duration{ms(250)}, wantRecords: 3,
		},
		{
			name:         "a gzipped page is decoded",
			steps:        []step{gzipReply(200, first)},
			wantAttempts: 1, wantRecords: 3,
		},
		{
			name:         "a gzipped 429 is still a 429",
			steps:        []step{gzipReply(429, rateLimited), okPage(first)},
			wantAttempts: 2, wantSleeps: []time.Duration{ms(250)}, wantRecords: 3, wantRateLimited: 1,
		},
		{
			name:         "a body labelled gzip that is not gzip is retried",
			steps:        []step{reply(200, first, "Content-Encoding", "gzip"), okPage(first)},
			wantAttempts: 2, wantSleeps: []time.Duration{ms(250)}, wantRecords: 3,
		},
		{
			name:         "an encoding the client did not ask for is retried",
			steps:        []step{reply(200, first, "Content-Encoding", "br"), okPage(first)},
			wantAttempts: 2, wantSleeps: []time.Duration{ms(250)}, wantRecords: 3,
		},
		{
			name:      "a 401 stops at once",
			steps:     []step{reply(401, string(fx["error_unauthorized.json"]))},
			wantIs:    []error{vendorapi.ErrUnauthorized},
			wantClass: vendorapi.ClassFatal, wantAttempts: 1,
		},
		{
			name:      "a 403 stops at once",
			steps:     []step{reply(403, string(fx["error_unauthorized.json"]))},
			wantIs:    []error{vendorapi.ErrUnauthorized},
			wantClass: vendorapi.ClassFatal, wantAttempts: 1,
		},
		{
			name:      "a 400 stops at once",
			steps:     []step{reply(400, string(fx["error_invalid_request.json"]))},
			wantIs:    []error{vendorapi.ErrBadRequest},
			wantClass: vendorapi.ClassFatal, wantAttempts: 1,
		},
		{
			name:      "a 404 with an HTML body stops at once",
			steps:     []step{reply(404, "<html>Not Found</html>", "Content-Type", "text/html")},
			wantIs:    []error{vendorapi.ErrNotFound},
			wantClass: vendorapi.ClassFatal, wantAttempts: 1,
		},
		{
			name:      "a 410 asks for the chain to restart",
			steps:     []step{reply(410, string(fx["error_cursor_expired.json"]))},
			wantIs:    []error{vendorapi.ErrCursorExpired},
			wantClass: vendorapi.ClassCursorExpired, wantAttempts: 1,
		},
		{
			name:      "the budget runs out by attempts",
			steps:     []step{reply(503, internal), reply(503, internal), reply(503, internal)},
			opts:      []vendorapi.Option{vendorapi.WithRetryPolicy(vendorapi.RetryPolicy{MaxAttempts: 3})},
			wantIs:    []error{vendorapi.ErrBudgetExhausted},
			wantClass: vendorapi.ClassExhausted, wantAttempts: 3,
			wantSleeps:     []time.Duration{ms(250), ms(500)},
			wantServerErrs: 3,
		},
		{
			name:      "the budget runs out by time",
			steps:     []step{reply(429, rateLimited, "Retry-After", "4"), reply(429, rateLimited, "Retry-After", "4"), reply(429, rateLimited, "Retry-After", "4")},
			opts:      []vendorapi.Option{vendorapi.WithRetryPolicy(vendorapi.RetryPolicy{MaxElapsed: 10 * time.Second})},
			wantIs:    []error{vendorapi.ErrBudgetExhausted},
			wantClass: vendorapi.ClassExhausted, wantAttempts: 3,
			wantSleeps:      []time.Duration{4 * time.Second, 4 * time.Second},
			wantRateLimited: 3,
		},
		{
			name:      "a body over the cap is refused and, if it stays, dead-lettered",
			steps:     []step{okPage(first), okPage(first)},
			opts:      []vendorapi.Option{vendorapi.WithMaxBodyBytes(64), vendorapi.WithRetryPolicy(vendorapi.RetryPolicy{MaxAttempts: 2})},
			wantIs:    []error{vendorapi.ErrBudgetExhausted, vendorapi.ErrBodyTooLarge, vendorapi.ErrMalformedPage},
			wantClass: vendorapi.ClassExhausted, wantAttempts: 2,
			wantSleeps: []time.Duration{ms(250)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newVendor(t, tt.steps...)
			c, clk, _ := newClient(t, v.srv.URL, tt.opts...)
			page, err := c.FetchPage(t.Context(), vendorapi.Request{Window: testWindow, Limit: 100})

			if got := vendorapi.Classify(err); got != tt.wantClass {
				t.Fatalf("Classify(%v) = %v, want %v", err, got, tt.wantClass)
			}
			for _, want := range tt.wantIs {
				if !errors.Is(err, want) {
					t.Errorf("FetchPage error = %v, want it to wrap %v", err, want)
				}
			}
			if err != nil && strings.Contains(err.Error(), testToken) {
				t.Errorf("the token is in the error %q", err)
			}
			if got := len(v.requests()); got != tt.wantAttempts {
				t.Errorf("vendor saw %d requests, want %d", got, tt.wantAttempts)
			}
			if got := page.Attempts; got != tt.wantAttempts {
				t.Errorf("Page.Attempts = %d, want %d", got, tt.wantAttempts)
			}
			if diff := cmp.Diff(tt.wantSleeps, clk.Sleeps()); diff != "" {
				t.Errorf("backoff waits mismatch (-want +got):\n%s", diff)
			}
			if err == nil {
				if got := len(page.Records); got != tt.wantRecords {
					t.Errorf("len(Page.Records) = %d, want %d", got, tt.wantRecords)
				}
				if _, perr := vendorapi.ParsePage(page.Body); perr != nil {
					t.Errorf("Page.Body does not parse: %v", perr)
				}
			}
			st := c.Stats().Snapshot()
			wantPages, wantExhausted := int64(0), int64(0)
			if err == nil {
				wantPages = 1
			}
			if tt.wantClass == vendorapi.ClassExhausted {
				wantExhausted = 1
			}
			gotCounts := [6]int64{st.Requests, st.Pages, st.Retries, st.Exhausted, st.RateLimited, st.ServerErrors}
			wantCounts := [6]int64{int64(tt.wantAttempts), wantPages, int64(len(tt.wantSleeps)), wantExhausted, tt.wantRateLimited, tt.wantServerErrs}
			if gotCounts != wantCounts {
				t.Errorf("Stats [requests pages retries exhausted rate_limited server_errors] = %v, want %v", gotCounts, wantCounts)
			}
		})
	}
}

func TestFetchPageSendsTheDocumentedRequestAndKeepsTheBodyVerbatim(t *testing.T) {
	body := string(fixture(t, "page_first.json"))
	v := newVendor(t, reply(429, `{"error":{"code":"rate_limited"}}`, "Retry-After", "1"), okPage(body))
	c, clk, _ := newClient(t, v.srv.URL+"/api/")
	req := vendorapi.Request{Window: testWindow, Cursor: "cur_abc/+=", Limit: 250}
	page, err := c.FetchPage(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range v.requests() {
		if got, want := r.URL.Path, "/api/v1/settlements"; got != want {
			t.Errorf("request %d path = %q, want %q", i, got, want)
		}
		got := map[string]string{
			"updated_gte":     r.URL.Query().Get("updated_gte"),
			"updated_lt":      r.URL.Query().Get("updated_lt"),
			"limit":           r.URL.Query().Get("limit"),
			"cursor":          r.URL.Query().Get("cursor"),
			"Authorization":   r.Header.Get("Authorization"),
			"Accept-Encoding": r.Header.Get("Accept-Encoding"),
		}
		want := map[string]string{
			"updated_gte":     "2025-03-01T10:00:00Z",
			"updated_lt":      "2025-03-01T11:00:00Z",
			"limit":           "250",
			"cursor":          "cur_abc/+=",
			"Authorization":   "Bearer " + testToken,
			"Accept-Encoding": "gzip",
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("request %d mismatch (-want +got):\n%s", i, diff)
		}
	}
	want := vendorapi.Page{
		Request:   req,
		Body:      []byte(body),
		RequestID: "req_ok",
		Status:    200,
		Attempts:  2,
		FetchedAt: t0.Add(time.Second),
		Elapsed:   time.Second,
	}
	got := page
	got.Envelope = vendorapi.Envelope{}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Page mismatch (-want +got):\n%s", diff)
	}
	if got, want := clk.Sleeps(), []time.Duration{time.Second}; !cmp.Equal(got, want) {
		t.Errorf("sleeps = %v, want %v", got, want)
	}
}

// TestFetchPageRidesOutMinutesOfFailureUnderDefaults: the vendor fails a
// page for three minutes, with 503s and 429s, then recovers. Under the
// default policy the page must arrive, whatever the jitter draws.
func TestFetchPageRidesOutMinutesOfFailureUnderDefaults(t *testing.T) {
	page := string(fixture(t, "page_first.json"))
	for seed := range uint64(20) {
		t.Run(fmt.Sprintf("jitter seed %d", seed), func(t *testing.T) {
			var clk *fakeClock
			var calls int
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls++
				switch {
				case clk.Now().Sub(t0) >= 3*time.Minute:
					okPage(page)(w, r)
				case calls%3 == 0:
					reply(429, `{"error":{"code":"rate_limited"}}`, "Retry-After", "1")(w, r)
				default:
					reply(503, `{"error":{"code":"internal"}}`)(w, r)
				}
			}))
			t.Cleanup(srv.Close)
			rng := rand.New(rand.NewPCG(seed, seed))
			c, fc, _ := newClient(t, srv.URL, vendorapi.WithJitter(rng.Float64))
			clk = fc
			got, err := c.FetchPage(t.Context(), vendorapi.Request{Window: testWindow})
			if err != nil {
				t.Fatalf("FetchPage after %d calls = %v, want the page once the vendor recovers", calls, err)
			}
			if got.Elapsed < 3*time.Minute {
				t.Errorf("Elapsed = %v, want at least the 3 minutes of failure", got.Elapsed)
			}
		})
	}
}

func TestBackoffWaitsStayWithinTheirBoundsWithRealJitter(t *testing.T) {
	const attempts = 12
	steps := make([]step, attempts)
	for i := range steps {
		steps[i] = reply(503, `{"error":{"code":"internal"}}`)
	}
	v := newVendor(t, steps...)
	policy := vendorapi.RetryPolicy{MaxAttempts: attempts, BaseDelay: 100 * time.Millisecond, MaxDelay: 3 * time.Second}
	// The real jitter source, not the pinned one.
	c, clk, _ := newClient(t, v.srv.URL, vendorapi.WithRetryPolicy(policy), vendorapi.WithJitter(rand.Float64))
	_, err := c.FetchPage(t.Context(), vendorapi.Request{Window: testWindow})
	if !errors.Is(err, vendorapi.ErrBudgetExhausted) {
		t.Fatalf("FetchPage = %v, want ErrBudgetExhausted", err)
	}
	sleeps := clk.Sleeps()
	if len(sleeps) != attempts-1 {
		t.Fatalf("got %d waits, want %d", len(sleeps), attempts-1)
	}
	ceiling := policy.BaseDelay
	for i, d := range sleeps {
		if d < 0 || d >= ceiling {
			t.Errorf("wait %d = %v, want within [0, %v)", i+1, d, ceiling)
		}
		ceiling = min(2*ceiling, policy.MaxDelay)
	}
}

func TestFetchPageReportsAttemptFactsWithAnError(t *testing.T) {
	v := newVendor(t,
		reply(503, `{"error":{"code":"internal"}}`, "X-Request-Id", "req_1"),
		reply(503, `{"error":{"code":"internal","message":"still down"}}`, "X-Request-Id", "req_2"),
	)
	c, _, logs := newClient(t, v.srv.URL, vendorapi.WithRetryPolicy(vendorapi.RetryPolicy{MaxAttempts: 2}))
	req := vendorapi.Request{Window: testWindow, Cursor: "cur_9"}
	page, err := c.FetchPage(t.Context(), req)
	if !errors.Is(err, vendorapi.ErrBudgetExhausted) {
		t.Fatalf("FetchPage = %v, want ErrBudgetExhausted", err)
	}
	want := vendorapi.Page{Request: req, Status: 503, RequestID: "req_2", Attempts: 2, Elapsed: ms(250)}
	if diff := cmp.Diff(want, page); diff != "" {
		t.Errorf("Page with the error mismatch (-want +got):\n%s", diff)
	}
	se, ok := errors.AsType[*vendorapi.StatusError](err)
	if !ok {
		t.Fatalf("error %v does not hold the last StatusError", err)
	}
	if se.Code != 503 || se.Message != "still down" || se.RequestID != "req_2" {
		t.Errorf("last StatusError = %+v, want 503 \"still down\" req_2", se)
	}
	if !strings.Contains(logs.String(), "retry budget exhausted") {
		t.Errorf("logs do not tell the page was given up:\n%s", logs)
	}
}

func TestFetchPageAcceptsAnEightMebibyteBodyAndRefusesALargerOne(t *testing.T) {
	page := func(size int) string {
		head, tail := `{"data":["`, `"],"has_more":false,"next_cursor":null}`
		return head + strings.Repeat("x", size-len(head)-len(tail)) + tail
	}
	eight := page(8 << 20)
	nine := page(9 << 20)
	v := newVendor(t, gzipReply(200, eight), okPage(nine))
	c, _, _ := newClient(t, v.srv.URL, vendorapi.WithRetryPolicy(vendorapi.RetryPolicy{MaxAttempts: 1}))

	got, err := c.FetchPage(t.Context(), vendorapi.Request{Window: testWindow})
	if err != nil {
		t.Fatalf("FetchPage of an 8 MiB body = %v, want it accepted", err)
	}
	if len(got.Body) != 8<<20 {
		t.Errorf("len(Body) = %d, want %d", len(got.Body), 8<<20)
	}
	_, err = c.FetchPage(t.Context(), vendorapi.Request{Window: testWindow})
	if !errors.Is(err, vendorapi.ErrBodyTooLarge) {
		t.Errorf("FetchPage of a 9 MiB body = %v, want ErrBodyTooLarge", err)
	}
}

func TestFetchPageRefusesAnInvalidRequestWithoutSendingIt(t *testing.T) {
	v := newVendor(t)
	c, _, _ := newClient(t, v.srv.URL)
	tests := []struct {
		name string
		req  vendorapi.Request
	}{
		{"a window over 24 hours", vendorapi.Request{Window: vendorapi.Window{Start: testWindow.Start, End: testWindow.Start.Add(25 * time.Hour)}}},
		{"an end before the start", vendorapi.Request{Window: vendorapi.Window{Start: testWindow.End, End: testWindow.Start}}},
		{"a page size over 500", vendorapi.Request{Window: testWindow, Limit: 501}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.FetchPage(t.Context(), tt.req)
			if !errors.Is(err, vendorapi.ErrBadRequest) || vendorapi.Classify(err) != vendorapi.ClassFatal {
				t.Errorf("FetchPage(%+v) = %v, want a fatal ErrBadRequest", tt.req, err)
			}
		})
	}
	if got := len(v.requests()); got != 0 {
		t.Errorf("vendor saw %d requests, want none", got)
	}
}

func TestFetchPageStopsWhenTheContextEnds(t *testing.T) {
	v := newVendor(t, reply(503, `{}`), reply(503, `{}`))
	ctx, cancel := context.WithCancel(t.Context())
	clk := &fakeClock{now: t0}
	c, _, _ := newClient(t, v.srv.URL, vendorapi.WithSleep(func(ctx context.Context, d time.Duration) error {
		cancel() // the run is being stopped during the backoff
		return clk.Sleep(ctx, d)
	}))
	_, err := c.FetchPage(ctx, vendorapi.Request{Window: testWindow})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("FetchPage = %v, want context.Canceled", err)
	}
	if got := vendorapi.Classify(err); got != vendorapi.ClassFatal {
		t.Errorf("Classify(%v) = %v, want fatal", err, got)
	}
	if got := len(v.requests()); got != 1 {
		t.Errorf("vendor saw %d requests, want 1", got)
	}
}

// TestTheTokenNeverLeaks runs a vendor that echoes the Authorization header
// everywhere it can: error messages, HTML pages, error objects in a 200 and
// the request id. None of it may reach an error, a log line or a Page.
func TestTheTokenNeverLeaks(t *testing.T) {
	echo := func(code int, contentType string, format string) step {
		return func(w http.ResponseWriter, r *http.Request) {
			auth := r.Header.Get("Authorization")
			w.Header().Set("Content-Type", contentType)
			w.Header().Set("X-Request-Id", "req-"+auth)
			w.WriteHeader(code)
			fmt.Fprintf(w, format, auth)
		}
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"a 401 quoting the header", []step{echo(401, "application/json", `{"error":{"code":"unauthorized","message":"bad header %s"}}`)}},
		{"a 400 quoting the header", []step{echo(400, "application/json", `{"error":{"code":"invalid_request","message":"%s"}}`)}},
		{"an HTML 502 quoting the header", []step{echo(502, "text/html", `<html><body>upstream saw %s</body></html>`), okPage(`{"data":[],"has_more":false,"next_cursor":null}`)}},
		{"an error object in a 200 quoting the header", []step{echo(200, "application/json", `{"error":"token %s is throttled: too many requests"}`), echo(200, "application/json", `{"data":[],"has_more":false,"next_cursor":null,"x":"%.0s"}`)}},
		{"retries given up on", []step{echo(503, "text/plain", `down for %s`), echo(503, "text/plain", `down for %s`)}},
		{"a long message cut right inside the token", []step{echo(500, "text/plain", strings.Repeat("x", 290)+`%s`), echo(500, "text/plain", strings.Repeat("x", 290)+`%s`)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newVendor(t, tt.steps...)
			var events []vendorapi.AttemptEvent
			c, _, logs := newClient(t, v.srv.URL,
				vendorapi.WithRetryPolicy(vendorapi.RetryPolicy{MaxAttempts: 2}),
				vendorapi.WithObserver(func(_ context.Context, ev vendorapi.AttemptEvent) { events = append(events, ev) }),
			)
			page, err := c.FetchPage(t.Context(), vendorapi.Request{Window: testWindow})
			pageJSON, jerr := json.Marshal(page)
			if jerr != nil {
				t.Fatal(jerr)
			}
			evText := fmt.Sprintf("%+v", events)
			for what, text := range map[string]string{
				"error":  fmt.Sprintf("%v", err),
				"logs":   logs.String(),
				"page":   string(pageJSON),
				"events": evText,
			} {
				if strings.Contains(text, testToken) {
					t.Errorf("the token is in the %s: %s", what, text)
				}
				if strings.Contains(text, testToken[:12]) {
					t.Errorf("part of the token is in the %s: %s", what, text)
				}
			}
			if len(v.requests()) == 0 {
				t.Fatal("no request reached the vendor")
			}
			for _, r := range v.requests() {
				if strings.Contains(r.URL.String(), testToken) {
					t.Errorf("the token is in the request URL %s", r.URL)
				}
			}
		})
	}
}

func TestPrintingAClientShowsNoToken(t *testing.T) {
	c, err := vendorapi.New("http://127.0.0.1:1", testToken, vendorapi.WithLimiter(nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		if got := fmt.Sprintf(verb, c); strings.Contains(got, testToken) {
			t.Errorf("Sprintf(%q, client) shows the token: %s", verb, got)
		}
	}
}

func TestNewRefusesABadConfiguration(t *testing.T) {
	tests := []struct {
		name, url, token string
		opts             []vendorapi.Option
	}{
		{"an empty token", "http://127.0.0.1:1", "", nil},
		{"a relative URL", "/v1", testToken, nil},
		{"an ftp URL", "ftp://127.0.0.1", testToken, nil},
		{"credentials in the URL", "http://user:" + testToken + "@127.0.0.1", testToken, nil},
		{"a query in the URL", "http://127.0.0.1/?token=x", testToken, nil},
		{"zero-or-less attempts", "http://127.0.0.1", testToken, []vendorapi.Option{vendorapi.WithRetryPolicy(vendorapi.RetryPolicy{MaxAttempts: -1})}},
		{"a base delay over the max delay", "http://127.0.0.1", testToken, []vendorapi.Option{vendorapi.WithRetryPolicy(vendorapi.RetryPolicy{BaseDelay: time.Minute, MaxDelay: time.Second})}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := vendorapi.New(tt.url, tt.token, tt.opts...)
			if err == nil {
				t.Fatalf("New(%q) = nil error, want one", tt.url)
			}
			if strings.Contains(err.Error(), testToken) {
				t.Errorf("New error shows the token: %v", err)
			}
		})
	}
}

func TestObserverSeesEveryAttempt(t *testing.T) {
	v := newVendor(t,
		reply(429, `{"error":{"code":"rate_limited"}}`, "Retry-After", "2", "X-Request-Id", "r1"),
		reply(502, html502, "X-Request-Id", "r2"),
		okPage(string(fixture(t, "page_last.json"))),
	)
	var got []vendorapi.AttemptEvent
	c, _, _ := newClient(t, v.srv.URL, vendorapi.WithObserver(func(_ context.Context, ev vendorapi.AttemptEvent) { got = append(got, ev) }))
	if _, err := c.FetchPage(t.Context(), vendorapi.Request{Window: testWindow}); err != nil {
		t.Fatal(err)
	}
	type brief struct {
		Attempt, Status   int
		RequestID         string
		RateLimited, Fail bool
		Wait              time.Duration
	}
	var briefs []brief
	for _, ev := range got {
		briefs = append(briefs, brief{ev.Attempt, ev.Status, ev.RequestID, ev.RateLimited, ev.Err != nil, ev.Wait})
	}
	want := []brief{
		{1, 429, "r1", true, true, 2 * time.Second},
		{2, 502, "r2", false, true, ms(500)},
		{3, 200, "req_ok", false, false, 0},
	}
	if diff := cmp.Diff(want, briefs); diff != "" {
		t.Errorf("events mismatch (-want +got):\n%s", diff)
	}
}

// handlerTransport serves requests in memory, so tests inside a synctest
// bubble (where network waits do not advance the fake clock) can use steps.
type handlerTransport struct {
	mu    sync.Mutex
	steps []step
	sent  []time.Time
}

func (h *handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	h.mu.Lock()
	h.sent = append(h.sent, time.Now())
	n := len(h.sent)
	s := h.steps[min(n, len(h.steps))-1]
	h.mu.Unlock()
	rec := httptest.NewRecorder()
	s(rec, r)
	resp := rec.Result()
	resp.Request = r
	return resp, nil
}

func TestARateLimitPausesTheSharedLimiterForEveryChain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		page := okPage(`{"data":[],"has_more":false,"next_cursor":null}`)
		ht := &handlerTransport{steps: []step{reply(429, `{"error":{"code":"rate_limited"}}`, "Retry-After", "3"), page}}
		lim := vendorapi.NewAdaptiveLimiter(100, 100)
		// Other chains met 429s just before: one more makes them dense.
		for range vendorapi.LimiterSignalThreshold - 1 {
			lim.Report(true, 0)
		}
		newC := func() *vendorapi.Client {
			c, err := vendorapi.New("http://vendor.invalid", testToken,
				vendorapi.WithHTTPClient(&http.Client{Transport: ht}),
				vendorapi.WithLimiter(lim),
				vendorapi.WithJitter(func() float64 { return 0 }),
				vendorapi.WithLogger(slog.New(slog.DiscardHandler)))
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		a, b := newC(), newC()
		start := time.Now()
		if _, err := a.FetchPage(t.Context(), vendorapi.Request{Window: testWindow}); err != nil {
			t.Fatal(err)
		}
		if got := time.Since(start); got < 3*time.Second {
			t.Errorf("the page came after %v, want at least the 3s Retry-After", got)
		}
		if got := lim.Rate(); !approx(got, 70) {
			t.Errorf("limiter rate after a 429 = %v, want 70", got)
		}
		// Another chain, which never saw the 429, also had to wait: the
		// second request of the first chain went out no earlier than 3s.
		if _, err := b.FetchPage(t.Context(), vendorapi.Request{Window: testWindow}); err != nil {
			t.Fatal(err)
		}
		if got := ht.sent[1].Sub(ht.sent[0]); got < 3*time.Second {
			t.Errorf("the request after the 429 went %v later, want at least 3s", got)
		}
	})
}

func TestARateLimitPauseHoldsBackOtherChainsInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lim := vendorapi.NewAdaptiveLimiter(100, 100)
		lim.SlowDown(5 * time.Second) // another chain just met a 429
		ht := &handlerTransport{steps: []step{okPage(`{"data":[],"has_more":false,"next_cursor":null}`)}}
		c, err := vendorapi.New("http://vendor.invalid", testToken,
			vendorapi.WithHTTPClient(&http.Client{Transport: ht}), vendorapi.WithLimiter(lim),
			vendorapi.WithRetryPolicy(vendorapi.RetryPolicy{RequestTimeout: time.Second}))
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if _, err := c.FetchPage(t.Context(), vendorapi.Request{Window: testWindow}); err != nil {
			t.Fatalf("FetchPage = %v; the limiter's pause must not eat the 1s request timeout", err)
		}
		if got := ht.sent[0].Sub(start); got != 5*time.Second {
			t.Errorf("request went out after %v, want 5s", got)
		}
	})
}

func TestAPerRequestTimeoutIsRetriedThenGivenUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls int
		hang := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			calls++
			<-r.Context().Done() // a vendor that never answers
			return nil, r.Context().Err()
		})
		c, err := vendorapi.New("http://vendor.invalid", testToken,
			vendorapi.WithHTTPClient(&http.Client{Transport: hang}),
			vendorapi.WithLimiter(nil),
			vendorapi.WithJitter(func() float64 { return 0 }),
			vendorapi.WithLogger(slog.New(slog.DiscardHandler)),
			vendorapi.WithRetryPolicy(vendorapi.RetryPolicy{MaxAttempts: 3, RequestTimeout: 2 * time.Second}))
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, err = c.FetchPage(t.Context(), vendorapi.Request{Window: testWindow})
		if !errors.Is(err, vendorapi.ErrBudgetExhausted) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("FetchPage = %v, want ErrBudgetExhausted wrapping DeadlineExceeded", err)
		}
		if got, want := time.Since(start), 6*time.Second; got != want {
			t.Errorf("three timed-out attempts took %v, want %v", got, want)
		}
		if calls != 3 {
			t.Errorf("attempts = %d, want 3", calls)
		}
	})
}

func TestATimeoutWhileReadingTheBodyIsRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls int
		rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			calls++
			if calls == 1 { // headers arrive, then the body stalls
				pr, pw := io.Pipe()
				go func() {
					io.WriteString(pw, `{"data":[`)
					<-r.Context().Done()
					pw.CloseWithError(r.Context().Err())
				}()
				return &http.Response{StatusCode: 200, Header: http.Header{}, Body: pr, Request: r}, nil
			}
			body := `{"data":[],"has_more":false,"next_cursor":null}`
			return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(body)), Request: r}, nil
		})
		c, err := vendorapi.New("http://vendor.invalid", testToken,
			vendorapi.WithHTTPClient(&http.Client{Transport: rt}),
			vendorapi.WithLimiter(nil),
			vendorapi.WithLogger(slog.New(slog.DiscardHandler)),
			vendorapi.WithRetryPolicy(vendorapi.RetryPolicy{RequestTimeout: 2 * time.Second}))
		if err != nil {
			t.Fatal(err)
		}
		page, err := c.FetchPage(t.Context(), vendorapi.Request{Window: testWindow})
		if err != nil {
			t.Fatalf("FetchPage = %v, want the second attempt's page", err)
		}
		if page.Attempts != 2 {
			t.Errorf("Attempts = %d, want 2", page.Attempts)
		}
	})
}

func TestSharedStatsAddUpAcrossClients(t *testing.T) {
	v := newVendor(t, okPage(`{"data":[],"has_more":false,"next_cursor":null}`), okPage(`{"data":[],"has_more":false,"next_cursor":null}`))
	var stats vendorapi.Stats
	for range 2 {
		c, _, _ := newClient(t, v.srv.URL, vendorapi.WithStats(&stats))
		if _, err := c.FetchPage(t.Context(), vendorapi.Request{Window: testWindow}); err != nil {
			t.Fatal(err)
		}
	}
	got := stats.Snapshot()
	want := vendorapi.StatsSnapshot{Requests: 2, Pages: 2, BytesRead: 2 * int64(len(`{"data":[],"has_more":false,"next_cursor":null}`))}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Stats mismatch (-want +got):\n%s", diff)
	}
}
