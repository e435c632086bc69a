package parse

import (
	"errors"
	"fmt"
	"time"
)

// ErrTimestamp is returned by ParseTimestamp for text that is not a strict
// RFC 3339 timestamp.
var ErrTimestamp = errors.New("invalid RFC 3339 timestamp")

// ParseTimestamp parses a strict RFC 3339 timestamp:
// YYYY-MM-DDTHH:MM:SS, an optional fraction of 1 to 9 digits after ".", and
// "Z" or an offset ±HH:MM (hours 00..23). Upper-case "T" and "Z" only. The
// result is in UTC and within the range of int64 unix nanoseconds
// (1677..2262). It is stricter than time.Parse(time.RFC3339Nano), which
// also takes "," as the fraction separator, more than 9 fraction digits
// (silently truncated) and offsets like +24:00.
//
// Returns an error wrapping ErrTimestamp.
func ParseTimestamp(s string) (time.Time, error) {
	t, ok := parseTimestamp(s)
	if !ok {
		if len(s) > 64 {
			s = s[:64] + "…"
		}
		return time.Time{}, fmt.Errorf("parsing %q: %w", s, ErrTimestamp)
	}
	return t, nil
}

func parseTimestamp(s string) (time.Time, bool) {
	// Shape check: "2006-01-02T15:04:05" then [.fraction] then zone.
	const base = len("2006-01-02T15:04:05")
	if len(s) < base+1 {
		return time.Time{}, false
	}
	for i := range base {
		c := s[i]
		switch i {
		case 4, 7:
			if c != '-' {
				return time.Time{}, false
			}
		case 10:
			if c != 'T' {
				return time.Time{}, false
			}
		case 13, 16:
			if c != ':' {
				return time.Time{}, false
			}
		default:
			if !isDigit(c) {
				return time.Time{}, false
			}
		}
	}
	i := base
	if s[i] == '.' {
		i++
		start := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		if n := i - start; n < 1 || n > 9 {
			return time.Time{}, false
		}
	}
	zone := s[i:]
	switch {
	case zone == "Z":
	case len(zone) == 6 && (zone[0] == '+' || zone[0] == '-') && zone[3] == ':' &&
		isDigit(zone[1]) && isDigit(zone[2]) && isDigit(zone[4]) && isDigit(zone[5]):
		if zone[1:3] > "23" || zone[4:6] > "59" {
			return time.Time{}, false
		}
	default:
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, false
	}
	t = t.UTC()
	// UnixNano is undefined outside int64 nanoseconds; keys are compared
	// as unix nanos, so such a timestamp is invalid.
	if !time.Unix(0, t.UnixNano()).Equal(t) {
		return time.Time{}, false
	}
	return t, true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
