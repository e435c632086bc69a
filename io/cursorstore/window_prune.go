package cursorstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// ErrBadWindowKey is returned by ParseWindowKey for a key that is not a
// window key of the source.
var ErrBadWindowKey = errors.New("not a window key")

// StoredWindow is one window state as stored, with the bounds its key names.
type StoredWindow struct {
	Key        string
	Start, End time.Time
	Version    int64
	State      WindowState
}

// WindowPrefix returns the prefix of every window key of source.
func WindowPrefix(source string) string { return "window/" + source + "/" }

// ParseWindowKey returns the bounds a window key of source names (see
// WindowKey; bounds with or without a fraction of a second). Returns an
// error wrapping ErrBadWindowKey for anything else.
func ParseWindowKey(source, key string) (start, end time.Time, err error) {
	rest, ok := strings.CutPrefix(key, WindowPrefix(source))
	if !ok {
		return time.Time{}, time.Time{}, fmt.Errorf("window key %q of source %q: %w", key, source, ErrBadWindowKey)
	}
	a, b, ok := strings.Cut(rest, "_")
	if !ok {
		return time.Time{}, time.Time{}, fmt.Errorf("window key %q: want <start>_<end>: %w", key, ErrBadWindowKey)
	}
	start, err1 := time.Parse(time.RFC3339Nano, a)
	end, err2 := time.Parse(time.RFC3339Nano, b)
	if err := errors.Join(err1, err2); err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("window key %q: %w: %w", key, ErrBadWindowKey, err)
	}
	if !start.Before(end) {
		return time.Time{}, time.Time{}, fmt.Errorf("window key %q: start is not before end: %w", key, ErrBadWindowKey)
	}
	return start.UTC(), end.UTC(), nil
}

// ListWindows returns every window state of source, ordered by start, then
// end. A key under the prefix that does not parse is an error naming it.
func ListWindows(ctx context.Context, s Store, source string) ([]StoredWindow, error) {
	keys, err := s.List(ctx, WindowPrefix(source))
	if err != nil {
		return nil, fmt.Errorf("listing windows of %s: %w", source, err)
	}
	out := make([]StoredWindow, 0, len(keys))
	for _, k := range keys {
		start, end, err := ParseWindowKey(source, k)
		if err != nil {
			return nil, fmt.Errorf("listing windows of %s: %w", source, err)
		}
		st, ver, err := LoadWindow(ctx, s, k)
		if err != nil {
			return nil, fmt.Errorf("listing windows of %s: %w", source, err)
		}
		if ver == 0 {
			continue // deleted since it was listed
		}
		out = append(out, StoredWindow{Key: k, Start: start, End: end, Version: ver, State: st})
	}
	slices.SortFunc(out, func(a, b StoredWindow) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return a.End.Compare(b.End)
	})
	return out, nil
}

// Supersedes reports whether w (parked or open) has been read since: the
// done windows among all whose chains finished after w was last written
// (State.UpdatedAt strictly later) cover [w.Start, w.End) between them.
// It returns the keys of the covering windows it used, in start order, or
// nil when w is not covered, is not parked or open, or nothing covers it.
//
// A done window's chain read every record its range listed, from the first
// page to the last; one that finished after w stopped has therefore read
// everything w could have read, and more. Windows cut at other bounds by
// other runs (clipped at a run's edges) count as long as together they
// leave no gap.
func Supersedes(w StoredWindow, all []StoredWindow) []string {
	if w.State.Status != StatusParked && w.State.Status != StatusOpen {
		return nil
	}
	var cover []StoredWindow
	for _, d := range all {
		if d.Key != w.Key && d.State.Status == StatusDone && d.State.UpdatedAt.After(w.State.UpdatedAt) &&
			d.Start.Before(w.End) && d.End.After(w.Start) {
			cover = append(cover, d)
		}
	}
	slices.SortFunc(cover, func(a, b StoredWindow) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return cmp.Compare(b.End.UnixNano(), a.End.UnixNano()) // the longest first
	})
	var keys []string
	reached := w.Start
	for _, d := range cover {
		if !reached.Before(w.End) {
			break
		}
		if d.Start.After(reached) {
			return nil // a gap no later window can close: they start later still
		}
		if d.End.After(reached) {
			keys = append(keys, d.Key)
			reached = d.End
		}
	}
	if reached.Before(w.End) {
		return nil
	}
	return keys
}

// Prunable reports whether the state of w may be deleted at a watermark
// with a retention: it is done or superseded, and it ended at least
// retention before the watermark. A parked or open window is never
// prunable, nor is any window when retention or the watermark is zero.
func Prunable(w StoredWindow, watermark time.Time, retention time.Duration) bool {
	if retention <= 0 || watermark.IsZero() {
		return false
	}
	if w.State.Status != StatusDone && w.State.Status != StatusSuperseded {
		return false
	}
	return !w.End.After(watermark.Add(-retention))
}
