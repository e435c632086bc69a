package rawzone

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ErrInvalidPage is returned by EncodePage, DecodePage and ParsePageName for
// a page object or name that does not follow the raw zone's format.
var ErrInvalidPage = errors.New("invalid raw page object")

// PageObject is one vendor page as it landed, with the request that fetched
// it. It never holds the vendor token. Its JSON form (snake_case keys, body
// last) is what EncodePage writes.
type PageObject struct {
	// Source names the vendor feed ("settlements"); one path segment of
	// letters, digits, '-', '_' and '.', not starting with '.'.
	Source string `json:"source"`
	// WindowStart and WindowEnd are the window's updated_gte and updated_lt.
	// Both must fall on a whole minute; they are stored in UTC.
	WindowStart time.Time `json:"window_start"`
	WindowEnd   time.Time `json:"window_end"`
	// Page is the 0-based position of this page in its chain.
	Page int64 `json:"page"`
	// Chain counts restarts of the window's chain after a 410 (0 first).
	Chain int `json:"chain"`
	// RequestCursor is the cursor sent for this page ("" for page 0).
	RequestCursor string `json:"request_cursor"`
	Limit         int    `json:"limit"`
	NextCursor    string `json:"next_cursor"`
	HasMore       bool   `json:"has_more"`
	RequestID     string `json:"request_id"`
	Status        int    `json:"status"`
	// Attempts is the number of requests it took to fetch this page (≥ 1).
	Attempts  int       `json:"attempts"`
	FetchedAt time.Time `json:"fetched_at"`
	// Records is the number of records in Body's data array.
	Records int `json:"records"`
	// Body is the vendor's (transfer-decoded) response body verbatim. It
	// must be valid JSON; surrounding whitespace is not kept.
	Body json.RawMessage `json:"body"`
}

const (
	pagesRoot      = "pages/"
	dateLayout     = "2006-01-02"
	windowLayout   = "20060102T1504Z"
	bodyHashLength = 16
)

// maxPageObject bounds a decompressed page object; the vendor's bodies are
// at most 8 MiB. A variable so tests can lower it.
var maxPageObject = 64 << 20

var sourceRE = regexp.MustCompile(`^[A-Za-z0-9_-][A-Za-z0-9_.-]*$`)

func checkSource(source string) error {
	if !sourceRE.MatchString(source) {
		return fmt.Errorf("source %q: want letters, digits, '-', '_', '.' (not first): %w", source, ErrInvalidPage)
	}
	return nil
}

func checkWindow(start, end time.Time) error {
	if start.Truncate(time.Minute) != start || end.Truncate(time.Minute) != end {
		return fmt.Errorf("window %s-%s: bounds must fall on whole minutes: %w",
			start.Format(time.RFC3339Nano), end.Format(time.RFC3339Nano), ErrInvalidPage)
	}
	if !start.Before(end) {
		return fmt.Errorf("window %s-%s: start is not before end: %w",
			start.Format(time.RFC3339), end.Format(time.RFC3339), ErrInvalidPage)
	}
	for _, t := range []time.Time{start, end} {
		if y := t.UTC().Year(); y < 1000 || y > 9999 {
			return fmt.Errorf("window bound %s: year outside 1000..9999: %w", t.Format(time.RFC3339), ErrInvalidPage)
		}
	}
	return nil
}

// DatePrefix returns the prefix, ending in "/", of every page object of the
// windows of source that start on day's UTC date.
func DatePrefix(source string, day time.Time) string {
	return pagesRoot + source + "/date=" + day.UTC().Format(dateLayout) + "/"
}

// WindowPrefix returns the prefix, ending in "/", of every page object of
// the window [start, end) of source.
func WindowPrefix(source string, start, end time.Time) string {
	return DatePrefix(source, start) + windowSegment(start, end) + "/"
}

func windowSegment(start, end time.Time) string {
	return "window=" + start.UTC().Format(windowLayout) + "-" + end.UTC().Format(windowLayout)
}

// PageName returns the object name of page p, which depends only on its
// source, window, position and body:
// pages/<source>/date=YYYY-MM-DD/window=<start>-<end>/page-<page %05d>-<16 hex of sha256(body)>.json.gz
func PageName(p PageObject) (string, error) {
	if err := checkSource(p.Source); err != nil {
		return "", fmt.Errorf("naming page: %w", err)
	}
	if err := checkWindow(p.WindowStart, p.WindowEnd); err != nil {
		return "", fmt.Errorf("naming page: %w", err)
	}
	if p.Page < 0 {
		return "", fmt.Errorf("naming page: negative page %d: %w", p.Page, ErrInvalidPage)
	}
	return fmt.Sprintf("%spage-%05d-%s.json.gz", WindowPrefix(p.Source, p.WindowStart, p.WindowEnd), p.Page, BodyHash(p.Body)), nil
}

