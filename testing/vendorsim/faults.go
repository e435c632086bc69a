package vendorsim

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ErrBadFaults is wrapped by ParseFaults and Faults.Validate.
var ErrBadFaults = errors.New("invalid fault spec")

// RetryAfter formats of a 429 response.
const (
	RetryAfterMixed    = "mixed"    // delta, date and fraction in turn (by hash)
	RetryAfterDelta    = "delta"    // "2": delta-seconds (RFC 9110)
	RetryAfterDate     = "date"     // "Mon, 02 Jan 2006 15:04:05 GMT" (RFC 9110)
	RetryAfterFraction = "fraction" // "2.5": observed, not allowed by RFC 9110
	RetryAfterNone     = "none"     // no Retry-After header
)

// Faults holds every behaviour knob. Probabilities are in [0, 1]; how each is
// drawn is described in the package doc. The zero value is a clean vendor
// (the "none" preset).
//
// Per request (identity and attempt): Rate429, Err5xx, Busy5xx, Slow,
// Err200, BadJSON, Truncate, Reset, in that order; the first that fires
// wins (Slow only delays, then the rest are drawn). Before them, a page
// that is Poison or in its Sticky period fails. HTML is the fraction of 5xx bodies that are an HTML
// page instead of JSON.
//
// Per page identity: Sticky, Poison, Duplicate, Short, Empty, Junk. Per
// listed version: Resend. Per settlement (data, see the package doc):
// Invalid, Messy, Late, Ties, NewestInvalid, SameInstant.
type Faults struct {
	Rate429          float64       `json:"rate429"`     // 429 rate_limited
	RetryAfter       time.Duration `json:"retry_after"` // Retry-After of a fault 429 (default 1s when zero)
	RetryAfterFormat string        `json:"retry_after_format"`
	Err5xx           float64       `json:"err5xx"`  // 500, 502, 503 or 504 internal
	Busy5xx          float64       `json:"busy5xx"` // 500 or 503 whose message says "too many requests"
	HTML             float64       `json:"html"`    // fraction of 5xx bodies sent as text/html
	Err200           float64       `json:"err200"`  // 200 whose body is an error object
	BadJSON          float64       `json:"badjson"` // 200 whose body is not valid JSON
	Truncate         float64       `json:"truncate"`
	Reset            float64       `json:"reset"` // connection closed (RST) mid-body
	Slow             float64       `json:"slow"`
	SlowDelay        time.Duration `json:"slow_delay"`

	// Sticky is the fraction of page identities that fail (503, or 429)
	// from their first request until StickyFor×[2/3, 4/3] has passed.
	Sticky    float64       `json:"sticky"`
	StickyFor time.Duration `json:"sticky_for"`
	// Poison is the fraction of page identities that fail with a 5xx
	// forever. PoisonWindows adds the page numbered PoisonPage (0 = the
	// first) of every chain whose window holds one of the instants.
	Poison        float64     `json:"poison"`
	PoisonWindows []time.Time `json:"poison_windows,omitempty"`
	PoisonPage    int         `json:"poison_page"`

	Duplicate float64 `json:"dup"`   // next page starts with this page's last record
	Short     float64 `json:"short"` // page shorter than limit, has_more true
	Empty     float64 `json:"empty"` // page without records, has_more true
	Junk      float64 `json:"junk"`  // a non-object element (null, "", 42) in data
	Resend    float64 `json:"resend"`

	Invalid  float64       `json:"invalid"` // settlements with one quarantine defect
	Messy    float64       `json:"messy"`   // settlements with a normalisable defect
	Late     float64       `json:"late"`    // versions listable only after a lag
	MaxLag   time.Duration `json:"max_lag"`
	Ties     float64       `json:"ties"`      // settlements created at a shared instant
	TieGroup int           `json:"tie_group"` // mean number of settlements per shared instant
	// NewestInvalid is the fraction of settlements whose newest version
	// alone fails the gate (amount null, amount negative or currency
	// unknown, by seed) while the older ones are valid; it applies to
	// settlements with two or more versions, and moves the newest one out
	// of the hour window of the one before when the span allows.
	NewestInvalid float64 `json:"newest_invalid"`
	// SameInstant is the fraction of settlements listed with an extra
	// version that has the same updated_at as their newest one and
	// another status (a vendor bug). Of the two, the one whose raw record
	// has the greater Digest is the newer.
	SameInstant float64 `json:"same_instant"`

	// CursorTTL is how long a cursor lives after it is issued; 0 means
	// forever. Expired cursors get 410 cursor_expired.
	CursorTTL time.Duration `json:"cursor_ttl"`
	// RateLimit (requests per second) and Burst are the enforced per-token
	// limit when Config.RateLimit is 0; 0 means no enforcement.
	RateLimit float64 `json:"rate_limit"`
	Burst     int     `json:"burst"`
}

