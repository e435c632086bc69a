package rawzone

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// ErrInvalidEvent is returned by EncodeEvent, DecodeEvent and ParseEventName
// for an event object or name that does not follow the raw zone's format.
var ErrInvalidEvent = errors.New("invalid raw event object")

// EventObject is one webhook delivery as the receiver got it, landed before
// it was acknowledged. It never holds the signing secret. Body is the
// request body byte for byte, whatever it holds (an event, a malformed
// event, not JSON at all); processing reads the event from it.
type EventObject struct {
	// Source names the push channel ("webhook"); one path segment, as for
	// pages.
	Source string `json:"source"`
	// EventID is the event's "id" as the receiver read it from Body ("" when
	// Body has none).
	EventID string `json:"event_id"`
	// EventType is the event's "type" ("" when Body has none).
	EventType string `json:"event_type"`
	// ReceivedAt is the receiver's clock when the request arrived, in UTC.
	// Its hour is the object's hour of receipt.
	ReceivedAt time.Time `json:"received_at"`
	// Signature is the Vendor-Signature header (timestamp and HMACs; no
	// secret can be derived from it). SignedAt is its t.
	Signature   string    `json:"signature"`
	SignedAt    time.Time `json:"signed_at"`
	ContentType string    `json:"content_type,omitempty"`
	UserAgent   string    `json:"user_agent,omitempty"`
	// Body is the raw request body (base64 in the stored JSON, so any bytes
	// survive exactly).
	Body []byte `json:"body"`
}

const (
	eventsRoot    = "events/"
	hourLayout    = "15"
	maxEventIDLen = 64
)

var eventIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// EventHourPrefix returns the prefix, ending in "/", of the event objects of
// source received in the UTC hour that holds t:
// events/<source>/date=YYYY-MM-DD/hour=HH/.
func EventHourPrefix(source string, t time.Time) string {
	t = t.UTC()
	return eventsRoot + source + "/date=" + t.Format(dateLayout) + "/hour=" + t.Format(hourLayout) + "/"
}

// EventName returns the object name of e, which depends only on its source,
// its hour of receipt, its event id and its body:
// events/<source>/date=YYYY-MM-DD/hour=HH/evt-<id>-<16 hex of sha256(body)>.json.
// An id that is not 1..64 of [A-Za-z0-9_-] is written as "x" plus the first
// 16 hex digits of its SHA-256 (and "none" when absent), so a redelivery of
// one event in the same hour has one name.
func EventName(e EventObject) (string, error) {
	if err := checkSource(e.Source); err != nil {
		return "", fmt.Errorf("naming event: %w", err)
	}
	if y := e.ReceivedAt.UTC().Year(); y < 1000 || y > 9999 {
		return "", fmt.Errorf("naming event: receive time %s: year outside 1000..9999: %w", e.ReceivedAt.Format(time.RFC3339), ErrInvalidEvent)
	}
	return EventHourPrefix(e.Source, e.ReceivedAt) + "evt-" + eventIDSegment(e.EventID) + "-" + EventBodyHash(e.Body) + ".json", nil
}

func eventIDSegment(id string) string {
	switch {
	case id == "":
		return "none"
	case eventIDRE.MatchString(id):
		return id
	}
	sum := sha256.Sum256([]byte(id))
	return "x" + hex.EncodeToString(sum[:8])
}

// EventBodyHash returns the first 16 hex digits of the SHA-256 of body: the
// hash in an event object's name.
func EventBodyHash(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])[:bodyHashLength]
}

// EncodeEvent returns e's object name and its stored form (JSON, times in
// UTC). Returns an error wrapping ErrInvalidEvent if e cannot be named.
func EncodeEvent(e EventObject) (name string, data []byte, err error) {
	name, err = EventName(e)
	if err != nil {
		return "", nil, fmt.Errorf("encoding event: %w", err)
	}
	e.ReceivedAt, e.SignedAt = e.ReceivedAt.UTC(), e.SignedAt.UTC()
	data, err = json.Marshal(e)
	if err != nil {
		return "", nil, fmt.Errorf("encoding event %s: %w", name, err)
	}
	return name, data, nil
}

// DecodeEvent parses a stored event object. Returns an error wrapping
// ErrInvalidEvent if it is not one.
func DecodeEvent(data []byte) (EventObject, error) {
	var e EventObject
	if err := json.Unmarshal(data, &e); err != nil {
		return EventObject{}, fmt.Errorf("decoding event: %w: %w", ErrInvalidEvent, err)
	}
	if e.Source == "" || e.ReceivedAt.IsZero() {
		return EventObject{}, fmt.Errorf("decoding event: no source or receive time: %w", ErrInvalidEvent)
	}
	return e, nil
}