// BodyHash returns the first 16 hex digits of the SHA-256 of body with
// surrounding JSON whitespace removed: the hash in a page object's name.
func BodyHash(body []byte) string {
	return sha256Hex(trimJSONSpace(body))[:bodyHashLength]
}

func trimJSONSpace(b []byte) []byte { return bytes.Trim(b, " \t\r\n") }

// EncodePage returns p's object name and its stored form: the JSON of p,
// gzip'd with an empty header (no name, no time), so the same page encodes
// to the same bytes. Times are written in UTC. Returns an error wrapping
// ErrInvalidPage if p's source, window or page is invalid or its body is not
// valid JSON.
func EncodePage(p PageObject) (name string, data []byte, err error) {
	p.Body = trimJSONSpace(p.Body)
	name, err = PageName(p)
	if err != nil {
		return "", nil, fmt.Errorf("encoding page: %w", err)
	}
	if !json.Valid(p.Body) {
		return "", nil, fmt.Errorf("encoding page %s: body is not valid JSON: %w", name, ErrInvalidPage)
	}
	body := p.Body
	p.Body = nil
	p.WindowStart, p.WindowEnd, p.FetchedAt = p.WindowStart.UTC(), p.WindowEnd.UTC(), p.FetchedAt.UTC()
	// Marshal the header with "body":null, then splice in the body bytes
	// verbatim: json.Marshal would compact and HTML-escape a RawMessage,
	// and the stored body must be the bytes the name's hash covers.
	head, err := json.Marshal(p)
	if err != nil {
		return "", nil, fmt.Errorf("encoding page %s: %w", name, err)
	}
	const tail = `"body":null}`
	if !bytes.HasSuffix(head, []byte(tail)) {
		return "", nil, fmt.Errorf("encoding page %s: body is not the last field", name)
	}
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err != nil {
		return "", nil, fmt.Errorf("encoding page %s: %w", name, err)
	}
	for _, part := range [][]byte{head[:len(head)-len("null}")], body, []byte("}")} {
		if _, err := zw.Write(part); err != nil {
			return "", nil, fmt.Errorf("encoding page %s: %w", name, err)
		}
	}
	if err := zw.Close(); err != nil {
		return "", nil, fmt.Errorf("encoding page %s: %w", name, err)
	}
	return name, buf.Bytes(), nil
}

// DecodePage parses a stored page object, gzip'd (as EncodePage writes it)
// or plain JSON. Returns an error wrapping ErrInvalidPage if the data is
// corrupt, larger than 64 MiB decompressed, or has no body.
func DecodePage(data []byte) (PageObject, error) {
	raw := data
	if len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return PageObject{}, fmt.Errorf("decoding page: %w: %w", ErrInvalidPage, err)
		}
		zr.Multistream(false)
		raw, err = io.ReadAll(io.LimitReader(zr, int64(maxPageObject)+1))
		if err != nil {
			return PageObject{}, fmt.Errorf("decoding page: %w: %w", ErrInvalidPage, err)
		}
		if len(raw) > maxPageObject {
			return PageObject{}, fmt.Errorf("decoding page: larger than %d bytes: %w", maxPageObject, ErrInvalidPage)
		}
	}
	var p PageObject
	if err := json.Unmarshal(raw, &p); err != nil {
		return PageObject{}, fmt.Errorf("decoding page: %w: %w", ErrInvalidPage, err)
	}
	if len(p.Body) == 0 || string(p.Body) == "null" {
		return PageObject{}, fmt.Errorf("decoding page: no body: %w", ErrInvalidPage)
	}
	return p, nil
}

var pageFileRE = regexp.MustCompile(`^page-([0-9]{5,19})-([0-9a-f]{16})\.json\.gz$`)