// NoFaults returns the "none" preset: a clean vendor whose records are all
// valid and immediately visible, and whose cursors never expire.
func NoFaults() Faults { return Faults{RetryAfterFormat: RetryAfterDelta} }

// DefaultFaults returns the "default" preset used by make run: moderate 429s
// and 5xx, truncated and reset bodies, dirty data (2% of settlements with
// an invalid newest version over a valid older one, 1% with two versions
// at one updated_at), resends and duplicates,
// late visibility, sticky failures of 20–40 s, a real rate limit of 20/s
// (below the documented 25), and no page that never recovers.
func DefaultFaults() Faults {
	return Faults{
		Rate429: 0.03, RetryAfter: time.Second, RetryAfterFormat: RetryAfterMixed,
		Err5xx: 0.03, Busy5xx: 0.01, HTML: 0.3, Err200: 0.005, BadJSON: 0.005,
		Truncate: 0.01, Reset: 0.005, Slow: 0.01, SlowDelay: 500 * time.Millisecond,
		Sticky: 0.02, StickyFor: 30 * time.Second,
		Duplicate: 0.03, Short: 0.05, Empty: 0.02, Resend: 0.02,
		Invalid: 0.01, Messy: 0.03, Late: 0.05, MaxLag: 10 * time.Minute,
		Ties: 0.2, TieGroup: 20, NewestInvalid: 0.02, SameInstant: 0.01,
		CursorTTL: 10 * time.Minute,
		RateLimit: 20, Burst: 40,
	}
}

// AllFaults returns the "all" preset: every knob on at a higher rate,
// including junk elements and a small fraction (0.5%) of pages that never
// recover. Use "all,poison=0" when every window must complete.
func AllFaults() Faults {
	f := DefaultFaults()
	f.Rate429, f.Err5xx, f.Busy5xx, f.HTML = 0.05, 0.05, 0.02, 0.5
	f.Err200, f.BadJSON, f.Truncate, f.Reset = 0.01, 0.01, 0.02, 0.01
	f.Slow, f.Sticky, f.Poison = 0.02, 0.03, 0.005
	f.Duplicate, f.Short, f.Empty, f.Junk, f.Resend = 0.05, 0.1, 0.05, 0.01, 0.05
	f.Invalid, f.Messy, f.Late, f.Ties = 0.03, 0.05, 0.1, 0.3
	f.NewestInvalid, f.SameInstant = 0.05, 0.03
	f.CursorTTL = 5 * time.Minute
	return f
}

type faultKey struct {
	name string
	prob func(*Faults) *float64
	dur  func(*Faults) *time.Duration
	num  func(*Faults) *int
	rate func(*Faults) *float64 // non-negative float that is not a probability
}

