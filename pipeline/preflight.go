package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/marketplace/settle/io/vendorapi"
)

// ErrPreflight is wrapped by every error of Preflight: the run was refused
// before it created anything (data directory, lease, runner). Its error
// text is the cause and what to do; it never holds the token.
var ErrPreflight = errors.New("preflight check failed")

// preflightError is a cause and the operator's next step.
type preflightError struct {
	err  error
	hint string
}

func (e *preflightError) Error() string {
	if e.hint == "" {
		return e.err.Error()
	}
	return e.err.Error() + ": " + e.hint
}

func (e *preflightError) Unwrap() []error { return []error{e.err, ErrPreflight} }

func refuse(err error, hint string) error { return &preflightError{err: err, hint: hint} }

// preflightTimeout bounds the one request of Preflight.
const preflightTimeout = 10 * time.Second

// Preflight checks what can be checked before a run that reads the vendor
// starts anything: the configuration (flags consistent, an explicit To not
// later than LatestTo), the vendor token present in cfg.TokenEnv, and the
// vendor reachable and accepting the token, with ONE request of one record
// (no retry, no pacing). It creates no file and takes no lease.
//
// A vendor that answers with a 429 or 5xx, or slowly, passes: the run's
// retries deal with those. A refused or timed-out connection, an unknown
// host, a 401/403 and a 404 fail. With cfg.TokenSecret set (the cloud), the token lives in
// Secret Manager and only the configuration is checked.
//
// Every error wraps ErrPreflight; errors of the range also wrap
// ErrInvalidRange.
func Preflight(ctx context.Context, cfg Config, now time.Time) error {
	if err := cfg.Validate(); err != nil {
		return refuse(err, "fix the flag and run the same command again")
	}
	if err := checkTo(cfg, now); err != nil {
		return refuse(err, "")
	}
	if cfg.VendorURL == "" {
		return refuse(errors.New("no vendor URL"), "pass --vendor-url (or --simulate)")
	}
	if cfg.TokenSecret != "" {
		return nil
	}
	token := os.Getenv(cfg.TokenEnv)
	if token == "" {
		return refuse(fmt.Errorf("environment variable %s is empty", cfg.TokenEnv),
			"export the vendor API token there (it is never printed)")
	}
	c, err := vendorapi.New(cfg.VendorURL, token, vendorapi.WithLimiter(nil),
		vendorapi.WithLogger(slog.New(slog.DiscardHandler)),
		vendorapi.WithRetryPolicy(vendorapi.RetryPolicy{MaxAttempts: 1, MaxElapsed: preflightTimeout, RequestTimeout: preflightTimeout}))
	if err != nil {
		return refuse(err, "check --vendor-url")
	}
	page, err := c.FetchPage(ctx, vendorapi.Request{Window: probeWindow(cfg, now), Limit: 1})
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, vendorapi.ErrUnauthorized):
		return refuse(fmt.Errorf("the vendor at %s refused the token (HTTP %d)", cfg.VendorURL, page.Status),
			fmt.Sprintf("check that %s holds a valid vendor API token", cfg.TokenEnv))
	case errors.Is(err, vendorapi.ErrNotFound):
		return refuse(fmt.Errorf("the vendor at %s has no settlements endpoint (HTTP 404)", cfg.VendorURL),
			"check --vendor-url: the base URL, without /v1/settlements")
	case page.Status == 0 && unreachable(err):
		return refuse(fmt.Errorf("the vendor at %s is unreachable: %s", cfg.VendorURL, vendorCause(err)),
			"check --vendor-url and that the vendor (or the network to it) is up")
	}
	// A 429, a 5xx, a malformed page, a slow answer: the vendor is there;
	// the run's retries deal with the rest.
	return nil
}

// unreachable reports an error of connecting: a refused or timed-out dial,
// an unknown host. Not a slow or cut answer from a vendor that accepted
// the connection.
func unreachable(err error) bool {
	if _, ok := errors.AsType[*net.DNSError](err); ok {
		return true
	}
	op, ok := errors.AsType[*net.OpError](err)
	return ok && op.Op == "dial"
}

// probeWindow is a window of at most an hour in the run's range, or the
// last minute before LatestTo when the range is derived.
func probeWindow(cfg Config, now time.Time) vendorapi.Window {
	end := LatestTo(now, cfg.VisibilityLag).Truncate(time.Minute)
	start := end.Add(-time.Minute)
	if !cfg.From.IsZero() {
		start = cfg.From.UTC()
		end = start.Add(time.Hour)
		if !cfg.To.IsZero() && cfg.To.Before(end) {
			end = cfg.To.UTC()
		}
	}
	return vendorapi.Window{Start: start, End: end}
}
