package cursorstore_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/marketplace/settle/io/cursorstore"
)

func TestWindowKey(t *testing.T) {
	start := time.Date(2024, 3, 10, 13, 0, 0, 0, time.FixedZone("CET", 3600))
	got := cursorstore.WindowKey("vendor-a", start, start.Add(time.Hour))
	if want := "window/vendor-a/2024-03-10T12:00:00Z_2024-03-10T13:00:00Z"; got != want {
		t.Errorf("WindowKey = %q, want %q", got, want)
	}
	// Sub-second bounds are kept exactly: two windows never share a key.
	a := time.Date(2026, 12, 1, 5, 0, 17, 250_000_000, time.UTC)
	b := time.Date(2026, 12, 1, 5, 0, 56, 0, time.UTC)
	got = cursorstore.WindowKey("vendor-a", a, b)
	if want := "window/vendor-a/2026-12-01T05:00:17.25Z_2026-12-01T05:00:56Z"; got != want {
		t.Errorf("WindowKey = %q, want %q", got, want)
	}
	if other := cursorstore.WindowKey("vendor-a", a.Add(-250*time.Millisecond), b); other == got {
		t.Errorf("windows starting 250 ms apart share the key %q", got)
	}
	start, end, err := cursorstore.ParseWindowKey("vendor-a", got)
	if err != nil || !start.Equal(a) || !end.Equal(b) {
		t.Errorf("ParseWindowKey(%q) = %s, %s, %v; want %s, %s", got, start, end, err, a, b)
	}
}

func TestAddObjectKeepsLandingOrderWithoutRepeats(t *testing.T) {
	var w cursorstore.WindowState
	for _, f := range []string{"page-00000-a.json.gz", "page-00001-b.json.gz", "page-00000-a.json.gz", "page-00000-c.json.gz"} {
		w.AddObject(f)
	}
	want := []string{"page-00000-a.json.gz", "page-00001-b.json.gz", "page-00000-c.json.gz"}
	if !slices.Equal(w.Objects, want) {
		t.Errorf("Objects = %q, want %q", w.Objects, want)
	}
}

func TestCheckAdvance(t *testing.T) {
	at := func(cursor string, pages, records int64, restarts int) cursorstore.WindowState {
		return cursorstore.WindowState{Cursor: cursor, Pages: pages, Records: records, ChainRestarts: restarts, Status: cursorstore.StatusOpen}
	}
	tests := []struct {
		name       string
		prev, next cursorstore.WindowState
		wantErr    bool
	}{
		{"the first page of a new window is allowed", cursorstore.WindowState{}, at("c1", 1, 500, 0), false},
		{"the next page is allowed", at("c1", 1, 500, 0), at("c2", 2, 1000, 0), false},
		{"the last page clearing the cursor is allowed", at("c1", 1, 500, 0), at("", 2, 700, 0), false},
		{"a status change at the same page and cursor is allowed", at("c1", 1, 500, 0), cursorstore.WindowState{Cursor: "c1", Pages: 1, Records: 500, Status: cursorstore.StatusParked, Attempts: 3}, false},
		{"an empty page (no records) is allowed", at("c1", 1, 500, 0), at("c2", 2, 500, 0), false},
		{"a chain restart back to page 0 is allowed", at("c7", 7, 3500, 0), at("", 0, 0, 1), false},
		{"fewer pages without a restart are refused", at("c2", 2, 1000, 0), at("c1", 1, 1000, 0), true},
		{"fewer records without a restart are refused", at("c2", 2, 1000, 0), at("c3", 3, 999, 0), true},
		{"a different cursor at the same page is refused", at("c2", 2, 1000, 0), at("cX", 2, 1000, 0), true},
		{"fewer restarts are refused even with more pages", at("c2", 2, 1000, 1), at("c9", 9, 9000, 0), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := cursorstore.CheckAdvance(tt.prev, tt.next)
			if gotErr := err != nil; gotErr != tt.wantErr {
				t.Fatalf("CheckAdvance = %v, want error %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, cursorstore.ErrCursorRegressed) {
				t.Errorf("CheckAdvance = %v, want it to wrap ErrCursorRegressed", err)
			}
		})
	}
}

func TestSaveWindowRefusesNegativeCounts(t *testing.T) {
	s, err := cursorstore.OpenFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	_, err = cursorstore.SaveWindow(t.Context(), s, "window/x", 0, cursorstore.WindowState{Status: cursorstore.StatusOpen, Pages: -1})
	if !errors.Is(err, cursorstore.ErrInvalidWindow) {
		t.Errorf("SaveWindow(pages -1) error = %v, want ErrInvalidWindow", err)
	}
}
