package rawzone

import (
	"context"
	"encoding/json"
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

const deadLetterRoot = "deadletter/"

// DeadLetterName returns d's object name:
// deadletter/<source>/date=YYYY-MM-DD/window=<start>-<end>/<LastFailure unix nanos>.json
func DeadLetterName(d DeadLetter) (string, error) {
	if err := checkSource(d.Source); err != nil {
		return "", fmt.Errorf("naming dead letter: %w", err)
	}
	if err := checkWindow(d.WindowStart, d.WindowEnd); err != nil {
		return "", fmt.Errorf("naming dead letter: %w", err)
	}
	if d.LastFailure.IsZero() {
		return "", fmt.Errorf("naming dead letter: zero last failure time: %w", ErrInvalidPage)
	}
	return fmt.Sprintf("%s%s/date=%s/%s/%d.json", deadLetterRoot, d.Source,
		d.WindowStart.UTC().Format(dateLayout), windowSegment(d.WindowStart, d.WindowEnd), d.LastFailure.UnixNano()), nil
}

// WriteDeadLetter stores d once under DeadLetterName(d) with times in UTC.
// Writing the same dead letter again succeeds; another one with the same
// window and LastFailure gives an error wrapping ErrContentMismatch.
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
	if err := s.PutOnce(ctx, name, data); err != nil {
		return "", fmt.Errorf("writing dead letter: %w", err)
	}
	return name, nil
}

// ListDeadLetters returns every dead letter of source, ordered by window
// start, window end, page and last failure. Objects under the source's
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
		if c := a.WindowStart.Compare(b.WindowStart); c != 0 {
			return c
		}
		if c := a.WindowEnd.Compare(b.WindowEnd); c != 0 {
			return c
		}
		if a.Page != b.Page {
			return cmpInt(a.Page, b.Page)
		}
		return a.LastFailure.Compare(b.LastFailure)
	})
	return out, nil
}
