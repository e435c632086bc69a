package cursorstore_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/marketplace/settle/io/cursorstore"
)

func TestParseWindowKeyInvertsWindowKey(t *testing.T) {
	start := time.Date(2026, 11, 1, 5, 0, 56, 0, time.UTC)
	for _, tc := range []struct {
		name       string
		start, end time.Time
	}{
		{"an hour", start.Truncate(time.Hour), start.Truncate(time.Hour).Add(time.Hour)},
		{"a window clipped to the second", start, start.Truncate(time.Hour).Add(time.Hour)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gotStart, gotEnd, err := cursorstore.ParseWindowKey("settlements", cursorstore.WindowKey("settlements", tc.start, tc.end))
			if err != nil || !gotStart.Equal(tc.start) || !gotEnd.Equal(tc.end) {
				t.Errorf("ParseWindowKey(WindowKey(%s, %s)) = %s, %s, %v", tc.start, tc.end, gotStart, gotEnd, err)
			}
		})
	}
	// Bounds with a fraction of a second parse too.
	if s, e, err := cursorstore.ParseWindowKey("s", "window/s/2026-11-01T05:00:56.5Z_2026-11-01T06:00:00Z"); err != nil ||
		s.Nanosecond() != 500_000_000 || e.Hour() != 6 {
		t.Errorf("ParseWindowKey with a fraction = %s, %s, %v", s, e, err)
	}
	for _, bad := range []string{
		"window/other/2026-11-01T05:00:00Z_2026-11-01T06:00:00Z",
		"window/s/2026-11-01T05:00:00Z",
		"window/s/2026-11-01T06:00:00Z_2026-11-01T05:00:00Z",
		"window/s/yesterday_today",
		"lease/s",
	} {
		if _, _, err := cursorstore.ParseWindowKey("s", bad); !errors.Is(err, cursorstore.ErrBadWindowKey) {
			t.Errorf("ParseWindowKey(%q) = %v, want ErrBadWindowKey", bad, err)
		}
	}
}

func TestSupersedes(t *testing.T) {
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	at := func(hm string) time.Time {
		d, err := time.ParseDuration(hm)
		if err != nil {
			t.Fatal(err)
		}
		return base.Add(d)
	}
	win := func(start, end, status string, updated time.Time) cursorstore.StoredWindow {
		s, e := at(start), at(end)
		return cursorstore.StoredWindow{Key: cursorstore.WindowKey("s", s, e), Start: s, End: e, Version: 3,
			State: cursorstore.WindowState{Status: status, UpdatedAt: updated}}
	}
	parkedAt, before, after := at("30h"), at("29h"), at("31h")
	parked := win("5h17m", "6h", cursorstore.StatusParked, parkedAt)
	for _, tc := range []struct {
		name   string
		w      cursorstore.StoredWindow
		others []cursorstore.StoredWindow
		want   []int // indexes into others
	}{
		{"a clipped parked window read whole by a later aligned window", parked,
			[]cursorstore.StoredWindow{win("5h", "6h", cursorstore.StatusDone, after)}, []int{0}},
		{"covered by two later windows cut elsewhere", parked,
			[]cursorstore.StoredWindow{win("5h", "5h30m", cursorstore.StatusDone, after), win("5h30m", "7h", cursorstore.StatusDone, after)}, []int{0, 1}},
		{"an overlapping later window that does not reach its end", parked,
			[]cursorstore.StoredWindow{win("5h", "5h50m", cursorstore.StatusDone, after)}, nil},
		{"a gap between later windows", parked,
			[]cursorstore.StoredWindow{win("5h", "5h30m", cursorstore.StatusDone, after), win("5h31m", "6h", cursorstore.StatusDone, after)}, nil},
		{"a covering window done before the window parked", parked,
			[]cursorstore.StoredWindow{win("5h", "6h", cursorstore.StatusDone, before)}, nil},
		{"a covering window that is itself parked", parked,
			[]cursorstore.StoredWindow{win("5h", "6h", cursorstore.StatusParked, after)}, nil},
		{"a covering window still open", parked,
			[]cursorstore.StoredWindow{win("5h", "6h", cursorstore.StatusOpen, after)}, nil},
		{"a window left open by a crashed run, read later", win("5h17m", "6h", cursorstore.StatusOpen, parkedAt),
			[]cursorstore.StoredWindow{win("5h", "6h", cursorstore.StatusDone, after)}, []int{0}},
		{"a done window is never superseded", win("5h17m", "6h", cursorstore.StatusDone, parkedAt),
			[]cursorstore.StoredWindow{win("5h", "6h", cursorstore.StatusDone, after)}, nil},
		{"windows that do not overlap it", parked,
			[]cursorstore.StoredWindow{win("4h", "5h17m", cursorstore.StatusDone, after), win("6h", "7h", cursorstore.StatusDone, after)}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			all := append(slices.Clone(tc.others), tc.w)
			got := cursorstore.Supersedes(tc.w, all)
			var want []string
			for _, i := range tc.want {
				want = append(want, tc.others[i].Key)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Supersedes mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPrunable(t *testing.T) {
	wm := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	ret := 7 * 24 * time.Hour
	w := func(end time.Time, status string) cursorstore.StoredWindow {
		return cursorstore.StoredWindow{Start: end.Add(-time.Hour), End: end, State: cursorstore.WindowState{Status: status}}
	}
	old := wm.Add(-ret)
	for _, tc := range []struct {
		name      string
		w         cursorstore.StoredWindow
		wm        time.Time
		retention time.Duration
		want      bool
	}{
		{"a done window ending a retention before the watermark", w(old, cursorstore.StatusDone), wm, ret, true},
		{"a superseded window as old", w(old, cursorstore.StatusSuperseded), wm, ret, true},
		{"a done window a second younger", w(old.Add(time.Second), cursorstore.StatusDone), wm, ret, false},
		{"a parked window, however old", w(old.Add(-1000*time.Hour), cursorstore.StatusParked), wm, ret, false},
		{"an open window, however old", w(old.Add(-1000*time.Hour), cursorstore.StatusOpen), wm, ret, false},
		{"no watermark yet", w(old, cursorstore.StatusDone), time.Time{}, ret, false},
		{"retention 0 keeps everything", w(old.Add(-1000*time.Hour), cursorstore.StatusDone), wm, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := cursorstore.Prunable(tc.w, tc.wm, tc.retention); got != tc.want {
				t.Errorf("Prunable = %v, want %v", got, tc.want)
			}
		})
	}
}
