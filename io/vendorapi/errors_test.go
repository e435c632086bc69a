package vendorapi_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/marketplace/settle/io/vendorapi"
)

func TestClassify(t *testing.T) {
	status := func(code int) error { return &vendorapi.StatusError{Code: code} }
	wrap := func(err error) error { return fmt.Errorf("fetching page 3: %w", err) }
	tests := []struct {
		name string
		err  error
		want vendorapi.Class
	}{
		{"no error has no class", nil, vendorapi.ClassNone},
		{"a 429 is retried", status(429), vendorapi.ClassRetryable},
		{"a 500 is retried", status(500), vendorapi.ClassRetryable},
		{"a 502 is retried", status(502), vendorapi.ClassRetryable},
		{"a 503 is retried", status(503), vendorapi.ClassRetryable},
		{"a 504 is retried", status(504), vendorapi.ClassRetryable},
		{"a 408 is retried", status(408), vendorapi.ClassRetryable},
		{"an error object in a 200 is retried", status(200), vendorapi.ClassRetryable},
		{"a 400 is fatal", status(400), vendorapi.ClassFatal},
		{"a 401 is fatal", status(401), vendorapi.ClassFatal},
		{"a 403 is fatal", status(403), vendorapi.ClassFatal},
		{"a 404 is fatal", status(404), vendorapi.ClassFatal},
		{"a 405 is fatal", status(405), vendorapi.ClassFatal},
		{"a 410 restarts the chain", status(410), vendorapi.ClassCursorExpired},
		{"a wrapped 410 restarts the chain", wrap(status(410)), vendorapi.ClassCursorExpired},
		{"the cursor-expired sentinel restarts the chain", vendorapi.ErrCursorExpired, vendorapi.ClassCursorExpired},
		{"a wrapped 503 is retried", wrap(status(503)), vendorapi.ClassRetryable},
		{"an unexpected EOF is retried", wrap(io.ErrUnexpectedEOF), vendorapi.ClassRetryable},
		{"an EOF from a closed connection is retried", &url.Error{Op: "Get", URL: "http://x", Err: io.EOF}, vendorapi.ClassRetryable},
		{"a connection reset is retried", wrap(&net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}), vendorapi.ClassRetryable},
		{"a refused connection is retried", wrap(&net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}), vendorapi.ClassRetryable},
		{"a broken pipe is retried", wrap(syscall.EPIPE), vendorapi.ClassRetryable},
		{"a per-request timeout is retried", &url.Error{Op: "Get", URL: "http://x", Err: context.DeadlineExceeded}, vendorapi.ClassRetryable},
		{"a DNS failure is retried", &net.DNSError{Err: "no such host", Name: "vendor.example", IsTemporary: true}, vendorapi.ClassRetryable},
		{"a malformed page is retried", wrap(vendorapi.ErrMalformedPage), vendorapi.ClassRetryable},
		{"a body too large is retried", fmt.Errorf("%w: %w", vendorapi.ErrMalformedPage, vendorapi.ErrBodyTooLarge), vendorapi.ClassRetryable},
		{"a cancelled context is fatal", wrap(context.Canceled), vendorapi.ClassFatal},
		{"an unknown error is fatal", errors.New("x509: certificate signed by unknown authority"), vendorapi.ClassFatal},
		{"the unauthorized sentinel is fatal", vendorapi.ErrUnauthorized, vendorapi.ClassFatal},
		{"the bad-request sentinel is fatal", vendorapi.ErrBadRequest, vendorapi.ClassFatal},
		{"an exhausted budget is dead-lettered, not retried", fmt.Errorf("page: %w after 5 attempts: %w", vendorapi.ErrBudgetExhausted, status(503)), vendorapi.ClassExhausted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := vendorapi.Classify(tt.err); got != tt.want {
				t.Errorf("Classify(%v) = %v, want %v", tt.err, got, tt.want)
			}
			if got, want := vendorapi.Retryable(tt.err), tt.want == vendorapi.ClassRetryable; got != want {
				t.Errorf("Retryable(%v) = %v, want %v", tt.err, got, want)
			}
		})
	}
}

func TestStatusErrorUnwrapsToItsSentinel(t *testing.T) {
	tests := []struct {
		code int
		want error
	}{
		{401, vendorapi.ErrUnauthorized},
		{403, vendorapi.ErrUnauthorized},
		{400, vendorapi.ErrBadRequest},
		{404, vendorapi.ErrNotFound},
		{410, vendorapi.ErrCursorExpired},
		{200, vendorapi.ErrMalformedPage},
	}
	for _, tt := range tests {
		err := fmt.Errorf("fetching: %w", &vendorapi.StatusError{Code: tt.code})
		if !errors.Is(err, tt.want) {
			t.Errorf("errors.Is(%d, %v) = false, want true", tt.code, tt.want)
		}
	}
	for _, code := range []int{429, 500, 503} {
		err := &vendorapi.StatusError{Code: code}
		for _, s := range []error{vendorapi.ErrUnauthorized, vendorapi.ErrBadRequest, vendorapi.ErrCursorExpired, vendorapi.ErrMalformedPage, vendorapi.ErrNotFound} {
			if errors.Is(err, s) {
				t.Errorf("errors.Is(%d, %v) = true, want false", code, s)
			}
		}
	}
}

func TestStatusErrorMessageNamesWhatSupportNeeds(t *testing.T) {
	err := &vendorapi.StatusError{Code: 429, ErrCode: "rate_limited", Message: "slow down", RetryAfter: 2500 * time.Millisecond, RequestID: "req_42"}
	got := err.Error()
	for _, want := range []string{"429", "Too Many Requests", "rate_limited", "slow down", "req_42", "2.5s"} {
		if !strings.Contains(got, want) {
			t.Errorf("Error() = %q, want it to contain %q", got, want)
		}
	}
}

func TestClassString(t *testing.T) {
	for c, want := range map[vendorapi.Class]string{
		vendorapi.ClassNone: "none", vendorapi.ClassRetryable: "retryable", vendorapi.ClassFatal: "fatal",
		vendorapi.ClassCursorExpired: "cursor_expired", vendorapi.ClassExhausted: "exhausted",
	} {
		if got := c.String(); got != want {
			t.Errorf("Class(%d).String() = %q, want %q", int(c), got, want)
		}
	}
}
