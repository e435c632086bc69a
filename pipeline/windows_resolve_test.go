package pipeline_test

import (
	"slices"
	"testing"
	"time"

	"github.com/marketplace/settle/io/cursorstore"
	"github.com/marketplace/settle/pipeline"
)

// TestTidyWindowsResolvesReadRangesAndPrunesOldOnes sets up what runs with
// different edges leave behind: a parked window clipped at a run's start
// and one left open by a crash, whose ranges a later run read whole; a
// parked window nothing has read since; and done windows far behind the
// watermark.
func TestTidyWindowsResolvesReadRangesAndPrunesOldOnes(t *testing.T) {
	ctx := t.Context()
	cfg := pipeline.DefaultConfig(t.TempDir())
	cfg.WindowRetention = 7 * 24 * time.Hour
	cursors, err := cursorstore.OpenFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	day := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	run1, run2, tidyAt := day.Add(30*time.Hour), day.Add(31*time.Hour), day.Add(32*time.Hour)
	save := func(start, end time.Time, status string, updated time.Time) string {
		t.Helper()
		key := cursorstore.WindowKey(cfg.Source, start, end)
		st := cursorstore.WindowState{Status: status, Pages: 2, Records: 100, Cursor: "c2", UpdatedAt: updated}
		if _, err := cursorstore.SaveWindow(ctx, cursors, key, 0, st); err != nil {
			t.Fatal(err)
		}
		return key
	}
	h := func(n float64) time.Time { return day.Add(time.Duration(n * float64(time.Hour))) }
	clippedParked := save(h(5).Add(17*time.Minute), h(6), cursorstore.StatusParked, run1)
	crashedOpen := save(h(6), h(6.5), cursorstore.StatusOpen, run1)
	stillParked := save(h(9).Add(5*time.Minute), h(10), cursorstore.StatusParked, run1)
	cover1 := save(h(5), h(6), cursorstore.StatusDone, run2)
	cover2 := save(h(6), h(7), cursorstore.StatusDone, run2)
	partial := save(h(9), h(9.5), cursorstore.StatusDone, run2) // does not reach 10:00
	var old []string
	for i := range 5 {
		old = append(old, save(day.Add(-10*24*time.Hour+time.Duration(i)*time.Hour), day.Add(-10*24*time.Hour+time.Duration(i+1)*time.Hour),
			cursorstore.StatusDone, day.Add(-9*24*time.Hour)))
	}
	oldParked := save(day.Add(-10*24*time.Hour-30*time.Minute), day.Add(-10*24*time.Hour), cursorstore.StatusParked, day.Add(-9*24*time.Hour))
	if _, err := cursorstore.SaveWatermark(ctx, cursors, cfg.Source, 0, h(7)); err != nil {
		t.Fatal(err)
	}

	res, err := pipeline.TidyWindows(ctx, cfg, cursors, tidyAt)
	if err != nil {
		t.Fatalf("TidyWindows = %v", err)
	}
	slices.Sort(res.Superseded)
	if want := []string{clippedParked, crashedOpen}; !slices.Equal(res.Superseded, want) {
		t.Errorf("superseded %q, want %q", res.Superseded, want)
	}
	if res.Pruned != len(old) {
		t.Errorf("pruned %d window states, want the %d done ones older than the retention", res.Pruned, len(old))
	}
	st, _, err := cursorstore.LoadWindow(ctx, cursors, clippedParked)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != cursorstore.StatusSuperseded || st.SupersededBy != cover1 || !st.UpdatedAt.Equal(tidyAt) || st.Cursor != "c2" {
		t.Errorf("clipped parked window after tidying = %+v, want superseded by %s at %s, cursor kept", st, cover1, tidyAt)
	}
	if st, _, _ := cursorstore.LoadWindow(ctx, cursors, crashedOpen); st.SupersededBy != cover2 {
		t.Errorf("crashed open window superseded by %q, want %q", st.SupersededBy, cover2)
	}

	// Only the windows nothing has read since are still parked.
	parked, err := pipeline.ParkedWindows(ctx, cfg, cursors)
	if err != nil {
		t.Fatal(err)
	}
	var parkedKeys []string
	for _, p := range parked {
		parkedKeys = append(parkedKeys, p.Key)
	}
	if want := []string{oldParked, stillParked}; !slices.Equal(parkedKeys, want) {
		t.Errorf("parked after tidying %q, want %q", parkedKeys, want)
	}
	keys, err := cursors.List(ctx, cursorstore.WindowPrefix(cfg.Source))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range old {
		if slices.Contains(keys, k) {
			t.Errorf("%s is still stored, want it pruned", k)
		}
	}
	for _, k := range []string{clippedParked, crashedOpen, stillParked, cover1, cover2, partial, oldParked} {
		if !slices.Contains(keys, k) {
			t.Errorf("%s was deleted, want it kept", k)
		}
	}

	// Tidying again changes nothing.
	again, err := pipeline.TidyWindows(ctx, cfg, cursors, tidyAt.Add(time.Hour))
	if err != nil || len(again.Superseded) != 0 || again.Pruned != 0 {
		t.Errorf("second TidyWindows = %+v, %v; want nothing to do", again, err)
	}
}

// The number of window states stays bounded however many runs there are:
// hourly runs whose edges clip differently each time leave at most the
// retention's worth of windows behind the watermark.
func TestTidyWindowsBoundsTheWindowStatesOfManyRuns(t *testing.T) {
	ctx := t.Context()
	cfg := pipeline.DefaultConfig(t.TempDir())
	cfg.WindowRetention = 24 * time.Hour
	cursors, err := cursorstore.OpenFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var wmVersion int64
	var counts []int
	for run := range 24 * 6 { // six days of hourly runs
		now := start.Add(time.Duration(run+2) * time.Hour).Add(time.Duration(run*7%60) * time.Minute)
		from, to := now.Add(-2*time.Hour), now.Add(-10*time.Minute).Truncate(time.Minute)
		for _, w := range pipeline.Windows(from, to, time.Hour) {
			key := cursorstore.WindowKey(cfg.Source, w[0], w[1])
			_, ver, err := cursorstore.LoadWindow(ctx, cursors, key)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := cursorstore.SaveWindow(ctx, cursors, key, ver, cursorstore.WindowState{Status: cursorstore.StatusDone, ChainRestarts: int(ver), UpdatedAt: now}); err != nil {
				t.Fatal(err)
			}
		}
		if wmVersion, err = cursorstore.SaveWatermark(ctx, cursors, cfg.Source, wmVersion, to); err != nil {
			t.Fatal(err)
		}
		if _, err := pipeline.TidyWindows(ctx, cfg, cursors, now); err != nil {
			t.Fatal(err)
		}
		keys, err := cursors.List(ctx, cursorstore.WindowPrefix(cfg.Source))
		if err != nil {
			t.Fatal(err)
		}
		counts = append(counts, len(keys))
	}
	t.Logf("window states after the last runs: %v", counts[len(counts)-24:])
	// A day of retention plus the run's own span: about 26 aligned windows
	// and 2 clipped ones a run for 24 runs, whatever the number of runs.
	if last := counts[len(counts)-1]; last > 80 || last != counts[len(counts)-25] && last > counts[len(counts)-25]+3 {
		t.Errorf("window states after each run %v: want a bound, not growth", counts)
	}
	if maxCount := slices.Max(counts); maxCount > 80 {
		t.Errorf("at most %d window states, want at most 80 with a day of retention", maxCount)
	}
}
