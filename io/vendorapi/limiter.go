package vendorapi

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Tuning of AdaptiveLimiter: multiplicative decrease on a rate-limit answer,
// additive increase after quiet periods, as TCP does with congestion.
const (
	// LimiterDecrease multiplies the rate on a rate-limit answer.
	LimiterDecrease = 0.7
	// LimiterDecreaseGap is the least time between two decreases: a burst of
	// 429s from requests that were all in flight together is one signal,
	// not one per request.
	LimiterDecreaseGap = time.Second
	// LimiterFloorFraction and LimiterMinFloor give the lowest rate:
	// max(LimiterMinFloor, LimiterFloorFraction × the configured rate), and
	// never above the configured rate.
	LimiterFloorFraction = 0.05
	LimiterMinFloor      = 1.0
	// LimiterQuiet is how long the rate must go without a rate-limit answer
	// before each step up.
	LimiterQuiet = 10 * time.Second
	// LimiterStepFraction of the configured rate is added per step up.
	LimiterStepFraction = 0.1
	// LimiterMaxPause caps how long one Retry-After pauses the limiter.
	LimiterMaxPause = 5 * time.Minute
	// LimiterSignalWindow and LimiterSignalThreshold decide when Report
	// takes rate-limit answers for a real limit and cuts the rate: when at
	// least LimiterSignalThreshold of the last LimiterSignalWindow answered
	// requests were rate limited (10%). The vendor also sends 429s on
	// single pages; a few percent of scattered ones stay below this, so
	// they seldom cut the rate. Each one's Retry-After still pauses every
	// chain: the vendor's limit is per token, not per chain. Those pauses
	// thin out the 429s of a real lower limit too (fewer requests meet it
	// before the next pause), so the threshold cannot be high: at 16% a
	// real limit of a third of the configured rate was never found
	// (TestAdaptiveLimiterFindsALowerRealLimit). Measured choices, with
	// every chain pausing on a Retry-After:
	//   - 6 of 50: 4% of random 429s cut the rate 4 times in 5 minutes;
	//     the paced benchmark met 0.47% 429s;
	//   - 12 of 100: random 4% never cut it, but the paced benchmark met
	//     1.3-1.4% 429s, over its 1% target;
	//   - 10 of 100 (this): random 4% cut it once and it recovered; the
	//     paced benchmark met 0.88% and 1.01%; a real limit of a third of
	//     the rate met 7% 429s with 98% of it used.
	LimiterSignalWindow    = 100
	LimiterSignalThreshold = 10
)

// AdaptiveLimiter paces requests to the vendor below a configured rate, and
// below the vendor's real limit when that turns out to be lower. Callers
// Report every answered request. Every rate-limit answer's Retry-After
// pauses all callers until it has passed (a process-wide "not before";
// Pause sets one for a rate-limit answer without Retry-After). When
// rate-limit answers become dense (see LimiterSignalThreshold), or on an
// explicit SlowDown, the limiter also cuts the rate by LimiterDecrease (at
// most once per LimiterDecreaseGap, down to a floor). After each
// LimiterQuiet without a cut, the rate climbs back by LimiterStepFraction
// of the configured rate, never above it. The burst shrinks in proportion
// to the rate.
//
// One limiter must serve every request made with one token in a process:
// use SharedLimiter. It is safe for concurrent use. Time is read with
// time.Now, so testing/synctest controls it.
type AdaptiveLimiter struct {
	max      rate.Limit
	maxBurst int
	floor    rate.Limit
	lim      *rate.Limiter

	mu          sync.Mutex
	cur         rate.Limit
	pausedUntil time.Time
	lastDecr    time.Time // last decrease, zero if none
	lastChange  time.Time // last decrease or step up; recovery counts from it
	decreases   int64
	// The last LimiterSignalWindow reports, as a ring.
	ring    [LimiterSignalWindow]bool
	ringPos int
	limited int // true entries in ring
}

