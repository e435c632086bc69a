// Package vendorapi fetches settlement pages from the payments vendor's API:
// an HTTP client that paces, retries and classifies every failure the
// vendor is documented or observed to produce, independent of Beam.
package vendorapi

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// The vendor's documented rate limit per token.
const (
	DocumentedRPS   = 25
	DocumentedBurst = 50
)

// Body size caps. The vendor promises at most 8 MiB; the margin keeps a
// slightly larger page from being refused outright.
const (
	DefaultMaxBodyBytes = 8<<20 + 512<<10
	maxErrorBodyBytes   = 64 << 10
	maxMessageLen       = 300
)

const userAgent = "settle-vendorapi/1"

// Log attribute keys.
const (
	logKeyWindow    = "window"
	logKeyCursor    = "cursor"
	logKeyAttempt   = "attempt"
	logKeyStatus    = "status"
	logKeyRequestID = "request_id"
	logKeyWait      = "wait"
	logKeyElapsed   = "elapsed"
	logKeyErr       = "err"
	logKeyRPS       = "rps"
)

// ErrBodyTooLarge is wrapped (with ErrMalformedPage, so it is retryable and a
// persistent case ends in ErrBudgetExhausted) when a body exceeds the cap.
var ErrBodyTooLarge = errors.New("response body too large")

// Client fetches pages from the vendor. It is safe for concurrent use by many
// chains; all of them share its limiter and Stats.
type Client struct {
	endpoint string
	token    func() string // a closure: fmt prints a func as an address
	hc       *http.Client
	lim      *AdaptiveLimiter
	policy   RetryPolicy
	now      func() time.Time
	sleep    func(context.Context, time.Duration) error
	jitter   func() float64
	log      *slog.Logger
	stats    *Stats
	observe  func(context.Context, AttemptEvent)
	maxBody  int64
}

// Option configures a Client.
type Option func(*config)

type config struct {
	hc      *http.Client
	lim     *AdaptiveLimiter
	limSet  bool
	policy  RetryPolicy
	now     func() time.Time
	sleep   func(context.Context, time.Duration) error
	jitter  func() float64
	log     *slog.Logger
	stats   *Stats
	observe func(context.Context, AttemptEvent)
	maxBody int64
}

// WithHTTPClient sends requests with a copy of hc whose transport is wrapped
// by the limiter and the per-request timeout. Default: a client on a clone of
// http.DefaultTransport with enough idle connections per host for many
// chains.
func WithHTTPClient(hc *http.Client) Option { return func(c *config) { c.hc = hc } }

// WithLimiter paces requests with l. Default:
// SharedLimiter("default "+endpoint, DocumentedRPS, DocumentedBurst). A nil
// l disables pacing (tests, or a caller that paces elsewhere).
func WithLimiter(l *AdaptiveLimiter) Option {
	return func(c *config) { c.lim, c.limSet = l, true }
}

// WithRetryPolicy bounds retries; zero fields take their defaults.
func WithRetryPolicy(p RetryPolicy) Option { return func(c *config) { c.policy = p } }

// WithClock replaces time.Now for budgets, Retry-After dates and Page times.
// The limiter and the per-request timeout keep real time (use
// testing/synctest for those).
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithSleep replaces the backoff wait. sleep must return ctx's error when ctx
// ends first.
func WithSleep(sleep func(ctx context.Context, d time.Duration) error) Option {
	return func(c *config) { c.sleep = sleep }
}

// WithLogger logs through l; nil means slog.Default().
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.log = l } }

// WithStats counts into s, so that several clients can feed one set of
// counters. Default: counters of the client's own.
func WithStats(s *Stats) Option { return func(c *config) { c.stats = s } }

// WithObserver calls fn after every attempt, on the goroutine that made it,
// with FetchPage's ctx (so a Beam DoFn can update its counters). fn must be
// fast and safe for concurrent use.
func WithObserver(fn func(ctx context.Context, ev AttemptEvent)) Option {
	return func(c *config) { c.observe = fn }
}