var faultKeys = []faultKey{
	{name: "rate429", prob: func(f *Faults) *float64 { return &f.Rate429 }},
	{name: "retryafter", dur: func(f *Faults) *time.Duration { return &f.RetryAfter }},
	{name: "retryformat"},
	{name: "err5xx", prob: func(f *Faults) *float64 { return &f.Err5xx }},
	{name: "busy5xx", prob: func(f *Faults) *float64 { return &f.Busy5xx }},
	{name: "html", prob: func(f *Faults) *float64 { return &f.HTML }},
	{name: "err200", prob: func(f *Faults) *float64 { return &f.Err200 }},
	{name: "badjson", prob: func(f *Faults) *float64 { return &f.BadJSON }},
	{name: "truncate", prob: func(f *Faults) *float64 { return &f.Truncate }},
	{name: "reset", prob: func(f *Faults) *float64 { return &f.Reset }},
	{name: "slow", prob: func(f *Faults) *float64 { return &f.Slow }},
	{name: "slowdelay", dur: func(f *Faults) *time.Duration { return &f.SlowDelay }},
	{name: "sticky", prob: func(f *Faults) *float64 { return &f.Sticky }},
	{name: "stickyfor", dur: func(f *Faults) *time.Duration { return &f.StickyFor }},
	{name: "poison", prob: func(f *Faults) *float64 { return &f.Poison }},
	{name: "poisonwindow"},
	{name: "poisonpage", num: func(f *Faults) *int { return &f.PoisonPage }},
	{name: "dup", prob: func(f *Faults) *float64 { return &f.Duplicate }},
	{name: "short", prob: func(f *Faults) *float64 { return &f.Short }},
	{name: "empty", prob: func(f *Faults) *float64 { return &f.Empty }},
	{name: "junk", prob: func(f *Faults) *float64 { return &f.Junk }},
	{name: "resend", prob: func(f *Faults) *float64 { return &f.Resend }},
	{name: "invalid", prob: func(f *Faults) *float64 { return &f.Invalid }},
	{name: "messy", prob: func(f *Faults) *float64 { return &f.Messy }},
	{name: "late", prob: func(f *Faults) *float64 { return &f.Late }},
	{name: "maxlag", dur: func(f *Faults) *time.Duration { return &f.MaxLag }},
	{name: "ties", prob: func(f *Faults) *float64 { return &f.Ties }},
	{name: "tiegroup", num: func(f *Faults) *int { return &f.TieGroup }},
	{name: "newestinvalid", prob: func(f *Faults) *float64 { return &f.NewestInvalid }},
	{name: "sameinstant", prob: func(f *Faults) *float64 { return &f.SameInstant }},
	{name: "cursorttl", dur: func(f *Faults) *time.Duration { return &f.CursorTTL }},
	{name: "ratelimit", rate: func(f *Faults) *float64 { return &f.RateLimit }},
	{name: "burst", num: func(f *Faults) *int { return &f.Burst }},
}

// FaultKeys returns the keys ParseFaults accepts, in the order of String.
func FaultKeys() []string {
	keys := make([]string, len(faultKeys))
	for i, k := range faultKeys {
		keys[i] = k.name
	}
	return keys
}

// ParseFaults parses a comma-separated spec. Each item is a preset ("none",
// "default", "all"), which replaces everything set so far, or key=value:
// probabilities as decimals ("rate429=0.05"), durations in Go syntax
// ("stickyfor=30s"), integers ("tiegroup=20"), retryformat one of mixed,
// delta, date, fraction, none, and poisonwindow an RFC 3339 instant (may
// repeat). Items apply left to right, so "default,poison=0.01" is the
// default mix plus poison pages. An empty spec is "none". Returns an error
// wrapping ErrBadFaults on an unknown key or a value out of range.
func ParseFaults(spec string) (Faults, error) {
	f := NoFaults()
	for item := range strings.SplitSeq(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, value, ok := strings.Cut(item, "=")
		if !ok {
			switch item {
			case "none":
				f = NoFaults()
			case "default":
				f = DefaultFaults()
			case "all":
				f = AllFaults()
			default:
				return Faults{}, fmt.Errorf("parsing fault item %q: unknown preset: %w", item, ErrBadFaults)
			}
			continue
		}
		if err := f.set(strings.TrimSpace(name), strings.TrimSpace(value)); err != nil {
			return Faults{}, fmt.Errorf("parsing fault item %q: %w", item, err)
		}
	}
	if err := f.Validate(); err != nil {
		return Faults{}, err
	}
	return f, nil
}

