package vendorapi

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Defaults of RetryPolicy. The time budget is generous on purpose: the vendor
// is observed to fail some pages for minutes and then recover, and such a page
// must not be dead-lettered. The attempt cap is set so that, with full jitter,
// the time budget is what normally ends the retries.
const (
	DefaultMaxAttempts    = 50
	DefaultMaxElapsed     = 5 * time.Minute
	DefaultBaseDelay      = 500 * time.Millisecond
	DefaultMaxDelay       = 30 * time.Second
	DefaultRequestTimeout = 60 * time.Second
)

// maxRetryAfter bounds a parsed Retry-After so arithmetic cannot overflow; a
// wait this long is past any sane budget anyway.
const maxRetryAfter = time.Hour

// RetryPolicy bounds the retries of one page. A zero field takes its default.
type RetryPolicy struct {
	// MaxAttempts is the most requests for one page, the first included.
	// 1 means no retry. Default DefaultMaxAttempts.
	MaxAttempts int
	// MaxElapsed is the page's time budget, measured from the start of its
	// first attempt: no attempt starts later than that, and a wait that would
	// end past it is not taken. Default DefaultMaxElapsed.
	MaxElapsed time.Duration
	// BaseDelay is the backoff cap before the first retry; it doubles per
	// retry up to MaxDelay. Defaults DefaultBaseDelay and DefaultMaxDelay.
	BaseDelay, MaxDelay time.Duration
	// RequestTimeout bounds one attempt, from sending the request to the end
	// of its body; it does not include waiting for the rate limiter.
	// Default DefaultRequestTimeout.
	RequestTimeout time.Duration
}

// DefaultRetryPolicy returns the policy with every default filled in.
func DefaultRetryPolicy() RetryPolicy { return RetryPolicy{}.withDefaults() }

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts == 0 {
		p.MaxAttempts = DefaultMaxAttempts
	}
	if p.MaxElapsed == 0 {
		p.MaxElapsed = DefaultMaxElapsed
	}
	if p.BaseDelay == 0 {
		p.BaseDelay = DefaultBaseDelay
	}
	if p.MaxDelay == 0 {
		p.MaxDelay = DefaultMaxDelay
	}
	if p.RequestTimeout == 0 {
		p.RequestTimeout = DefaultRequestTimeout
	}
	return p
}

// validate checks a policy after defaults were applied.
func (p RetryPolicy) validate() error {
	switch {
	case p.MaxAttempts < 1:
		return fmt.Errorf("checking retry policy: max attempts %d is below 1", p.MaxAttempts)
	case p.MaxElapsed < 0, p.BaseDelay < 0, p.MaxDelay < 0, p.RequestTimeout < 0:
		return fmt.Errorf("checking retry policy: negative duration in %+v", p)
	case p.BaseDelay > p.MaxDelay:
		return fmt.Errorf("checking retry policy: base delay %s above max delay %s", p.BaseDelay, p.MaxDelay)
	}
	return nil
}

// Backoff returns the wait before retry number retry (1 for the first retry)
// under full jitter: jitter × min(MaxDelay, BaseDelay × 2^(retry-1)), with
// jitter drawn uniformly from [0, 1). Zero fields take their defaults; a
// jitter outside [0, 1) is clamped into it.
func (p RetryPolicy) Backoff(retry int, jitter float64) time.Duration {
	p = p.withDefaults()
	ceiling := p.BaseDelay
	for i := 1; i < retry && ceiling < p.MaxDelay; i++ {
		ceiling *= 2
	}
	ceiling = min(ceiling, p.MaxDelay)
	switch {
	case jitter < 0 || jitter != jitter: // NaN too
		jitter = 0
	case jitter >= 1:
		jitter = 0.999999
	}
	return time.Duration(jitter * float64(ceiling))
}

// ParseRetryAfter reads a Retry-After header value: delta-seconds ("120"),
// an HTTP-date (RFC 9110, relative to now; a date in the past means 0), or
// the observed fractional form ("2.5") that RFC 9110 does not allow. It
// reports false for an empty or unreadable value. Waits are capped at an
// hour.
func ParseRetryAfter(value string, now time.Time) (time.Duration, bool) {
	value = strings.TrimSpace(value)
	if value == "" {
		return 0, false
	}
	if d, ok := parseSeconds(value); ok {
		return min(d, maxRetryAfter), true
	}
	t, err := http.ParseTime(value)
	if err != nil {
		return 0, false
	}
	return min(max(t.Sub(now), 0), maxRetryAfter), true
}

// parseSeconds accepts digits with at most one fractional part
// ("2", "2.5", ".5", "2."); no sign, exponent, hex or Inf.
func parseSeconds(v string) (time.Duration, bool) {
	whole, frac, hasDot := strings.Cut(v, ".")
	if whole == "" && frac == "" {
		return 0, false
	}
	if !allDigits(whole) || !allDigits(frac) {
		return 0, false
	}
	if len(whole) > 6 { // more than 11 days: cap without overflowing
		return maxRetryAfter, true
	}
	secs, _ := strconv.Atoi("0" + whole)
	d := time.Duration(secs) * time.Second
	if hasDot && frac != "" {
		if len(frac) > 9 {
			frac = frac[:9]
		}
		nanos, _ := strconv.Atoi(frac + strings.Repeat("0", 9-len(frac)))
		d += time.Duration(nanos)
	}
	return d, true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// sleepCtx waits d or until ctx is done, whichever comes first, and returns
// ctx's error in the latter case.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