// WithMaxBodyBytes caps a decoded response body (default DefaultMaxBodyBytes).
func WithMaxBodyBytes(n int64) Option { return func(c *config) { c.maxBody = n } }

// AttemptEvent describes one request of FetchPage, for observers.
type AttemptEvent struct {
	Request Request
	// Attempt is 1 for a page's first request.
	Attempt int
	// Status is the HTTP status, 0 when no response arrived.
	Status    int
	RequestID string
	// Bytes is the decoded body size read.
	Bytes int64
	// Latency runs from sending the request (limiter wait included) to the
	// end of the body.
	Latency time.Duration
	// Err is nil on success. It never holds the token.
	Err error
	// RateLimited reports a rate-limit answer.
	RateLimited bool
	// Wait is the backoff before the next attempt; zero when none follows.
	Wait time.Duration
}

// Stats counts a client's work. Fields are updated atomically and may be
// read at any time; use Snapshot for a consistent-enough copy.
type Stats struct {
	// Requests sent, retries included.
	Requests atomic.Int64
	// Pages fetched successfully.
	Pages atomic.Int64
	// RateLimited answers: 429, and 5xx or 200 error objects saying so.
	RateLimited atomic.Int64
	// ServerErrors are 5xx answers (rate-limited ones included).
	ServerErrors atomic.Int64
	// TransportErrors are attempts that failed without a full response:
	// connection errors, resets, timeouts, truncated bodies.
	TransportErrors atomic.Int64
	// Malformed are 2xx answers whose body was not a usable page.
	Malformed atomic.Int64
	// Retries are waits taken before another attempt.
	Retries atomic.Int64
	// Exhausted are pages given up with ErrBudgetExhausted.
	Exhausted atomic.Int64
	// BytesRead is the sum of decoded body sizes.
	BytesRead atomic.Int64
}

// StatsSnapshot is a plain copy of Stats.
type StatsSnapshot struct {
	Requests, Pages, RateLimited, ServerErrors, TransportErrors int64
	Malformed, Retries, Exhausted, BytesRead                    int64
}

// Snapshot copies the counters.
func (s *Stats) Snapshot() StatsSnapshot {
	return StatsSnapshot{
		Requests:        s.Requests.Load(),
		Pages:           s.Pages.Load(),
		RateLimited:     s.RateLimited.Load(),
		ServerErrors:    s.ServerErrors.Load(),
		TransportErrors: s.TransportErrors.Load(),
		Malformed:       s.Malformed.Load(),
		Retries:         s.Retries.Load(),
		Exhausted:       s.Exhausted.Load(),
		BytesRead:       s.BytesRead.Load(),
	}
}

