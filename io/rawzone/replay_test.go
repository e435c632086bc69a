package rawzone_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/marketplace/settle/io/rawzone"
)

func newFileStore(t *testing.T) *rawzone.FileStore {
	t.Helper()
	s, err := rawzone.NewFileStore(t.TempDir())
	if err != nil {
		t.Fatalf("NewFileStore = %v", err)
	}
	return s
}

func putPage(t *testing.T, s rawzone.Store, source string, start, end time.Time, page int64) string {
	t.Helper()
	p := rawzone.PageObject{
		Source: source, WindowStart: start, WindowEnd: end, Page: page, Status: 200, Attempts: 1,
		Body: json.RawMessage(fmt.Sprintf(`{"data":[],"page":%d,"w":%q}`, page, start)),
	}
	name, existed, err := rawzone.PutPage(t.Context(), s, p)
	if err != nil || existed {
		t.Fatalf("PutPage(%s page %d) = %v, existed %v; want nil, false", start, page, err, existed)
	}
	return name
}

func TestListWindowPagesReturnsTheWindowsOverlappingTheRange(t *testing.T) {
	s := newFileStore(t)
	at := func(v string) time.Time { return mustTime(t, v) }
	h := time.Hour
	from, to := at("2024-05-01T06:00:00Z"), at("2024-05-03T06:00:00Z")

	before := putPage(t, s, "settlements", at("2024-05-01T05:00:00Z"), at("2024-05-01T06:00:00Z"), 0)
	first0 := putPage(t, s, "settlements", from, from.Add(h), 0)
	first1 := putPage(t, s, "settlements", from, from.Add(h), 1)
	first10 := putPage(t, s, "settlements", from, from.Add(h), 10)
	midnight := putPage(t, s, "settlements", at("2024-05-01T23:30:00Z"), at("2024-05-02T00:30:00Z"), 0)
	day2 := putPage(t, s, "settlements", at("2024-05-02T12:00:00Z"), at("2024-05-02T12:15:00Z"), 0)
	wide := putPage(t, s, "settlements", at("2024-05-02T12:00:00Z"), at("2024-05-03T12:00:00Z"), 0)
	last := putPage(t, s, "settlements", at("2024-05-03T05:59:00Z"), at("2024-05-03T06:59:00Z"), 0)
	atEnd := putPage(t, s, "settlements", to, to.Add(h), 0)
	other := putPage(t, s, "settlements-eu", from, from.Add(h), 0)
	if err := s.PutOnce(t.Context(), rawzone.DatePrefix("settlements", from)+"README", []byte("not a page")); err != nil {
		t.Fatal(err)
	}
	if _, err := rawzone.WriteDeadLetter(t.Context(), s, rawzone.DeadLetter{
		Source: "settlements", WindowStart: from, WindowEnd: from.Add(h), LastFailure: from.Add(2 * h),
	}); err != nil {
		t.Fatal(err)
	}

	got, err := rawzone.ListWindowPages(t.Context(), s, "settlements", from, to)
	if err != nil {
		t.Fatalf("ListWindowPages = %v", err)
	}
	want := []string{first0, first1, first10, midnight, day2, wide, last}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ListWindowPages mismatch (-want +got):\n%s\n(excluded: %s %s %s)", diff, before, atEnd, other)
	}

	for _, tc := range []struct {
		name     string
		from, to time.Time
		want     []string
	}{
		{"an empty range lists nothing", from, from, nil},
		{"a reversed range lists nothing", to, from, nil},
		{"a one-minute range lists the windows overlapping it", from, from.Add(time.Minute), []string{first0, first1, first10}},
		{"a range inside a window lists that window whole", from.Add(20 * time.Minute), from.Add(21 * time.Minute), []string{first0, first1, first10}},
		{"a range starting inside a window that began the day before lists it", at("2024-05-02T00:10:00Z"), at("2024-05-02T00:20:00Z"), []string{midnight}},
		{"a range in another zone means the same instants", from.In(time.FixedZone("X", 5*3600)), to.In(time.FixedZone("Y", -3*3600)), want},
		{"a range of another year lists nothing", at("2023-01-01T00:00:00Z"), at("2023-01-03T00:00:00Z"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := rawzone.ListWindowPages(t.Context(), s, "settlements", tc.from, tc.to)
			if err != nil {
				t.Fatalf("ListWindowPages = %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ListWindowPages mismatch (-want +got):\n%s", diff)
			}
		})
	}

	if _, err := rawzone.ListWindowPages(t.Context(), s, "settlements", time.Time{}, to); err == nil {
		t.Errorf("ListWindowPages from the zero time = nil error, want a range error")
	}
	if _, err := rawzone.ListWindowPages(t.Context(), s, "../x", from, to); !errors.Is(err, rawzone.ErrInvalidPage) {
		t.Errorf("ListWindowPages with a bad source = %v, want ErrInvalidPage", err)
	}
}

