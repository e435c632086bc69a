package vendorapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"time"
)

const (
	// MaxWindow is the longest window the vendor accepts in one request.
	MaxWindow = 24 * time.Hour
	// MaxLimit is the largest page size the vendor accepts.
	MaxLimit = 500
)

// FormatTime renders t as the vendor's query parameters and our object
// names expect it: RFC 3339 in UTC, with a fraction only when t has one.
func FormatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// Window is a half-open interval [Start, End) of updated_at times.
type Window struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// String returns "<start>_<end>" in FormatTime form, the window's name in
// cursor-store keys.
func (w Window) String() string { return FormatTime(w.Start) + "_" + FormatTime(w.End) }

// Validate returns an error wrapping ErrBadRequest unless Start < End and the
// window spans at most MaxWindow.
func (w Window) Validate() error {
	switch {
	case w.Start.IsZero() || w.End.IsZero():
		return fmt.Errorf("checking window %s: start and end are required: %w", w, ErrBadRequest)
	case !w.End.After(w.Start):
		return fmt.Errorf("checking window %s: end is not after start: %w", w, ErrBadRequest)
	case w.End.Sub(w.Start) > MaxWindow:
		return fmt.Errorf("checking window %s: spans %s, more than %s: %w", w, w.End.Sub(w.Start), MaxWindow, ErrBadRequest)
	}
	return nil
}

// Request names one page: the window, the cursor from the previous page of
// the chain (empty for the first page) and the page size (0 means the
// vendor's default of 100). Every page of a chain carries the same Window
// and Limit, as the vendor requires. It never holds the token.
type Request struct {
	Window Window `json:"window"`
	Cursor string `json:"cursor,omitempty"`
	Limit  int    `json:"limit,omitempty"`
}

// Validate returns an error wrapping ErrBadRequest if the vendor would refuse
// the request: a bad window or a Limit outside 0..MaxLimit.
func (r Request) Validate() error {
	if err := r.Window.Validate(); err != nil {
		return err
	}
	if r.Limit < 0 || r.Limit > MaxLimit {
		return fmt.Errorf("checking request: limit %d outside 1..%d: %w", r.Limit, MaxLimit, ErrBadRequest)
	}
	return nil
}

// Query returns the request's query parameters.
func (r Request) Query() url.Values {
	q := url.Values{}
	q.Set("updated_gte", FormatTime(r.Window.Start))
	q.Set("updated_lt", FormatTime(r.Window.End))
	if r.Limit > 0 {
		q.Set("limit", strconv.Itoa(r.Limit))
	}
	if r.Cursor != "" {
		q.Set("cursor", r.Cursor)
	}
	return q
}

// Envelope is a page's envelope with its records left as raw JSON: decoding
// records is the parse transform's job, and bad records are data to
// quarantine, not page errors.
type Envelope struct {
	// Records are the elements of "data", byte for byte. Never nil after a
	// successful ParsePage; it may be empty even when HasMore is true.
	Records []json.RawMessage `json:"records"`
	// HasMore reports whether the chain goes on.
	HasMore bool `json:"has_more"`
	// NextCursor requests the next page. Not empty when HasMore is true;
	// always empty when HasMore is false.
	NextCursor string `json:"next_cursor,omitempty"`
}

var jsonNull = []byte("null")

func isNull(m json.RawMessage) bool { return len(m) == 0 || bytes.Equal(m, jsonNull) }

// ParsePage decodes a 2xx body into its Envelope. It returns an error
// wrapping ErrMalformedPage (retryable: the vendor is observed to send such
// bodies) when the body is not one JSON object, is cut short, carries an
// "error" object, has no "data" array, has no boolean "has_more" (a missing
// has_more could silently end a chain early), or says has_more without a
// next_cursor. A body that is an error object yields a *StatusError with
// Code 200 and the vendor's code and message. Field names match exactly
// (encoding/json alone would take "HAS_MORE" for has_more); of repeated
// fields the last wins.
func ParsePage(body []byte) (Envelope, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return Envelope{}, fmt.Errorf("decoding page envelope: %w: %w", ErrMalformedPage, err)
	}
	w := struct{ Data, HasMore, NextCursor, Error json.RawMessage }{
		Data: fields["data"], HasMore: fields["has_more"], NextCursor: fields["next_cursor"], Error: fields["error"],
	}
	if !isNull(w.Error) {
		return Envelope{}, fmt.Errorf("decoding page envelope: %w", errorObject(200, w.Error))
	}
	if isNull(w.Data) {
		return Envelope{}, fmt.Errorf("decoding page envelope: %w: no data array", ErrMalformedPage)
	}
	var env Envelope
	if err := json.Unmarshal(w.Data, &env.Records); err != nil {
		return Envelope{}, fmt.Errorf("decoding page envelope: %w: data is not an array: %w", ErrMalformedPage, err)
	}
	if env.Records == nil {
		env.Records = []json.RawMessage{}
	}
	if isNull(w.HasMore) {
		return Envelope{}, fmt.Errorf("decoding page envelope: %w: no has_more", ErrMalformedPage)
	}
	if err := json.Unmarshal(w.HasMore, &env.HasMore); err != nil {
		return Envelope{}, fmt.Errorf("decoding page envelope: %w: has_more is not a boolean: %w", ErrMalformedPage, err)
	}
	if !env.HasMore {
		return env, nil
	}
	if isNull(w.NextCursor) {
		return Envelope{}, fmt.Errorf("decoding page envelope: %w: has_more without next_cursor", ErrMalformedPage)
	}
	if err := json.Unmarshal(w.NextCursor, &env.NextCursor); err != nil {
		return Envelope{}, fmt.Errorf("decoding page envelope: %w: next_cursor is not a string: %w", ErrMalformedPage, err)
	}
	if env.NextCursor == "" {
		return Envelope{}, fmt.Errorf("decoding page envelope: %w: has_more with an empty next_cursor", ErrMalformedPage)
	}
	return env, nil
}

// errorObject builds a StatusError from the value of an "error" field: the
// documented {"code":..., "message":...} object, or a bare string.
func errorObject(code int, raw json.RawMessage) *StatusError {
	se := &StatusError{Code: code}
	var obj struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	var s string
	switch {
	case json.Unmarshal(raw, &obj) == nil:
		se.ErrCode, se.Message = obj.Code, obj.Message
	case json.Unmarshal(raw, &s) == nil:
		se.Message = s
	default:
		se.Message = string(raw)
	}
	se.RateLimited = rateLimitSignal(code, se.ErrCode, se.Message)
	return se
}

// Page is one fetched page: what was asked, the envelope, and the body
// exactly as the vendor sent it (after gzip decoding), with the facts the raw
// zone records. It never holds the token.
type Page struct {
	Request Request `json:"request"`
	Envelope
	// Body is the decoded response body, byte for byte.
	Body []byte `json:"body"`
	// RequestID is the vendor's X-Request-Id for the successful attempt.
	RequestID string `json:"request_id,omitempty"`
	// Status is the HTTP status of the successful attempt.
	Status int `json:"status"`
	// Attempts is how many requests it took, 1 when the first succeeded.
	Attempts int `json:"attempts"`
	// FetchedAt is when the successful response arrived.
	FetchedAt time.Time `json:"fetched_at"`
	// Elapsed is the time from the first attempt's start to FetchedAt,
	// including backoff waits.
	Elapsed time.Duration `json:"elapsed"`
}
