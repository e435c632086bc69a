package rawzone

import (
	"bytes"
	stdgzip "compress/gzip"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	gojson "github.com/goccy/go-json"
	"github.com/klauspost/compress/gzip"

	"github.com/marketplace/settle/internal/jsonscan"
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
	// WindowStart and WindowEnd are the window's updated_gte and updated_lt,
	// exact to the nanosecond; they are stored in UTC. A bound on a whole
	// minute keeps the minute-granular name segment (see WindowPrefix).
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
	return "window=" + formatBound(start) + "-" + formatBound(end)
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

// gzipWriters holds idle BestSpeed gzip writers for EncodePage.
var gzipWriters = sync.Pool{New: func() any {
	zw, err := gzip.NewWriterLevel(nil, gzip.BestSpeed)
	if err != nil {
		panic(err) // BestSpeed is a valid level
	}
	return zw
}}

// EncodePage returns p's object name and its stored form: the JSON of p,
// gzip'd (github.com/klauspost/compress, BestSpeed) with an empty header
// (no name, no time), so the same page encodes to the same bytes with the
// same compressor version. Objects compress/gzip wrote before decode the
// same way, and PutPage takes either for the same page. Times are written
// in UTC. Returns an error wrapping ErrInvalidPage if p's source, window or
// page is invalid or its body is not valid JSON.
func EncodePage(p PageObject) (name string, data []byte, err error) {
	p.Body = trimJSONSpace(p.Body)
	name, err = PageName(p)
	if err != nil {
		return "", nil, fmt.Errorf("encoding page: %w", err)
	}
	if !jsonscan.Valid(p.Body) {
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
	buf.Grow(len(body)/3 + 512)
	zw := gzipWriters.Get().(*gzip.Writer)
	defer func() {
		zw.Reset(nil) // drop buf
		gzipWriters.Put(zw)
	}()
	zw.Reset(&buf)
	// An empty header, as compress/gzip writes it: the zero ModTime would
	// otherwise be written as a date in year 1 modulo 2^32.
	zw.ModTime = time.Unix(0, 0)
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
//
// It accepts and refuses exactly what json.Unmarshal into a PageObject
// (after compress/gzip) would, and returns the same values (the tests hold
// it to encoding/json), decoding with github.com/goccy/go-json: a page is
// ~1 MB of records that must be validated, and encoding/json's scanner
// takes 8 times as long as the inflate, goccy about as long as our own
// scanner did (see README "Benchmarks"). Body is a copy, never data.
func DecodePage(data []byte) (PageObject, error) {
	raw := data
	gzipped := len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b
	if gzipped {
		var err error
		if raw, err = gunzip(data); err != nil {
			return PageObject{}, err
		}
	}
	var p PageObject
	if err := gojson.Unmarshal(raw, &p); err != nil {
		return PageObject{}, fmt.Errorf("decoding page: %w: %w", ErrInvalidPage, err)
	}
	if len(p.Body) == 0 || string(p.Body) == "null" {
		return PageObject{}, fmt.Errorf("decoding page: no body: %w", ErrInvalidPage)
	}
	return p, nil
}

// gunzip decompresses the first gzip member of data, with at most
// maxPageObject bytes of output.
func gunzip(data []byte) ([]byte, error) {
	var zr io.Reader
	if len(data) >= 4 && data[3]>>5 != 0 {
		// Reserved header flags: klauspost's reader refuses them where
		// compress/gzip ignores them. No writer sets them; keep the old
		// behaviour for such an object anyway.
		r, err := stdgzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("decoding page: %w: %w", ErrInvalidPage, err)
		}
		r.Multistream(false)
		zr = r
	} else {
		r := gzipReaders.Get().(*gzip.Reader)
		defer gzipReaders.Put(r)
		if err := r.Reset(bytes.NewReader(data)); err != nil {
			return nil, fmt.Errorf("decoding page: %w: %w", ErrInvalidPage, err)
		}
		r.Multistream(false)
		zr = r
	}
	limit := maxPageObject + 1
	// The trailer's ISIZE is the size modulo 2^32 when data is one member:
	// a hint, bounded by the limit and by deflate's best ratio (1032:1).
	size := 0
	if len(data) >= 4 {
		size = int(binary.LittleEndian.Uint32(data[len(data)-4:]))
	}
	size = min(size, limit, len(data)*1032) + 1
	buf := make([]byte, 0, max(size, 512))
	for {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(cap(buf), limit-len(buf)+1))
		}
		n, err := zr.Read(buf[len(buf):min(cap(buf), limit)])
		buf = buf[:len(buf)+n]
		if len(buf) >= limit {
			return nil, fmt.Errorf("decoding page: larger than %d bytes: %w", maxPageObject, ErrInvalidPage)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("decoding page: %w: %w", ErrInvalidPage, err)
		}
	}
	return buf, nil
}

