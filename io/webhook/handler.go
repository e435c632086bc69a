package webhook

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/marketplace/settle/internal/jsonscan"
	"github.com/marketplace/settle/io/rawzone"
)

// MaxBody is the largest request body accepted (the contract's 1 MiB).
const MaxBody = 1 << 20

// DefaultSource is the raw zone source of pushed events.
const DefaultSource = "webhook"

// landTimeout bounds the landing of one event: the vendor gives up on an
// answer after 10 s, and an answer after that is worth nothing.
const landTimeout = 8 * time.Second

// Log attribute keys.
const (
	logKeyEvent  = "event_id"
	logKeyObject = "object"
	logKeyReason = "reason"
	logKeyError  = "error"
)

// Handler is the webhook endpoint: an http.Handler that answers
//
//   - 405 to anything but POST;
//   - 413 to a body over MaxBody (nothing landed);
//   - 401 to a missing, malformed, stale (more than Tolerance off, either
//     way) or non-matching signature (nothing landed; the vendor retries a
//     401, in case a secret rotation is under way);
//   - 503 when the raw zone could not take the event (the vendor retries);
//   - 200 once the raw body, the headers that matter, the receive time and
//     the event id are durably in the raw zone (rawzone.PutEvent). This
//     includes a redelivery (write-once, same content), an unknown event
//     type and a body that is signed correctly but malformed: processing
//     quarantines those with a reason, because the vendor would retry a
//     4xx for three days.
//
// A Handler is safe for concurrent use. It never logs the secrets.
type Handler struct {
	store   rawzone.Store
	secrets []Secret
	source  string
	now     func() time.Time
	log     *slog.Logger
	stats   Stats
	// slots bounds the landings in flight (memory: a body each). Many in
	// flight is what makes the file system commit their fsyncs together:
	// on the 2-core bench machine 4 or 16 landings at once acknowledged
	// about half as many events per second as 256.
	slots chan struct{}
}

// DefaultLandings is the default bound of concurrent landings.
const DefaultLandings = 256

// WithLandings bounds the landings in flight (DefaultLandings if unset or
// not positive).
func WithLandings(n int) Option {
	return func(h *Handler) {
		if n > 0 {
			h.slots = make(chan struct{}, n)
		}
	}
}

// Option configures a Handler.
type Option func(*Handler)

// WithClock sets the clock used for the receive time and the signature
// tolerance (tests).
func WithClock(now func() time.Time) Option { return func(h *Handler) { h.now = now } }

// WithLogger sets the logger (nil means slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(h *Handler) { h.log = l } }

// WithSource sets the raw zone source name (DefaultSource if unset).
func WithSource(s string) Option { return func(h *Handler) { h.source = s } }

