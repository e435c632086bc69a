package rawzone

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// DeadLetter records a page that could not be fetched within its budget, so
// that the window can be parked and the page fetched again later. It never
// holds the vendor token: LastError is stored as given, and callers pass
// errors already stripped of secrets.
type DeadLetter struct {
	Source      string    `json:"source"`
	WindowStart time.Time `json:"window_start"`
	WindowEnd   time.Time `json:"window_end"`
	// Cursor is the request cursor of the page that failed ("" for page 0).
	Cursor       string    `json:"cursor"`
	Page         int64     `json:"page"`
	Attempts     int       `json:"attempts"`
	FirstFailure time.Time `json:"first_failure"`
	LastFailure  time.Time `json:"last_failure"`
	LastError    string    `json:"last_error"`
	RequestID    string    `json:"request_id"`
}

const (
	deadLetterRoot = "deadletter/"
	// cursorHashLength is the number of hex digits of the cursor's SHA-256
	// in a dead letter's name.
	cursorHashLength = 16
)

// DeadLetterName returns d's object name, which depends only on the page
// that failed, never on when it failed:
// deadletter/<source>/date=YYYY-MM-DD/window=<start>-<end>/page-<Page %05d>-<16 hex of sha256(Cursor)>.json
//
// Dead letters written before this rule are named by their failure time
// (<LastFailure unix nanos>.json); ListDeadLetters reads both.
func DeadLetterName(d DeadLetter) (string, error) {
	if err := checkSource(d.Source); err != nil {
		return "", fmt.Errorf("naming dead letter: %w", err)
	}
	if err := checkWindow(d.WindowStart, d.WindowEnd); err != nil {
		return "", fmt.Errorf("naming dead letter: %w", err)
	}
	if d.Page < 0 {
		return "", fmt.Errorf("naming dead letter: negative page %d: %w", d.Page, ErrInvalidPage)
	}
	if d.LastFailure.IsZero() {
		return "", fmt.Errorf("naming dead letter: zero last failure time: %w", ErrInvalidPage)
	}
	return fmt.Sprintf("%s%s/date=%s/%s/page-%05d-%s.json", deadLetterRoot, d.Source,
		d.WindowStart.UTC().Format(dateLayout), windowSegment(d.WindowStart, d.WindowEnd), d.Page,
		sha256Hex([]byte(d.Cursor))[:cursorHashLength]), nil
}

// samePage reports whether a and b are dead letters of the same page: the
// same source, window, page number and request cursor.
func samePage(a, b DeadLetter) bool {
	return a.Source == b.Source && a.WindowStart.Equal(b.WindowStart) && a.WindowEnd.Equal(b.WindowEnd) &&
		a.Page == b.Page && a.Cursor == b.Cursor
}

// WriteDeadLetter stores d once under DeadLetterName(d) with times in UTC
// and returns the name.
//
// A page has one dead letter: the record of its first failure. When a dead
// letter of the same page (see DeadLetterName) is already stored, because
// a retried bundle or a redrive failed on that page again, the stored one
// stays as it is and WriteDeadLetter returns its name and nil; the window's
// state (cursorstore.WindowState) carries the later attempts and last
// error. Returns an error wrapping ErrContentMismatch if the object under
// the name is not a dead letter of that page.
func WriteDeadLetter(ctx context.Context, s Store, d DeadLetter) (name string, err error) {
	name, err = DeadLetterName(d)
	if err != nil {
		return "", fmt.Errorf("writing dead letter: %w", err)
	}
	d.WindowStart, d.WindowEnd = d.WindowStart.UTC(), d.WindowEnd.UTC()
	d.FirstFailure, d.LastFailure = d.FirstFailure.UTC(), d.LastFailure.UTC()
	data, err := json.Marshal(d)
	if err != nil {
		return "", fmt.Errorf("writing dead letter %s: %w", name, err)
	}
	err = s.PutOnce(ctx, name, data)
	if errors.Is(err, ErrContentMismatch) {
		stored, gerr := s.Get(ctx, name)
		if gerr != nil {
			return "", fmt.Errorf("writing dead letter: reading the stored one: %w", errors.Join(err, gerr))
		}
		var prev DeadLetter
		if jerr := json.Unmarshal(stored, &prev); jerr == nil && samePage(prev, d) {
			return name, nil
		}
	}
	if err != nil {
		return "", fmt.Errorf("writing dead letter: %w", err)
	}
	return name, nil
}

// ListDeadLetters returns one dead letter per failed page of source,
// ordered by window start, window end, page and last failure. It reads
// both namings (by page, and the older one by failure time). Where several
// objects record the same page (a page dead-lettered under the old naming
// more than once, or under both namings), they are folded into one: the
// earliest FirstFailure, the latest LastFailure with its LastError and
// RequestID, and the sum of their Attempts. Objects under the source's
// prefix that are not dead letters are skipped; one that cannot be read or
// decoded is an error naming it.
func ListDeadLetters(ctx context.Context, s Store, source string) ([]DeadLetter, error) {
	if err := checkSource(source); err != nil {
		return nil, fmt.Errorf("listing dead letters: %w", err)
	}
	names, err := s.List(ctx, deadLetterRoot+source+"/")
	if err != nil {
		return nil, fmt.Errorf("listing dead letters of %s: %w", source, err)
	}
	var out []DeadLetter
	for _, n := range names {
		if !strings.HasSuffix(n, ".json") {
			continue
		}
		data, err := s.Get(ctx, n)
		if err != nil {
			return nil, fmt.Errorf("reading dead letter %s: %w", n, err)
		}
		var d DeadLetter
		if err := json.Unmarshal(data, &d); err != nil {
			return nil, fmt.Errorf("decoding dead letter %s: %w", n, err)
		}
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b DeadLetter) int {
		if c := byWindowPage(a, b); c != 0 {
			return c
		}
		if c := strings.Compare(a.Cursor, b.Cursor); c != 0 {
			return c
		}
		return a.LastFailure.Compare(b.LastFailure)
	})
	folded := out[:0]
	for _, d := range out {
		if n := len(folded); n > 0 && samePage(folded[n-1], d) {
			folded[n-1] = foldDeadLetters(folded[n-1], d)
			continue
		}
		folded = append(folded, d)
	}
	// Pages of one window sort by page then cursor; restore the
	// documented order by last failure within a page number.
	slices.SortStableFunc(folded, func(a, b DeadLetter) int {
		if c := byWindowPage(a, b); c != 0 {
			return c
		}
		return a.LastFailure.Compare(b.LastFailure)
	})
	return folded, nil
}

// foldDeadLetters merges two dead letters of the same page, later failing
// after earlier.
func foldDeadLetters(earlier, later DeadLetter) DeadLetter {
	out := later
	if earlier.FirstFailure.Before(later.FirstFailure) {
		out.FirstFailure = earlier.FirstFailure
	}
	out.Attempts = earlier.Attempts + later.Attempts
	return out
}

// byWindowPage orders dead letters by window, then page number.
func byWindowPage(a, b DeadLetter) int {
	if c := a.WindowStart.Compare(b.WindowStart); c != 0 {
		return c
	}
	if c := a.WindowEnd.Compare(b.WindowEnd); c != 0 {
		return c
	}
	return cmpInt(a.Page, b.Page)
}