// NewAdaptiveLimiter returns a limiter allowing rps requests per second with
// bursts of burst. It panics if rps or burst is not positive (a programmer
// error; configuration is validated before this is called).
func NewAdaptiveLimiter(rps float64, burst int) *AdaptiveLimiter {
	if !(rps > 0) || math.IsInf(rps, 0) || burst < 1 {
		panic(fmt.Sprintf("vendorapi: NewAdaptiveLimiter(%v, %d): rate and burst must be positive", rps, burst))
	}
	floor := min(max(LimiterMinFloor, LimiterFloorFraction*rps), rps)
	return &AdaptiveLimiter{
		max:      rate.Limit(rps),
		maxBurst: burst,
		floor:    rate.Limit(floor),
		cur:      rate.Limit(rps),
		lim:      rate.NewLimiter(rate.Limit(rps), burst),
	}
}

var (
	sharedMu       sync.Mutex
	sharedLimiters = map[string]*AdaptiveLimiter{}
)

// SharedLimiter returns the process's limiter for key (name the vendor
// account, never the token itself) at rps and burst, creating it on first
// use. Calls with the same key, rps and burst get the same limiter, so all
// chains of one worker process share one budget; a limiter per DoFn instance
// would multiply the request rate. This map is the package's one global.
func SharedLimiter(key string, rps float64, burst int) *AdaptiveLimiter {
	k := fmt.Sprintf("%s|%g|%d", key, rps, burst)
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if l, ok := sharedLimiters[k]; ok {
		return l
	}
	l := NewAdaptiveLimiter(rps, burst)
	sharedLimiters[k] = l
	return l
}

// Wait blocks until a request may be sent: past any pause, then for a
// token, then past any pause that began while it waited for the token (the
// token is kept). Returns ctx's error if ctx ends first; when the wait
// cannot end before ctx's deadline it returns at once with an error
// wrapping context.DeadlineExceeded.
func (l *AdaptiveLimiter) Wait(ctx context.Context) error {
	if err := l.waitPause(ctx); err != nil {
		return err
	}
	if err := l.lim.Wait(ctx); err != nil {
		if ctx.Err() == nil {
			// rate refuses a wait that would pass the deadline without
			// waiting: report it as the deadline it is.
			return fmt.Errorf("waiting for the rate limiter: %w: %w", err, context.DeadlineExceeded)
		}
		return fmt.Errorf("waiting for the rate limiter: %w", err)
	}
	return l.waitPause(ctx)
}

// waitPause sleeps, under ctx, until no pause is in force.
func (l *AdaptiveLimiter) waitPause(ctx context.Context) error {
	for {
		l.mu.Lock()
		now := time.Now()
		l.recoverLocked(now)
		pause := l.pausedUntil.Sub(now)
		l.mu.Unlock()
		if pause <= 0 {
			return nil
		}
		if err := sleepCtx(ctx, pause); err != nil {
			return fmt.Errorf("waiting out a rate-limit pause: %w", err)
		}
	}
}

// Pause makes every Wait of every caller wait until d from now (capped at
// LimiterMaxPause) before its request goes out. A pause never shortens one
// already in force. Use it for a rate-limit answer without Retry-After,
// with the wait the retry policy chose for it.
func (l *AdaptiveLimiter) Pause(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pauseLocked(time.Now(), d)
}

func (l *AdaptiveLimiter) pauseLocked(now time.Time, d time.Duration) {
	if d <= 0 {
		return
	}
	if until := now.Add(min(d, LimiterMaxPause)); until.After(l.pausedUntil) {
		l.pausedUntil = until
	}
}

// Report records the outcome of one answered request: limited is true for a
// rate-limit answer, which asked to wait retryAfter. A rate-limit answer
// pauses every caller of Wait for retryAfter (see Pause), whatever the
// recent reports: the vendor's limit is per token. When at least
// LimiterSignalThreshold of the last LimiterSignalWindow reports were rate
// limited, it also acts as SlowDown(retryAfter) and, if that cut the rate,
// starts counting afresh. It returns the rate in force and whether it was
// cut.
func (l *AdaptiveLimiter) Report(limited bool, retryAfter time.Duration) (rps float64, cut bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ring[l.ringPos] {
		l.limited--
	}
	l.ring[l.ringPos] = limited
	l.ringPos = (l.ringPos + 1) % LimiterSignalWindow
	if !limited {
		return float64(l.cur), false
	}
	l.pauseLocked(time.Now(), retryAfter)
	l.limited++
	if l.limited < LimiterSignalThreshold {
		return float64(l.cur), false
	}
	rps, cut = l.slowDownLocked(time.Now(), retryAfter)
	if cut {
		l.ring = [LimiterSignalWindow]bool{}
		l.limited = 0
	}
	return rps, cut
}