// NewHandler returns a Handler that lands into store and accepts a
// signature by any of secrets (two during a rotation). Returns ErrNoSecret
// if secrets is empty.
func NewHandler(store rawzone.Store, secrets []Secret, opts ...Option) (*Handler, error) {
	if len(secrets) == 0 {
		return nil, ErrNoSecret
	}
	h := &Handler{store: store, secrets: secrets, source: DefaultSource, now: time.Now, slots: make(chan struct{}, DefaultLandings)}
	for _, o := range opts {
		o(h)
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	return h, nil
}

// Stats counts what a Handler did since it started. Read it with Snapshot.
type Stats struct {
	landed, duplicates, unauthorized, tooLarge, failed atomic.Int64
	lastLanded                                         atomic.Int64 // unix nanos of the last receive time landed
}

// StatsSnapshot is a copy of Stats.
type StatsSnapshot struct {
	Landed, Duplicates, Unauthorized, TooLarge, Failed int64
	// LastLanded is the receive time of the newest event landed (zero if none).
	LastLanded time.Time
}

// Stats returns the handler's counters.
func (h *Handler) Stats() StatsSnapshot {
	s := StatsSnapshot{
		Landed: h.stats.landed.Load(), Duplicates: h.stats.duplicates.Load(), Unauthorized: h.stats.unauthorized.Load(),
		TooLarge: h.stats.tooLarge.Load(), Failed: h.stats.failed.Load(),
	}
	if n := h.stats.lastLanded.Load(); n != 0 {
		s.LastLanded = time.Unix(0, n).UTC()
	}
	return s
}

// ServeHTTP handles one delivery (see Handler).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	received := h.now().UTC()
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			h.stats.tooLarge.Add(1)
			http.Error(w, "body larger than 1 MiB", http.StatusRequestEntityTooLarge)
			return
		}
		h.stats.failed.Add(1)
		http.Error(w, "reading body", http.StatusBadRequest)
		return
	}
	sigHeader := r.Header.Get(SignatureHeader)
	signed, err := Verify(sigHeader, body, received, h.secrets)
	if err != nil {
		h.stats.unauthorized.Add(1)
		// The error names the class (stale, mismatch), never a secret.
		h.log.Debug("webhook refused", logKeyReason, err.Error())
		http.Error(w, "invalid signature", http.StatusUnauthorized)
		return
	}
	id, typ := peekEvent(body)
	ev := rawzone.EventObject{
		Source: h.source, EventID: id, EventType: typ, ReceivedAt: received,
		Signature: sigHeader, SignedAt: signed,
		ContentType: r.Header.Get("Content-Type"), UserAgent: r.Header.Get("User-Agent"),
		Body: body,
	}
	ctx, cancel := context.WithTimeout(r.Context(), landTimeout)
	defer cancel()
	select {
	case h.slots <- struct{}{}:
	case <-ctx.Done():
		h.stats.failed.Add(1)
		http.Error(w, "busy; retry", http.StatusServiceUnavailable)
		return
	}
	_, existed, err := rawzone.PutEvent(ctx, h.store, ev)
	<-h.slots
	if err != nil {
		h.stats.failed.Add(1)
		h.log.Error("landing webhook event", logKeyEvent, id, logKeyError, err.Error())
		http.Error(w, "could not land the event; retry", http.StatusServiceUnavailable)
		return
	}
	if existed {
		h.stats.duplicates.Add(1)
	} else {
		h.stats.landed.Add(1)
	}
	for {
		old := h.stats.lastLanded.Load()
		if received.UnixNano() <= old || h.stats.lastLanded.CompareAndSwap(old, received.UnixNano()) {
			break
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, `{"received":true}`+"\n")
}

// peekEvent reads the top-level id and type of an event body, best effort:
// a body that is not an event object yields empty strings (it is landed
// anyway, and processing quarantines it). It gives what json.Unmarshal
// into struct{ID, Type json.RawMessage}, then each into a string, gives
// (FuzzPeekEventMatchesEncodingJSON): a member matches its name exactly or
// case-insensitively, the last match wins, a non-string value yields "",
// and a body that is not valid JSON yields nothing. It scans once instead
// of json.Unmarshal's validate-then-decode: that was 9 % of the
// receiver's CPU at 2,000 events/s.
func peekEvent(body []byte) (id, typ string) {
	var s jsonscan.Scanner
	s.Reset(body)
	if s.Peek() != jsonscan.Object {
		// null leaves the fields empty; anything else is an error.
		return "", ""
	}
	if s.BeginObject() != nil {
		return "", ""
	}
	var rawID, rawType []byte
	for {
		key, ok, err := s.NextMember()
		if err != nil {
			return "", ""
		}
		if !ok {
			break
		}
		v, err := s.Skip()
		if err != nil {
			return "", ""
		}
		k, _ := jsonscan.Unquote(key)
		switch {
		case foldEqual(k, "id"):
			rawID = v
		case foldEqual(k, "type"):
			rawType = v
		}
	}
	if s.Finish() != nil {
		return "", ""
	}
	return stringValue(rawID), stringValue(rawType)
}

// foldEqual reports whether key matches name as encoding/json matches a
// member to a field: exactly, or under Unicode case folding.
func foldEqual(key []byte, name string) bool {
	return string(key) == name || strings.EqualFold(string(key), name)
}

// stringValue returns the content of raw (a valid JSON value, or nil) if
// it is a string, else "".
func stringValue(raw []byte) string {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) == 0 || raw[0] != '"' {
		return ""
	}
	c, ok := jsonscan.Unquote(raw)
	if !ok {
		return ""
	}
	return string(c)
}