func (f *Faults) set(name, value string) error {
	i := slices.IndexFunc(faultKeys, func(k faultKey) bool { return k.name == name })
	if i < 0 {
		return fmt.Errorf("unknown key %q: %w", name, ErrBadFaults)
	}
	k := faultKeys[i]
	switch {
	case k.prob != nil || k.rate != nil:
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrBadFaults, err)
		}
		if k.prob != nil {
			*k.prob(f) = v
		} else {
			*k.rate(f) = v
		}
	case k.dur != nil:
		v, err := time.ParseDuration(value)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrBadFaults, err)
		}
		*k.dur(f) = v
	case k.num != nil:
		v, err := strconv.Atoi(value)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrBadFaults, err)
		}
		*k.num(f) = v
	case name == "retryformat":
		if value == "" {
			return fmt.Errorf("empty retryformat: %w", ErrBadFaults)
		}
		f.RetryAfterFormat = value
	case name == "poisonwindow":
		t, err := time.Parse(time.RFC3339Nano, value)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrBadFaults, err)
		}
		f.PoisonWindows = append(f.PoisonWindows, t)
	}
	return nil
}

// Validate reports the first knob out of range, wrapping ErrBadFaults.
func (f Faults) Validate() error {
	for _, k := range faultKeys {
		switch {
		case k.prob != nil:
			if v := *k.prob(&f); !(v >= 0 && v <= 1) {
				return fmt.Errorf("%s=%v is not a probability in [0, 1]: %w", k.name, v, ErrBadFaults)
			}
		case k.rate != nil:
			if v := *k.rate(&f); !(v >= 0 && v <= 1e9) {
				return fmt.Errorf("%s=%v is negative or absurd: %w", k.name, v, ErrBadFaults)
			}
		case k.dur != nil:
			if v := *k.dur(&f); v < 0 {
				return fmt.Errorf("%s=%v is negative: %w", k.name, v, ErrBadFaults)
			}
		case k.num != nil:
			if v := *k.num(&f); v < 0 || v > 1<<30 {
				return fmt.Errorf("%s=%d is out of range: %w", k.name, v, ErrBadFaults)
			}
		}
	}
	switch f.RetryAfterFormat {
	case "", RetryAfterMixed, RetryAfterDelta, RetryAfterDate, RetryAfterFraction, RetryAfterNone:
	default:
		return fmt.Errorf("retryformat=%q is not one of mixed, delta, date, fraction, none: %w", f.RetryAfterFormat, ErrBadFaults)
	}
	if f.Invalid+f.Messy > 1 {
		return fmt.Errorf("invalid+messy=%v exceeds 1: %w", f.Invalid+f.Messy, ErrBadFaults)
	}
	if f.NewestInvalid+f.SameInstant > 1 {
		return fmt.Errorf("newestinvalid+sameinstant=%v exceeds 1: %w", f.NewestInvalid+f.SameInstant, ErrBadFaults)
	}
	return nil
}

// String renders f as a spec that ParseFaults turns back into f, listing
// only the knobs that differ from the "none" preset.
func (f Faults) String() string {
	var items []string
	zero := NoFaults()
	for _, k := range faultKeys {
		var s string
		switch {
		case k.prob != nil:
			if *k.prob(&f) != 0 {
				s = strconv.FormatFloat(*k.prob(&f), 'g', -1, 64)
			}
		case k.rate != nil:
			if *k.rate(&f) != 0 {
				s = strconv.FormatFloat(*k.rate(&f), 'g', -1, 64)
			}
		case k.dur != nil:
			if *k.dur(&f) != 0 {
				s = k.dur(&f).String()
			}
		case k.num != nil:
			if *k.num(&f) != 0 {
				s = strconv.Itoa(*k.num(&f))
			}
		case k.name == "retryformat":
			if f.RetryAfterFormat != zero.RetryAfterFormat {
				s = f.RetryAfterFormat
			}
		case k.name == "poisonwindow":
			for _, t := range f.PoisonWindows {
				items = append(items, "poisonwindow="+t.Format(time.RFC3339Nano))
			}
		}
		if s != "" {
			items = append(items, k.name+"="+s)
		}
	}
	if len(items) == 0 {
		return "none"
	}
	return strings.Join(items, ",")
}