// New returns a client for the vendor at baseURL (scheme and host, maybe a
// path prefix; requests go to baseURL + "/v1/settlements") authenticating
// with token. It returns an error if token is empty, baseURL is not an
// absolute http(s) URL, holds credentials, a query or a fragment, or an
// option is invalid. Errors never include the token.
func New(baseURL, token string, opts ...Option) (*Client, error) {
	if token == "" {
		return nil, errors.New("creating vendor client: empty token")
	}
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("creating vendor client: parsing base URL: %w", err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("creating vendor client: base URL scheme %q is not http or https", u.Scheme)
	case u.Host == "":
		return nil, errors.New("creating vendor client: base URL has no host")
	case u.User != nil:
		return nil, errors.New("creating vendor client: base URL must not hold credentials")
	case u.RawQuery != "" || u.Fragment != "":
		return nil, errors.New("creating vendor client: base URL must not have a query or fragment")
	}
	endpoint := u.JoinPath("v1", "settlements").String()

	cfg := config{}
	for _, o := range opts {
		o(&cfg)
	}
	policy := cfg.policy.withDefaults()
	if err := policy.validate(); err != nil {
		return nil, fmt.Errorf("creating vendor client: %w", err)
	}
	c := &Client{
		endpoint: endpoint,
		token:    func() string { return token },
		policy:   policy,
		now:      cfg.now,
		sleep:    cfg.sleep,
		jitter:   cfg.jitter,
		log:      cfg.log,
		stats:    cfg.stats,
		observe:  cfg.observe,
		maxBody:  cfg.maxBody,
		lim:      cfg.lim,
	}
	if !cfg.limSet {
		c.lim = SharedLimiter("default "+endpoint, DocumentedRPS, DocumentedBurst)
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.sleep == nil {
		c.sleep = sleepCtx
	}
	if c.jitter == nil {
		c.jitter = rand.Float64
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	if c.stats == nil {
		c.stats = &Stats{}
	}
	if c.maxBody <= 0 {
		c.maxBody = DefaultMaxBodyBytes
	}

	var hc http.Client
	if cfg.hc != nil {
		hc = *cfg.hc
	} else {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 64
		hc.Transport = t
	}
	next := hc.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	next = &timeoutTransport{timeout: policy.RequestTimeout, next: next}
	if c.lim != nil {
		next = c.lim.Transport(next)
	}
	hc.Transport = next
	c.hc = &hc
	return c, nil
}

// Format prints the client as its endpoint, whatever the verb, so that no
// formatting of a Client can show its token.
func (c *Client) Format(f fmt.State, _ rune) { fmt.Fprintf(f, "vendorapi.Client(%s)", c.endpoint) }

// Stats returns the client's live counters.
func (c *Client) Stats() *Stats { return c.stats }

// Limiter returns the client's limiter, nil when pacing is disabled.
func (c *Client) Limiter() *AdaptiveLimiter { return c.lim }

// FetchPage fetches the page req names, retrying retryable failures with
// exponential backoff and full jitter (honouring Retry-After) inside the
// policy's budget. Every answer is reported to the limiter: a rate-limit
// answer pauses every chain sharing the limiter until its Retry-After (or,
// without one, this chain's backoff) has passed, and dense ones also cut
// the rate.
//
// It returns:
//   - an error wrapping ErrBadRequest, without a request, if req is invalid;
//   - on a fatal answer at once: ErrUnauthorized (401, 403: stop the run),
//     ErrBadRequest (400), ErrNotFound (404), or another *StatusError;
//   - ErrCursorExpired on a 410: restart the window's chain;
//   - ErrBudgetExhausted wrapping the last error when attempts or time ran
//     out: dead-letter the page;
//   - ctx's error when ctx ends.
//
// On error the Page still tells what happened: Request, Attempts, Elapsed,
// and the Status and RequestID of the last answer (zero when none came); it
// has no Envelope or Body. Use Classify to act on the error.
//
// FetchPage has no side effect but requests, so calling it again for the
// same req is safe. It is safe for concurrent use.
func (c *Client) FetchPage(ctx context.Context, req Request) (Page, error) {
	if err := req.Validate(); err != nil {
		return Page{Request: req}, fmt.Errorf("fetching %s: %w", req.describe(), err)
	}
	start := c.now()
	for n := 1; ; n++ {
		page, ev, err := c.attempt(ctx, req)
		ev.Request, ev.Attempt, ev.Err = req, n, err
		se, _ := errors.AsType[*StatusError](err)
		if c.lim != nil && ev.Status != 0 {
			var retryAfter time.Duration
			if se != nil {
				retryAfter = se.RetryAfter
			}
			if rps, cut := c.lim.Report(ev.RateLimited, retryAfter); cut {
				c.log.InfoContext(ctx, "vendor is rate limiting us: slowing down",
					slog.Float64(logKeyRPS, rps), slog.Int(logKeyStatus, ev.Status),
					slog.Duration(logKeyWait, retryAfter), slog.String(logKeyRequestID, ev.RequestID))
			}
		}
		if err == nil {
			page.Attempts = n
			page.FetchedAt = c.now()
			page.Elapsed = page.FetchedAt.Sub(start)
			c.stats.Pages.Add(1)
			c.notify(ctx, ev)
			return page, nil
		}
		failed := Page{Request: req, Attempts: n, Status: ev.Status, RequestID: ev.RequestID, Elapsed: c.now().Sub(start)}
		if ctxErr := ctx.Err(); ctxErr != nil {
			c.notify(ctx, ev)
			return failed, fmt.Errorf("fetching %s: stopped during attempt %d: %w", req.describe(), n, ctxErr)
		}
		if Classify(err) != ClassRetryable {
			c.notify(ctx, ev)
			return failed, fmt.Errorf("fetching %s (attempt %d): %w", req.describe(), n, err)
		}

		wait := c.policy.Backoff(n, c.jitter())
		if se != nil {
			wait = max(wait, se.RetryAfter)
		}
		if c.lim != nil && ev.RateLimited && (se == nil || se.RetryAfter <= 0) {
			// No Retry-After (Report paused every chain for one): the
			// token is over its limit all the same, so no chain sends
			// before this one retries.
			c.lim.Pause(wait)
		}
		elapsed := c.now().Sub(start)
		var why string
		switch {
		case n >= c.policy.MaxAttempts:
			why = fmt.Sprintf("after %d attempts in %s", n, elapsed.Round(time.Millisecond))
		case elapsed+wait > c.policy.MaxElapsed:
			why = fmt.Sprintf("after %d attempts in %s (next wait %s would pass the %s budget)",
				n, elapsed.Round(time.Millisecond), wait.Round(time.Millisecond), c.policy.MaxElapsed)
		}
		if why != "" {
			c.stats.Exhausted.Add(1)
			c.notify(ctx, ev)
			c.log.WarnContext(ctx, "giving up on page: retry budget exhausted",
				slog.String(logKeyWindow, req.Window.String()), slog.String(logKeyCursor, shortCursor(req.Cursor)),
				slog.Int(logKeyAttempt, n), slog.Duration(logKeyElapsed, elapsed), slog.String(logKeyErr, err.Error()))
			return failed, fmt.Errorf("fetching %s: %w %s: %w", req.describe(), ErrBudgetExhausted, why, err)
		}

		ev.Wait = wait
		c.stats.Retries.Add(1)
		c.notify(ctx, ev)
		c.log.DebugContext(ctx, "retrying page",
			slog.String(logKeyWindow, req.Window.String()), slog.String(logKeyCursor, shortCursor(req.Cursor)),
			slog.Int(logKeyAttempt, n), slog.Int(logKeyStatus, ev.Status), slog.String(logKeyRequestID, ev.RequestID),
			slog.Duration(logKeyWait, wait), slog.String(logKeyErr, err.Error()))
		if err := c.sleep(ctx, wait); err != nil {
			failed.Elapsed = c.now().Sub(start)
			return failed, fmt.Errorf("fetching %s: waiting before attempt %d: %w", req.describe(), n+1, err)
		}
	}
}

func (c *Client) notify(ctx context.Context, ev AttemptEvent) {
	if c.observe != nil {
		c.observe(ctx, ev)
	}
}

// attempt makes one request. Its error is classified by the caller.
func (c *Client) attempt(ctx context.Context, req Request) (Page, AttemptEvent, error) {
	var ev AttemptEvent
	began := time.Now()

	hreq, err := http.NewRequestWithContext(ctx, http.MethodGet, c.endpoint+"?"+req.Query().Encode(), nil)
	if err != nil {
		return Page{}, ev, fmt.Errorf("building request: %w", err)
	}
	hreq.Header.Set("Authorization", "Bearer "+c.token())
	hreq.Header.Set("Accept-Encoding", "gzip")
	hreq.Header.Set("Accept", "application/json")
	hreq.Header.Set("User-Agent", userAgent)

	c.stats.Requests.Add(1)
	resp, err := c.hc.Do(hreq)
	if err != nil {
		c.stats.TransportErrors.Add(1)
		ev.Latency = time.Since(began)
		return Page{}, ev, fmt.Errorf("sending request: %w", c.redactErr(err))
	}
	defer resp.Body.Close()
	ev.Status = resp.StatusCode
	ev.RequestID = shorten(c.redact(resp.Header.Get("X-Request-Id")), 128)
	if c.lim != nil {
		if v, err := strconv.ParseFloat(strings.TrimSpace(resp.Header.Get("X-RateLimit-Limit")), 64); err == nil {
			c.lim.Advise(v)
		}
	}

	ok := resp.StatusCode/100 == 2
	limit := c.maxBody
	if !ok {
		limit = maxErrorBodyBytes
	}
	body, readErr := readBody(resp, limit)
	ev.Bytes = int64(len(body))
	c.stats.BytesRead.Add(int64(len(body)))
	ev.Latency = time.Since(began)

	if !ok {
		// The status decides; a body cut short only shortens the message.
		se := c.statusError(resp, body)
		ev.RateLimited = se.RateLimited
		c.countStatus(se)
		return Page{}, ev, se
	}
	if readErr != nil {
		if errors.Is(readErr, ErrMalformedPage) {
			c.stats.Malformed.Add(1)
		} else {
			c.stats.TransportErrors.Add(1)
		}
		return Page{}, ev, fmt.Errorf("reading page body (status %d, request id %q): %w", resp.StatusCode, ev.RequestID, c.redactErr(readErr))
	}
	env, err := ParsePage(body)
	if err != nil {
		c.stats.Malformed.Add(1)
		if se, isStatus := errors.AsType[*StatusError](err); isStatus {
			// An error object in a 2xx. Wrap se itself: err's text was
			// fixed before fillStatus redacted the message.
			c.fillStatus(se, resp, body)
			ev.RateLimited = se.RateLimited
			if se.RateLimited {
				c.stats.RateLimited.Add(1)
			}
			return Page{}, ev, fmt.Errorf("reading page body: %w", se)
		}
		return Page{}, ev, fmt.Errorf("reading page body (status %d, request id %q): %w", resp.StatusCode, ev.RequestID, err)
	}
	return Page{
		Request:   req,
		Envelope:  env,
		Body:      body,
		RequestID: ev.RequestID,
		Status:    resp.StatusCode,
	}, ev, nil
}

func (c *Client) countStatus(se *StatusError) {
	if se.Code/100 == 5 {
		c.stats.ServerErrors.Add(1)
	}
	if se.RateLimited {
		c.stats.RateLimited.Add(1)
	}
}

// statusError builds the error of a non-2xx answer from its body (a JSON
// error object, or anything else, such as a load balancer's HTML page).
func (c *Client) statusError(resp *http.Response, body []byte) *StatusError {
	var w struct {
		Error json.RawMessage `json:"error"`
	}
	var se *StatusError
	if json.Unmarshal(body, &w) == nil && !isNull(w.Error) {
		se = errorObject(resp.StatusCode, w.Error)
	} else {
		se = &StatusError{Code: resp.StatusCode, Message: snippet(body)}
	}
	c.fillStatus(se, resp, body)
	return se
}

// fillStatus adds the response's headers to se, detects rate limiting in
// the whole body, and redacts and shortens the message.
func (c *Client) fillStatus(se *StatusError, resp *http.Response, body []byte) {
	se.RequestID = shorten(c.redact(resp.Header.Get("X-Request-Id")), 128)
	if d, ok := ParseRetryAfter(resp.Header.Get("Retry-After"), c.now()); ok {
		se.RetryAfter = d
	} else if resp.StatusCode == http.StatusTooManyRequests {
		if d, ok := parseSeconds(strings.TrimSpace(resp.Header.Get("X-RateLimit-Reset"))); ok {
			se.RetryAfter = min(d, maxRetryAfter)
		}
	}
	se.RateLimited = rateLimitSignal(se.Code, se.ErrCode, se.Message) ||
		rateLimitSignal(se.Code, "", string(body))
	se.ErrCode = shorten(c.redact(se.ErrCode), 64)
	se.Message = shorten(c.redact(se.Message), maxMessageLen)
}

// redact removes the token from vendor text, in case a server echoes it.
func (c *Client) redact(s string) string {
	if s == "" || !strings.Contains(s, c.token()) {
		return s
	}
	return strings.ReplaceAll(s, c.token(), "[redacted]")
}

// redactErr guards against the token in errors from the HTTP stack; they
// are not expected to carry it, since it travels only in a header.
func (c *Client) redactErr(err error) error {
	if err == nil || !strings.Contains(err.Error(), c.token()) {
		return err
	}
	return &redactedError{msg: c.redact(err.Error()), err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// readBody reads the body, decoding gzip, up to limit bytes; more is an
// error wrapping ErrBodyTooLarge and ErrMalformedPage. It returns what it
// read even on error.
func readBody(resp *http.Response, limit int64) ([]byte, error) {
	var r io.Reader = resp.Body
	switch enc := strings.ToLower(strings.TrimSpace(resp.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			return nil, fmt.Errorf("opening gzip body: %w: %w", ErrMalformedPage, err)
		}
		defer zr.Close()
		r = zr
	default:
		return nil, fmt.Errorf("reading body: %w: content encoding %q was not asked for", ErrMalformedPage, enc)
	}
	body, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		if isGzipFormatErr(err) {
			return body, fmt.Errorf("reading gzip body: %w: %w", ErrMalformedPage, err)
		}
		return body, fmt.Errorf("reading body: %w", err)
	}
	if int64(len(body)) > limit {
		return body[:limit], fmt.Errorf("reading body: %w: %w: more than %d bytes", ErrMalformedPage, ErrBodyTooLarge, limit)
	}
	return body, nil
}

func isGzipFormatErr(err error) bool {
	if errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader) {
		return true
	}
	return strings.Contains(err.Error(), "flate: corrupt input")
}

// snippet cleans a non-JSON error body for a message: tags dropped,
// whitespace collapsed, control characters removed.
func snippet(body []byte) string {
	var b strings.Builder
	inTag, space := false, false
	for _, r := range string(body) {
		switch {
		case r == '<':
			inTag = true
		case r == '>' && inTag:
			inTag = false
			space = true
		case inTag:
		case r == ' ' || r == '\t' || r == '\n' || r == '\r':
			space = true
		case r < 0x20 || r == 0x7f || r == '\uFFFD':
		default:
			if space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space = false
			b.WriteRune(r)
		}
		if b.Len() > 4*maxMessageLen {
			break
		}
	}
	return b.String()
}

// shorten cuts s to at most n bytes on a rune boundary, marking the cut.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && cut < len(s) && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "…"
}

func (r Request) describe() string {
	if r.Cursor == "" {
		return fmt.Sprintf("first page of window %s", r.Window)
	}
	return fmt.Sprintf("page of window %s at cursor %s", r.Window, shortCursor(r.Cursor))
}

// shortCursor keeps log lines and error messages short; cursors are opaque
// and not secret.
func shortCursor(c string) string { return shorten(c, 24) }

// timeoutTransport bounds one request, body included, without counting the
// limiter's wait (it sits below the limiter in the chain).
type timeoutTransport struct {
	timeout time.Duration
	next    http.RoundTripper
}

func (t *timeoutTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(req.Context(), t.timeout)
	resp, err := t.next.RoundTrip(req.WithContext(ctx))
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}
