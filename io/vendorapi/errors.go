package vendorapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"
)

var (
	// ErrUnauthorized means the vendor refused the token (401 or 403). It is
	// fatal: stop the run loudly. Nothing was fetched, nothing is lost.
	ErrUnauthorized = errors.New("vendor refused the token")
	// ErrBadRequest means the request itself is wrong (a 400 from the vendor,
	// or a Request the client refuses to send). It is fatal: retrying the
	// same request cannot succeed.
	ErrBadRequest = errors.New("bad request")
	// ErrNotFound is a 404: the endpoint does not exist at the base URL. Fatal.
	ErrNotFound = errors.New("vendor endpoint not found")
	// ErrCursorExpired is a 410: the cursor outlived its validity. The caller
	// restarts the window's chain from its first page.
	ErrCursorExpired = errors.New("cursor expired")
	// ErrMalformedPage means a response claimed success but its body is not a
	// usable page: truncated or invalid JSON, an error object, no data array,
	// has_more without next_cursor, an undecodable or oversized body. The
	// vendor is observed to send such bodies now and then, so it is retryable.
	ErrMalformedPage = errors.New("malformed page")
	// ErrBudgetExhausted wraps the last error of a page whose retry budget
	// (attempts or time) ran out. The caller dead-letters the page. An error
	// wrapping it is neither Retryable nor Fatal: its Class is ClassExhausted.
	ErrBudgetExhausted = errors.New("retry budget exhausted")
)

// StatusError is a non-success answer from the vendor: any status but 2xx,
// or a 2xx whose body is an error object (Code 200, unwrapping to
// ErrMalformedPage). It never holds the token: vendor text that echoes it is
// redacted before it is stored here.
type StatusError struct {
	// Code is the HTTP status code.
	Code int
	// ErrCode is error.code from a JSON error body ("rate_limited"), or
	// empty when the body was not JSON (an HTML page from a load balancer).
	ErrCode string
	// Message is error.message, or a short cleaned snippet of a non-JSON body.
	Message string
	// RetryAfter is the wait the vendor asked for (Retry-After, or
	// X-RateLimit-Reset on a 429 without it); zero when none was given.
	RetryAfter time.Duration
	// RequestID is the X-Request-Id response header, for vendor support.
	RequestID string
	// RateLimited reports a rate-limit answer: a 429, or a 5xx or 200 error
	// object whose code is rate_limited or whose message says "too many
	// requests".
	RateLimited bool
}

// Error describes the answer; it names the status, the vendor's code and
// message, the request id and the wait asked for.
func (e *StatusError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "vendor answered %d", e.Code)
	if t := http.StatusText(e.Code); t != "" {
		b.WriteString(" " + t)
	}
	if e.Code/100 == 2 {
		b.WriteString(" with an error body")
	}
	if e.ErrCode != "" {
		fmt.Fprintf(&b, " (%s)", e.ErrCode)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %q", e.Message)
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, ", request id %s", e.RequestID)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, ", retry after %s", e.RetryAfter)
	}
	return b.String()
}

// Unwrap maps the status code to this package's sentinel, so that
// errors.Is(err, ErrUnauthorized) and the like work on a StatusError.
func (e *StatusError) Unwrap() error {
	switch {
	case e.Code == http.StatusUnauthorized, e.Code == http.StatusForbidden:
		return ErrUnauthorized
	case e.Code == http.StatusBadRequest:
		return ErrBadRequest
	case e.Code == http.StatusNotFound:
		return ErrNotFound
	case e.Code == http.StatusGone:
		return ErrCursorExpired
	case e.Code/100 == 2:
		return ErrMalformedPage
	}
	return nil
}

// rateLimitSignal reports whether an answer means "over the rate": a 429, or
// (as observed) another status whose code is rate_limited or whose text says
// "too many requests".
func rateLimitSignal(code int, errCode, text string) bool {
	return code == http.StatusTooManyRequests ||
		strings.EqualFold(errCode, "rate_limited") ||
		strings.Contains(strings.ToLower(text), "too many requests")
}

// Class is what a caller should do about an error.
type Class int

const (
	// ClassNone is the class of a nil error.
	ClassNone Class = iota
	// ClassRetryable: a transient failure; try the same request again later.
	ClassRetryable
	// ClassFatal: retrying cannot help (bad token, bad request, a cancelled
	// context, an unknown failure); stop and report.
	ClassFatal
	// ClassCursorExpired: restart the window's chain from its first page.
	ClassCursorExpired
	// ClassExhausted: the page's retry budget ran out; dead-letter the page.
	ClassExhausted
)

// String returns the class name in lower case.
func (c Class) String() string {
	switch c {
	case ClassNone:
		return "none"
	case ClassRetryable:
		return "retryable"
	case ClassFatal:
		return "fatal"
	case ClassCursorExpired:
		return "cursor_expired"
	case ClassExhausted:
		return "exhausted"
	}
	return fmt.Sprintf("Class(%d)", int(c))
}

// Classify sorts err into a Class. It is the one place where the client
// decides retryable against fatal, and FetchPage retries exactly the errors
// it classes ClassRetryable:
//   - ErrBudgetExhausted anywhere in the chain: ClassExhausted, checked
//     first, because it wraps the (retryable) last error.
//   - 410 / ErrCursorExpired: ClassCursorExpired.
//   - 408, 425, 429 and every 5xx: retryable; every other status: fatal.
//   - ErrMalformedPage, io.ErrUnexpectedEOF, io.EOF, connection resets,
//     refused or aborted connections, broken pipes, network errors and
//     timeouts (context.DeadlineExceeded from a per-request timeout):
//     retryable.
//   - context.Canceled and anything unrecognised: fatal.
func Classify(err error) Class {
	if err == nil {
		return ClassNone
	}
	if errors.Is(err, ErrBudgetExhausted) {
		return ClassExhausted
	}
	if errors.Is(err, ErrCursorExpired) {
		return ClassCursorExpired
	}
	if se, ok := errors.AsType[*StatusError](err); ok {
		return classifyStatus(se.Code)
	}
	if errors.Is(err, context.Canceled) {
		return ClassFatal
	}
	switch {
	case errors.Is(err, ErrMalformedPage),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, io.EOF),
		errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNABORTED),
		errors.Is(err, syscall.EPIPE),
		errors.Is(err, syscall.ETIMEDOUT):
		return ClassRetryable
	}
	if _, ok := errors.AsType[net.Error](err); ok {
		return ClassRetryable
	}
	return ClassFatal
}

func classifyStatus(code int) Class {
	switch {
	case code == http.StatusGone:
		return ClassCursorExpired
	case code/100 == 2, // an error object in a 200: observed, transient
		code == http.StatusRequestTimeout,
		code == http.StatusTooEarly,
		code == http.StatusTooManyRequests,
		code/100 == 5:
		return ClassRetryable
	}
	return ClassFatal
}

// Retryable reports whether the same request may succeed if tried again:
// 429, 5xx, timeouts, connection resets, io.ErrUnexpectedEOF and malformed
// page bodies are; 400, 401, 403, 404, 410, a cancelled context and an
// exhausted budget are not. It is Classify(err) == ClassRetryable.
func Retryable(err error) bool { return Classify(err) == ClassRetryable }