// SlowDown cuts the rate now, whatever the recent reports: use it when a
// rate limit is certain. It pauses every caller of Wait for retryAfter
// (capped at LimiterMaxPause; zero for no pause) and, unless the rate was
// cut less than LimiterDecreaseGap ago, cuts the rate and drains the bucket.
// It returns the rate now in force in requests per second and whether this
// call cut it.
func (l *AdaptiveLimiter) SlowDown(retryAfter time.Duration) (rps float64, cut bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.slowDownLocked(time.Now(), retryAfter)
}

func (l *AdaptiveLimiter) slowDownLocked(now time.Time, retryAfter time.Duration) (rps float64, cut bool) {
	l.pauseLocked(now, retryAfter)
	if !l.lastDecr.IsZero() && now.Sub(l.lastDecr) < LimiterDecreaseGap {
		l.lastChange = now // still being limited: no recovery yet
		return float64(l.cur), false
	}
	l.setLocked(now, max(l.floor, l.cur*LimiterDecrease))
	l.lastDecr = now
	l.decreases++
	// Tokens saved up at the old rate would go out at once and meet more
	// 429s: spend them.
	if n := int(l.lim.TokensAt(now)); n > 0 {
		l.lim.ReserveN(now, n)
	}
	return float64(l.cur), true
}

// Advise lowers the rate to an advertised limit (X-RateLimit-Limit) when it
// is below the rate in force; an advertised limit at or above it changes
// nothing, and the configured rate is never exceeded.
func (l *AdaptiveLimiter) Advise(advertisedRPS float64) {
	if !(advertisedRPS > 0) {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if r := rate.Limit(advertisedRPS); r < l.cur {
		l.setLocked(time.Now(), max(l.floor, r))
	}
}

// Rate returns the rate in force, in requests per second.
func (l *AdaptiveLimiter) Rate() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recoverLocked(time.Now())
	return float64(l.cur)
}

// LimiterState is a snapshot of an AdaptiveLimiter for progress output.
type LimiterState struct {
	RPS, MaxRPS float64
	Burst       int
	PausedUntil time.Time // zero or past when not paused
	Decreases   int64     // rate cuts since creation
}

// State returns a snapshot of the limiter.
func (l *AdaptiveLimiter) State() LimiterState {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recoverLocked(time.Now())
	return LimiterState{
		RPS:         float64(l.cur),
		MaxRPS:      float64(l.max),
		Burst:       l.lim.Burst(),
		PausedUntil: l.pausedUntil,
		Decreases:   l.decreases,
	}
}

// recoverLocked steps the rate up once per LimiterQuiet since the last change.
func (l *AdaptiveLimiter) recoverLocked(now time.Time) {
	if l.cur >= l.max || l.lastChange.IsZero() {
		return
	}
	steps := int64(now.Sub(l.lastChange) / LimiterQuiet)
	if steps <= 0 {
		return
	}
	next := min(l.max, l.cur+rate.Limit(float64(steps)*LimiterStepFraction*float64(l.max)))
	last := l.lastChange.Add(time.Duration(steps) * LimiterQuiet)
	l.setLocked(now, next)
	l.lastChange = last
}

// setLocked sets the rate and a burst in proportion to it.
func (l *AdaptiveLimiter) setLocked(now time.Time, r rate.Limit) {
	l.cur = r
	l.lastChange = now
	l.lim.SetLimitAt(now, r)
	b := max(1, int(math.Round(float64(l.maxBurst)*float64(r/l.max))))
	l.lim.SetBurstAt(now, b)
}

// Transport returns a RoundTripper that waits on l with the request's context
// before handing the request to next (http.DefaultTransport when nil).
func (l *AdaptiveLimiter) Transport(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return &limitTransport{lim: l, next: next}
}

type limitTransport struct {
	lim  *AdaptiveLimiter
	next http.RoundTripper
}

func (t *limitTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := t.lim.Wait(req.Context()); err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	return t.next.RoundTrip(req)
}