// ParsePageName parses a name made by PageName back into its parts. Returns
// an error wrapping ErrInvalidPage for any other name, including one whose
// date segment does not match its window's start.
func ParsePageName(name string) (source string, start, end time.Time, page int64, err error) {
	fail := func(why string) (string, time.Time, time.Time, int64, error) {
		return "", time.Time{}, time.Time{}, 0, fmt.Errorf("parsing page name %q: %s: %w", name, why, ErrInvalidPage)
	}
	rest, ok := strings.CutPrefix(name, pagesRoot)
	if !ok {
		return fail("not under " + pagesRoot)
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 4 {
		return fail("want pages/<source>/date=.../window=.../page-...")
	}
	source = parts[0]
	if checkSource(source) != nil {
		return fail("bad source")
	}
	start, end, err = parseWindowSegment(parts[2])
	if err != nil {
		return fail(err.Error())
	}
	if parts[1] != "date="+start.Format(dateLayout) {
		return fail("date segment is not the window start's date")
	}
	m := pageFileRE.FindStringSubmatch(parts[3])
	if m == nil {
		return fail("bad page file name")
	}
	page, err = strconv.ParseInt(m[1], 10, 64)
	if err != nil || fmt.Sprintf("%05d", page) != m[1] {
		return fail("bad page number")
	}
	return source, start, end, page, nil
}

func parseWindowSegment(seg string) (start, end time.Time, err error) {
	w, ok := strings.CutPrefix(seg, "window=")
	if !ok {
		return time.Time{}, time.Time{}, errors.New("bad window segment")
	}
	a, b, ok := strings.Cut(w, "-")
	if !ok || len(a) != len(windowLayout) || len(b) != len(windowLayout) {
		return time.Time{}, time.Time{}, errors.New("bad window segment")
	}
	if start, err = time.Parse(windowLayout, a); err != nil {
		return time.Time{}, time.Time{}, errors.New("bad window start")
	}
	if end, err = time.Parse(windowLayout, b); err != nil {
		return time.Time{}, time.Time{}, errors.New("bad window end")
	}
	if !start.Before(end) {
		return time.Time{}, time.Time{}, errors.New("window start is not before its end")
	}
	return start, end, nil
}

// maxListDays bounds ListWindowPages: a zero from would otherwise list every
// day since year 1.
const maxListDays = 3700

// ListWindowPages returns the names of every page object of source whose
// window starts in [from, to), ordered by window start, window end, page
// and name. It lists one date prefix per UTC day, so it costs a listing per
// day of the range (at most about ten years). Names under those prefixes
// that ParsePageName rejects are skipped.
func ListWindowPages(ctx context.Context, s Store, source string, from, to time.Time) ([]string, error) {
	if err := checkSource(source); err != nil {
		return nil, fmt.Errorf("listing window pages: %w", err)
	}
	if !from.Before(to) {
		return nil, nil
	}
	first := from.UTC().Truncate(24 * time.Hour)
	if to.Sub(first) > maxListDays*24*time.Hour {
		return nil, fmt.Errorf("listing window pages of %s: range %s..%s spans more than %d days",
			source, from.Format(time.RFC3339), to.Format(time.RFC3339), maxListDays)
	}
	type entry struct {
		name       string
		start, end time.Time
		page       int64
	}
	var found []entry
	for day := first; day.Before(to); day = day.Add(24 * time.Hour) {
		names, err := s.List(ctx, DatePrefix(source, day))
		if err != nil {
			return nil, fmt.Errorf("listing window pages of %s on %s: %w", source, day.Format(dateLayout), err)
		}
		for _, n := range names {
			src, start, end, page, err := ParsePageName(n)
			if err != nil || src != source || start.Before(from) || !start.Before(to) {
				continue
			}
			found = append(found, entry{n, start, end, page})
		}
	}
	slices.SortFunc(found, func(a, b entry) int {
		if c := a.start.Compare(b.start); c != 0 {
			return c
		}
		if c := a.end.Compare(b.end); c != 0 {
			return c
		}
		if a.page != b.page {
			return cmpInt(a.page, b.page)
		}
		return strings.Compare(a.name, b.name)
	})
	var out []string
	for _, e := range found {
		out = append(out, e.name)
	}
	return out, nil
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// PutPage encodes p and writes it once. A page object already stored under
// the same name with the same source, window, position and body counts as
// written (existed is true) even if its fetch metadata differ: a page
// re-fetched after a crash between PutOnce and the cursor commit has a new
// request id, attempt count and fetch time but is the same page, and the
// stored one stays. Any other difference returns the store's error wrapping
// ErrContentMismatch.
func PutPage(ctx context.Context, s Store, p PageObject) (name string, existed bool, err error) {
	name, data, err := EncodePage(p)
	if err != nil {
		return "", false, err
	}
	err = s.PutOnce(ctx, name, data)
	if err == nil || !errors.Is(err, ErrContentMismatch) {
		return name, false, err
	}
	stored, gerr := s.Get(ctx, name)
	if gerr != nil {
		return name, false, fmt.Errorf("%w (reading the stored page: %w)", err, gerr)
	}
	old, derr := DecodePage(stored)
	if derr != nil {
		return name, false, fmt.Errorf("%w (decoding the stored page: %w)", err, derr)
	}
	if old.Source != p.Source || !old.WindowStart.Equal(p.WindowStart) || !old.WindowEnd.Equal(p.WindowEnd) ||
		old.Page != p.Page || !bytes.Equal(old.Body, trimJSONSpace(p.Body)) {
		return name, false, err
	}
	return name, true, nil
}
