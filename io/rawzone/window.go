package rawzone

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Window bounds in object names. A bound on a whole minute is written
// minute-granular, as every raw zone before sub-minute bounds has it
// (windowLayout, "20261201T0500Z"), so existing names stay valid and a
// run of whole-minute bounds names its objects exactly as before. Any
// other bound is written with seconds and nanoseconds in fixed width
// (fineLayout, "20261201T0500_17.250000000Z"). The '_' after the minute
// sorts after the 'Z' of the minute form, so within a date prefix names
// still sort by start, then end: 05:00 < 05:00:17.25 < 05:01.
const fineLayout = "20060102T1504_05.000000000Z"

// formatBound writes t (in UTC) as a window bound of an object name.
func formatBound(t time.Time) string {
	t = t.UTC()
	if t.Truncate(time.Minute).Equal(t) {
		return t.Format(windowLayout)
	}
	return t.Format(fineLayout)
}

// parseBound parses what formatBound writes, and only that: a sub-minute
// form of a whole minute ("…T0500_00.000000000Z") is refused, so one
// window has one name.
func parseBound(s string) (time.Time, error) {
	var t time.Time
	var err error
	switch len(s) {
	case len(windowLayout):
		t, err = time.Parse(windowLayout, s)
	case len(fineLayout):
		t, err = time.Parse(fineLayout, s)
	default:
		return time.Time{}, fmt.Errorf("bound %q: want %s or %s", s, windowLayout, fineLayout)
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("bound %q: %w", s, err)
	}
	if formatBound(t) != s {
		return time.Time{}, fmt.Errorf("bound %q is not in canonical form %q", s, formatBound(t))
	}
	return t, nil
}

// PageRef is what a page object's name says about it.
type PageRef struct {
	Name       string
	Source     string
	Start, End time.Time // the window
	Page       int64
	// Hash is BodyHash of the body the vendor sent, computed when the page
	// landed: the object is intact only if its body still hashes to it.
	Hash string
}

// Window returns the window's object-name prefix (WindowPrefix).
func (r PageRef) Window() string { return WindowPrefix(r.Source, r.Start, r.End) }

// ParsePageRef parses a name made by PageName. Returns an error wrapping
// ErrInvalidPage for any other name.
func ParsePageRef(name string) (PageRef, error) {
	src, start, end, page, err := ParsePageName(name)
	if err != nil {
		return PageRef{}, err
	}
	m := pageFileRE.FindStringSubmatch(name[len(WindowPrefix(src, start, end)):])
	if m == nil { // ParsePageName accepted it: cannot happen
		return PageRef{}, fmt.Errorf("parsing page name %q: %w", name, ErrInvalidPage)
	}
	return PageRef{Name: name, Source: src, Start: start, End: end, Page: page, Hash: m[2]}, nil
}

// ErrDamaged is wrapped by CheckPage's errors: the object no longer holds
// the page that landed under its name.
var ErrDamaged = errors.New("raw page object damaged")

// CheckPage reports whether data, read from the object ref names, is the
// page that landed there: it decodes (gzip and JSON intact), names the same
// source, window and position, and its body hashes to the hash in the
// name. It returns the decoded page. A body the vendor sent that is not a
// valid page envelope still passes: that is bad data to quarantine, not a
// damaged object. Returns an error wrapping ErrDamaged otherwise.
func CheckPage(ref PageRef, data []byte) (PageObject, error) {
	p, err := DecodePage(data)
	if err != nil {
		return PageObject{}, fmt.Errorf("%s: %w: %w", ref.Name, ErrDamaged, err)
	}
	if got := BodyHash(p.Body); got != ref.Hash {
		return PageObject{}, fmt.Errorf("%s: %w: body hashes to %s, the name says %s (altered after it landed)", ref.Name, ErrDamaged, got, ref.Hash)
	}
	if p.Source != ref.Source || !p.WindowStart.Equal(ref.Start) || !p.WindowEnd.Equal(ref.End) || p.Page != ref.Page {
		return PageObject{}, fmt.Errorf("%s: %w: holds page %d of %s window %s..%s", ref.Name, ErrDamaged,
			p.Page, p.Source, p.WindowStart.Format(time.RFC3339Nano), p.WindowEnd.Format(time.RFC3339Nano))
	}
	return p, nil
}

// WindowObjects returns the file names (the part after WindowPrefix) of the
// page objects of window [start, end) of source, sorted: what a window
// state's record of landed objects holds.
func WindowObjects(ctx context.Context, s Store, source string, start, end time.Time) ([]string, error) {
	prefix := WindowPrefix(source, start, end)
	names, err := s.List(ctx, prefix)
	if err != nil {
		return nil, fmt.Errorf("listing objects of window %s: %w", prefix, err)
	}
	out := []string{}
	for _, n := range names {
		r, err := ParsePageRef(n)
		if err != nil || r.Source != source || !r.Start.Equal(start.UTC()) || !r.End.Equal(end.UTC()) {
			continue
		}
		out = append(out, n[len(prefix):])
	}
	return out, nil
}