// gzipReaders holds idle gzip readers for DecodePage.
var gzipReaders = sync.Pool{New: func() any { return new(gzip.Reader) }}

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
	if !ok {
		return time.Time{}, time.Time{}, errors.New("bad window segment")
	}
	if start, err = parseBound(a); err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("bad window start: %w", err)
	}
	if end, err = parseBound(b); err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("bad window end: %w", err)
	}
	if !start.Before(end) {
		return time.Time{}, time.Time{}, errors.New("window start is not before its end")
	}
	return start, end, nil
}

// maxListDays bounds ListWindowPages: a zero from would otherwise list every
// day since year 1.
const maxListDays = 3700

// maxWindowSpan is the longest window the vendor serves (24 h): a window
// that overlaps [from, to) starts at most this long before from.
const maxWindowSpan = 24 * time.Hour

// ListWindowPages returns the names of every page object of source whose
// window overlaps [from, to) (starts before to and ends after from),
// ordered by window start, window end, page and name. A window clipped by
// an earlier run's edges that starts before from is included: a replay of
// a run's own range covers every window the run read. A window is listed
// whole even where it reaches beyond [from, to): reprocessing more raw data
// than asked never changes the merged result, missing some would. It lists
// one date prefix per UTC day from the day before from's (windows span at
// most 24 h), at most about ten years. Names under those prefixes that
// ParsePageName rejects are skipped.
func ListWindowPages(ctx context.Context, s Store, source string, from, to time.Time) ([]string, error) {
	refs, err := ListPageRefs(ctx, s, source, from, to)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, r := range refs {
		out = append(out, r.Name)
	}
	return out, nil
}

// ListPageRefs is ListWindowPages with each name parsed.
func ListPageRefs(ctx context.Context, s Store, source string, from, to time.Time) ([]PageRef, error) {
	if err := checkSource(source); err != nil {
		return nil, fmt.Errorf("listing window pages: %w", err)
	}
	if !from.Before(to) {
		return nil, nil
	}
	first := from.UTC().Add(-maxWindowSpan).Truncate(24 * time.Hour)
	if to.Sub(first) > maxListDays*24*time.Hour {
		return nil, fmt.Errorf("listing window pages of %s: range %s..%s spans more than %d days",
			source, from.Format(time.RFC3339), to.Format(time.RFC3339), maxListDays)
	}
	var found []PageRef
	for day := first; day.Before(to); day = day.Add(24 * time.Hour) {
		names, err := s.List(ctx, DatePrefix(source, day))
		if err != nil {
			return nil, fmt.Errorf("listing window pages of %s on %s: %w", source, day.Format(dateLayout), err)
		}
		for _, n := range names {
			r, err := ParsePageRef(n)
			if err != nil || r.Source != source || !r.Start.Before(to) || !r.End.After(from) {
				continue
			}
			found = append(found, r)
		}
	}
	SortPageRefs(found)
	return found, nil
}

// SortPageRefs orders refs by window start, window end, page and name.
func SortPageRefs(refs []PageRef) {
	slices.SortFunc(refs, func(a, b PageRef) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		if c := a.End.Compare(b.End); c != 0 {
			return c
		}
		if a.Page != b.Page {
			return cmpInt(a.Page, b.Page)
		}
		return strings.Compare(a.Name, b.Name)
	})
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
// stored one stays. Content is compared decoded, so an object gzip'd by
// another compressor (compress/gzip, before EncodePage used klauspost's)
// is the same page too. Any other difference returns the store's error
// wrapping ErrContentMismatch.
func PutPage(ctx context.Context, s Store, p PageObject) (name string, existed bool, err error) {
	name, data, err := EncodePage(p)
	if err != nil {
		return "", false, err
	}
	existed, err = putOnceSame(ctx, s, name, data, "page", func(stored []byte) (bool, error) {
		old, err := DecodePage(stored)
		return err == nil && old.Source == p.Source && old.WindowStart.Equal(p.WindowStart) && old.WindowEnd.Equal(p.WindowEnd) &&
			old.Page == p.Page && bytes.Equal(old.Body, trimJSONSpace(p.Body)), err
	})
	return name, existed, err
}

// putOnceSame writes data once under name. When another object is stored
// there, same (given the stored bytes) decides whether it holds the same
// content: then the write counts as done (existed is true); otherwise the
// store's error wrapping ErrContentMismatch is returned, with the reason
// the stored object could not be read or decoded when that is why.
func putOnceSame(ctx context.Context, s Store, name string, data []byte, what string, same func(stored []byte) (bool, error)) (existed bool, err error) {
	err = s.PutOnce(ctx, name, data)
	if err == nil || !errors.Is(err, ErrContentMismatch) {
		return false, err
	}
	stored, gerr := s.Get(ctx, name)
	if gerr != nil {
		return false, fmt.Errorf("%w (reading the stored %s: %w)", err, what, gerr)
	}
	ok, derr := same(stored)
	if derr != nil {
		return false, fmt.Errorf("%w (decoding the stored %s: %w)", err, what, derr)
	}
	if !ok {
		return false, err
	}
	return true, nil
}