// PutEvent encodes e and writes it once. A redelivery of the same event (same
// source, hour of receipt, id and body) finds the object already there and
// counts as written (existed is true), even though its receive time and
// signature differ: the first delivery's object stays. Any other
// difference returns the store's error wrapping ErrContentMismatch. When
// PutEvent returns nil the object is durable.
//
// A redelivery in another hour of receipt lands a second object of the
// same event; processing folds the two versions (they are one version of
// one settlement), so the warehouse is unchanged.
func PutEvent(ctx context.Context, s Store, e EventObject) (name string, existed bool, err error) {
	name, data, err := EncodeEvent(e)
	if err != nil {
		return "", false, err
	}
	existed, err = putOnceSame(ctx, s, name, data, "event", func(stored []byte) (bool, error) {
		old, err := DecodeEvent(stored)
		return err == nil && old.Source == e.Source && old.EventID == e.EventID && bytes.Equal(old.Body, e.Body), err
	})
	return name, existed, err
}

var eventFileRE = regexp.MustCompile(`^evt-([A-Za-z0-9_-]{1,64})-([0-9a-f]{16})\.json$`)

// EventRef is what an event object's name says about it.
type EventRef struct {
	Name   string
	Source string
	// Hour is the start of the UTC hour of receipt.
	Hour time.Time
	// Hash is the first 16 hex digits of the SHA-256 of the body.
	Hash string
}

// IsEventName reports whether name is under the raw zone's events root (an
// event object rather than a page object).
func IsEventName(name string) bool { return strings.HasPrefix(name, eventsRoot) }

// ParseEventName parses a name made by EventName. Returns an error wrapping
// ErrInvalidEvent for any other name.
func ParseEventName(name string) (EventRef, error) {
	fail := func(why string) (EventRef, error) {
		return EventRef{}, fmt.Errorf("parsing event name %q: %s: %w", name, why, ErrInvalidEvent)
	}
	rest, ok := strings.CutPrefix(name, eventsRoot)
	if !ok {
		return fail("not under " + eventsRoot)
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 4 {
		return fail("want events/<source>/date=.../hour=.../evt-...")
	}
	if checkSource(parts[0]) != nil {
		return fail("bad source")
	}
	d, ok1 := strings.CutPrefix(parts[1], "date=")
	h, ok2 := strings.CutPrefix(parts[2], "hour=")
	if !ok1 || !ok2 || len(h) != 2 {
		return fail("bad date or hour segment")
	}
	hour, err := time.Parse(dateLayout+"T15", d+"T"+h)
	if err != nil {
		return fail("bad date or hour: " + err.Error())
	}
	m := eventFileRE.FindStringSubmatch(parts[3])
	if m == nil {
		return fail("bad event file name")
	}
	return EventRef{Name: name, Source: parts[0], Hour: hour.UTC(), Hash: m[2]}, nil
}

// ListEventRefs returns the event objects of source received in the hours
// that overlap [from, to), ordered by hour then name. It lists one prefix
// per UTC day (at most about ten years). Names under those
// prefixes that ParseEventName rejects are skipped.
func ListEventRefs(ctx context.Context, s Store, source string, from, to time.Time) ([]EventRef, error) {
	if err := checkSource(source); err != nil {
		return nil, fmt.Errorf("listing events: %w", err)
	}
	if !from.Before(to) {
		return nil, nil
	}
	first := from.UTC().Truncate(time.Hour)
	if to.Sub(first) > maxListDays*24*time.Hour {
		return nil, fmt.Errorf("listing events of %s: range %s..%s spans more than %d days",
			source, from.Format(time.RFC3339), to.Format(time.RFC3339), maxListDays)
	}
	var found []EventRef
	for day := first.Truncate(24 * time.Hour); day.Before(to); day = day.Add(24 * time.Hour) {
		names, err := s.List(ctx, eventsRoot+source+"/date="+day.Format(dateLayout)+"/")
		if err != nil {
			return nil, fmt.Errorf("listing events of %s on %s: %w", source, day.Format(dateLayout), err)
		}
		for _, n := range names {
			r, err := ParseEventName(n)
			if err != nil || r.Source != source || r.Hour.Before(first) || !r.Hour.Before(to) {
				continue
			}
			found = append(found, r)
		}
	}
	return found, nil
}
