package vendorapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/marketplace/settle/internal/jsonscan"
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
//
// It accepts and refuses exactly what decoding with encoding/json would, in
// one validating pass over body. The Records alias body (each capped at its
// own length, so appending to one cannot write into body): body must not be
// modified while they are in use.
func ParsePage(body []byte) (Envelope, error) {
	var sc jsonscan.Scanner
	sc.Reset(body)
	if sc.Peek() != jsonscan.Object {
		switch {
		case !jsonscan.Valid(body):
			_, err := sc.Skip()
			if err == nil {
				err = sc.Finish()
			}
			return Envelope{}, fmt.Errorf("decoding page envelope: %w: %w", ErrMalformedPage, err)
		case sc.Peek() == jsonscan.Null:
			return Envelope{}, fmt.Errorf("decoding page envelope: %w: no data array", ErrMalformedPage)
		default:
			return Envelope{}, fmt.Errorf("decoding page envelope: %w: body is a JSON %s, not an object", ErrMalformedPage, sc.Peek())
		}
	}
	// The last value of each field, nil when absent; records are data's
	// elements when data is an array.
	var data, hasMore, nextCursor, errField []byte
	var records []json.RawMessage
	dataIsArray := false
	syntax := func(err error) (Envelope, error) {
		return Envelope{}, fmt.Errorf("decoding page envelope: %w: %w", ErrMalformedPage, err)
	}
	if err := sc.BeginObject(); err != nil {
		return syntax(err)
	}
	for {
		key, ok, err := sc.NextMember()
		if err != nil {
			return syntax(err)
		}
		if !ok {
			break
		}
		name, _ := jsonscan.Unquote(key)
		switch string(name) {
		case "data":
			dataIsArray = sc.Peek() == jsonscan.Array
			if !dataIsArray {
				data, err = sc.Skip()
				break
			}
			start := sc.Pos()
			records, err = splitArray(&sc, records[:0])
			data = body[start:sc.Pos()]
		case "has_more":
			hasMore, err = sc.Skip()
		case "next_cursor":
			nextCursor, err = sc.Skip()
		case "error":
			errField, err = sc.Skip()
		default:
			_, err = sc.Skip()
		}
		if err != nil {
			return syntax(err)
		}
	}
	if err := sc.Finish(); err != nil {
		return syntax(err)
	}

	if !isNull(errField) {
		return Envelope{}, fmt.Errorf("decoding page envelope: %w", errorObject(200, errField))
	}
	if isNull(data) {
		return Envelope{}, fmt.Errorf("decoding page envelope: %w: no data array", ErrMalformedPage)
	}
	if !dataIsArray {
		return Envelope{}, fmt.Errorf("decoding page envelope: %w: data is not an array", ErrMalformedPage)
	}
	env := Envelope{Records: records}
	if env.Records == nil {
		env.Records = []json.RawMessage{}
	}
	switch string(hasMore) {
	case "", "null":
		return Envelope{}, fmt.Errorf("decoding page envelope: %w: no has_more", ErrMalformedPage)
	case "true":
		env.HasMore = true
	case "false":
		return env, nil
	default:
		return Envelope{}, fmt.Errorf("decoding page envelope: %w: has_more is not a boolean", ErrMalformedPage)
	}
	if isNull(nextCursor) {
		return Envelope{}, fmt.Errorf("decoding page envelope: %w: has_more without next_cursor", ErrMalformedPage)
	}
	cursor, ok := jsonscan.Unquote(nextCursor)
	if !ok {
		return Envelope{}, fmt.Errorf("decoding page envelope: %w: next_cursor is not a string", ErrMalformedPage)
	}
	if len(cursor) == 0 {
		return Envelope{}, fmt.Errorf("decoding page envelope: %w: has_more with an empty next_cursor", ErrMalformedPage)
	}
	env.NextCursor = string(cursor)
	return env, nil
}

// splitArray consumes the array at sc's position, appending its elements'
// bytes to out.
func splitArray(sc *jsonscan.Scanner, out []json.RawMessage) ([]json.RawMessage, error) {
	if err := sc.BeginArray(); err != nil {
		return nil, err
	}
	for {
		ok, err := sc.NextElement()
		if err != nil || !ok {
			return out, err
		}
		v, err := sc.Skip()
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
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