func TestPutPageAcceptsARefetchOfTheSamePage(t *testing.T) {
	s := newFileStore(t)
	p := samplePage(t)
	name, existed, err := rawzone.PutPage(t.Context(), s, p)
	if err != nil || existed {
		t.Fatalf("PutPage = %v, existed %v; want nil, false", err, existed)
	}
	stored, err := s.Get(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}

	refetch := samplePage(t)
	refetch.RequestID, refetch.Attempts, refetch.Chain = "req_new", 1, 2
	refetch.FetchedAt = refetch.FetchedAt.Add(time.Hour)
	refetch.RequestCursor, refetch.NextCursor = "c_41_reissued", "c_42_reissued"
	name2, existed, err := rawzone.PutPage(t.Context(), s, refetch)
	if err != nil || !existed || name2 != name {
		t.Fatalf("PutPage(refetch) = %q, existed %v, %v; want %q, true, nil", name2, existed, err, name)
	}
	after, err := s.Get(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	if string(after) != string(stored) {
		t.Errorf("PutPage of a refetch replaced the stored page")
	}

	// The name holding a page with another body (a forged object, or a
	// 64-bit hash collision) is a real mismatch.
	forged := samplePage(t)
	forged.Body = json.RawMessage(`{"data":[],"forged":true}`)
	_, forgedData, err := rawzone.EncodePage(forged)
	if err != nil {
		t.Fatal(err)
	}
	s2 := newFileStore(t)
	if err := s2.PutOnce(t.Context(), name, forgedData); err != nil {
		t.Fatal(err)
	}
	if _, _, err := rawzone.PutPage(t.Context(), s2, p); !errors.Is(err, rawzone.ErrContentMismatch) {
		t.Errorf("PutPage over a stored page with another body = %v, want ErrContentMismatch", err)
	}
	// So is a page of another position stored under the name.
	moved := samplePage(t)
	moved.Page = 41
	_, movedData, err := rawzone.EncodePage(moved)
	if err != nil {
		t.Fatal(err)
	}
	s4 := newFileStore(t)
	if err := s4.PutOnce(t.Context(), name, movedData); err != nil {
		t.Fatal(err)
	}
	if _, _, err := rawzone.PutPage(t.Context(), s4, p); !errors.Is(err, rawzone.ErrContentMismatch) {
		t.Errorf("PutPage over a stored page of another position = %v, want ErrContentMismatch", err)
	}
	// An undecodable object under the name is a mismatch too, not success.
	s3 := newFileStore(t)
	if err := s3.PutOnce(t.Context(), name, []byte("garbage")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := rawzone.PutPage(t.Context(), s3, p); !errors.Is(err, rawzone.ErrContentMismatch) {
		t.Errorf("PutPage over an undecodable object = %v, want ErrContentMismatch", err)
	}
}

func TestDeadLettersAreWrittenOnceAndListedByWindow(t *testing.T) {
	s := newFileStore(t)
	at := func(v string) time.Time { return mustTime(t, v) }
	dl := func(start string, page int64, last string) rawzone.DeadLetter {
		st := at(start)
		return rawzone.DeadLetter{
			Source: "settlements", WindowStart: st, WindowEnd: st.Add(time.Hour), Cursor: fmt.Sprintf("c_%d", page), Page: page,
			Attempts: 9, FirstFailure: at(last).Add(-10 * time.Minute), LastFailure: at(last),
			LastError: "fetching page: status 503", RequestID: "req_1",
		}
	}
	letters := []rawzone.DeadLetter{
		dl("2024-05-02T10:00:00Z", 3, "2024-05-02T11:30:00Z"),
		dl("2024-05-01T10:00:00Z", 7, "2024-05-01T12:00:00Z"),
		dl("2024-05-01T10:00:00Z", 2, "2024-05-01T11:00:00Z"),
	}
	for _, d := range letters {
		name, err := rawzone.WriteDeadLetter(t.Context(), s, d)
		if err != nil {
			t.Fatalf("WriteDeadLetter = %v", err)
		}
		cursorHash := sha256.Sum256([]byte(d.Cursor))
		wantName := fmt.Sprintf("deadletter/settlements/date=%s/window=%s-%s/page-%05d-%s.json", d.WindowStart.Format("2006-01-02"),
			d.WindowStart.Format("20060102T1504Z"), d.WindowEnd.Format("20060102T1504Z"), d.Page, hex.EncodeToString(cursorHash[:])[:16])
		if name != wantName {
			t.Errorf("WriteDeadLetter name = %q, want %q", name, wantName)
		}
		// A retry of the same write succeeds.
		if _, err := rawzone.WriteDeadLetter(t.Context(), s, d); err != nil {
			t.Errorf("WriteDeadLetter retry = %v, want nil", err)
		}
	}
	// The same page failing again later (a retried bundle, a redrive) is
	// the same dead letter: same name, no second object, the first stays.
	again := letters[2]
	again.FirstFailure, again.LastFailure = at("2024-05-01T12:00:00.5Z"), at("2024-05-01T12:10:00.5Z")
	again.Attempts, again.LastError, again.RequestID = 40, "fetching page: status 500", "req_2"
	first, _ := rawzone.DeadLetterName(letters[2])
	if name, err := rawzone.WriteDeadLetter(t.Context(), s, again); err != nil || name != first {
		t.Errorf("WriteDeadLetter of the same page failing later = %q, %v, want %q, nil", name, err, first)
	}
	// Another page of the same window, or the same page number reached
	// with another cursor (a new chain), is another dead letter.
	otherCursor := letters[2]
	otherCursor.Cursor = "c_other_chain"
	if name, err := rawzone.WriteDeadLetter(t.Context(), s, otherCursor); err != nil || name == first {
		t.Errorf("WriteDeadLetter of page 2 with another cursor = %q, %v, want a new name and nil", name, err)
	}
	other := letters[0]
	other.Source = "settlements-eu"
	if _, err := rawzone.WriteDeadLetter(t.Context(), s, other); err != nil {
		t.Fatal(err)
	}
	names, err := s.List(t.Context(), "deadletter/settlements/")
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 4 {
		t.Errorf("dead letter objects = %q, want 4 (one per page and cursor)", names)
	}

	got, err := rawzone.ListDeadLetters(t.Context(), s, "settlements")
	if err != nil {
		t.Fatalf("ListDeadLetters = %v", err)
	}
	want := []rawzone.DeadLetter{letters[2], otherCursor, letters[1], letters[0]}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ListDeadLetters mismatch (-want +got):\n%s", diff)
	}

	// An object under the name that is not a dead letter of the page is a
	// mismatch, never taken as the same dead letter.
	s2 := newFileStore(t)
	if err := s2.PutOnce(t.Context(), first, []byte(`{"source":"settlements","page":99}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := rawzone.WriteDeadLetter(t.Context(), s2, letters[2]); !errors.Is(err, rawzone.ErrContentMismatch) {
		t.Errorf("WriteDeadLetter over another page's object = %v, want ErrContentMismatch", err)
	}

	for _, bad := range []rawzone.DeadLetter{
		{Source: "settlements", WindowStart: at("2024-05-01T10:00:00Z"), WindowEnd: at("2024-05-01T11:00:00Z")},
		{Source: "a/b", WindowStart: at("2024-05-01T10:00:00Z"), WindowEnd: at("2024-05-01T11:00:00Z"), LastFailure: at("2024-05-01T12:00:00Z")},
		{Source: "settlements", WindowStart: at("2024-05-01T11:00:00Z"), WindowEnd: at("2024-05-01T11:00:00Z"), LastFailure: at("2024-05-01T12:00:00Z")},
	} {
		if _, err := rawzone.WriteDeadLetter(t.Context(), s, bad); !errors.Is(err, rawzone.ErrInvalidPage) {
			t.Errorf("WriteDeadLetter(%+v) = %v, want ErrInvalidPage", bad, err)
		}
	}
}

// Dead letters written before they were named by page are named by their
// failure time; a page that failed twice then has two objects. They are
// still listed, folded into one dead letter per page, also with a later
// one of the same page under the new name.
func TestDeadLettersUnderOldTimeNamesAreListedOncePerPage(t *testing.T) {
	s := newFileStore(t)
	at := func(v string) time.Time { return mustTime(t, v) }
	start := at("2024-05-01T10:00:00Z")
	legacy := func(d rawzone.DeadLetter) {
		t.Helper()
		data, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("deadletter/settlements/date=2024-05-01/window=20240501T1000Z-20240501T1100Z/%d.json", d.LastFailure.UnixNano())
		if err := s.PutOnce(t.Context(), name, data); err != nil {
			t.Fatal(err)
		}
	}
	base := rawzone.DeadLetter{
		Source: "settlements", WindowStart: start, WindowEnd: start.Add(time.Hour), Cursor: "c_4", Page: 4,
		Attempts: 10, FirstFailure: at("2024-05-01T11:00:00Z"), LastFailure: at("2024-05-01T11:05:00Z"),
		LastError: "status 503", RequestID: "req_a",
	}
	second := base
	second.Attempts, second.FirstFailure, second.LastFailure = 12, at("2024-05-01T11:06:00Z"), at("2024-05-01T11:11:00Z")
	second.LastError, second.RequestID = "status 502", "req_b"
	otherPage := base
	otherPage.Page, otherPage.Cursor, otherPage.LastFailure = 1, "c_1", at("2024-05-01T10:30:00Z")
	legacy(base)
	legacy(second)
	legacy(otherPage)

	got, err := rawzone.ListDeadLetters(t.Context(), s, "settlements")
	if err != nil {
		t.Fatalf("ListDeadLetters = %v", err)
	}
	folded := second
	folded.FirstFailure, folded.Attempts = base.FirstFailure, 22
	if diff := cmp.Diff([]rawzone.DeadLetter{otherPage, folded}, got); diff != "" {
		t.Errorf("ListDeadLetters of old names mismatch (-want +got):\n%s", diff)
	}

	// The same page failing once more after the upgrade: a new-named
	// object, still one dead letter in the listing.
	third := base
	third.Attempts, third.FirstFailure, third.LastFailure = 3, at("2024-05-01T12:00:00Z"), at("2024-05-01T12:01:00Z")
	third.LastError, third.RequestID = "status 500", "req_c"
	if _, err := rawzone.WriteDeadLetter(t.Context(), s, third); err != nil {
		t.Fatalf("WriteDeadLetter = %v", err)
	}
	got, err = rawzone.ListDeadLetters(t.Context(), s, "settlements")
	if err != nil {
		t.Fatalf("ListDeadLetters = %v", err)
	}
	folded = third
	folded.FirstFailure, folded.Attempts = base.FirstFailure, 25
	if diff := cmp.Diff([]rawzone.DeadLetter{otherPage, folded}, got); diff != "" {
		t.Errorf("ListDeadLetters of old and new names mismatch (-want +got):\n%s", diff)
	}
}
