//go:build cgo

package pipeline_test

import (
	"database/sql"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/marketplace/settle/io/cursorstore"
	"github.com/marketplace/settle/io/rawzone"
	"github.com/marketplace/settle/io/warehouse"
	"github.com/marketplace/settle/pipeline"
	"github.com/marketplace/settle/testing/truthcheck"
	"github.com/marketplace/settle/testing/vendorsim"
)

// emptyWarehouse deletes every settlements and quarantine row, so that
// what a replay lands is all the warehouse holds.
func emptyWarehouse(t *testing.T, cfg pipeline.Config) {
	t.Helper()
	db, err := sql.Open("duckdb", truthcheck.DuckDBPath(cfg.Warehouse))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{`DELETE FROM settlements`, `DELETE FROM settlements_quarantine`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

func TestRunWithSubMinuteBoundsReadsExactlyThatRange(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	e := newE2E(t, 2, 6000, vendorsim.NoFaults())
	e.cfg.PageSize = 200
	// 00:00:17.250 .. 01:00:56: a clipped first window that starts and a
	// last one that ends off the minute.
	from := simFrom.Add(17*time.Second + 250*time.Millisecond)
	to := simFrom.Add(time.Hour + 56*time.Second)
	e.cfg.From, e.cfg.To = from, to
	sum := e.run(t)
	if !sum.From.Equal(from) || !sum.To.Equal(to) {
		t.Errorf("run range = %s .. %s, want exactly %s .. %s", sum.From.Format(time.RFC3339Nano), sum.To.Format(time.RFC3339Nano),
			from.Format(time.RFC3339Nano), to.Format(time.RFC3339Nano))
	}
	truth := e.sim.TruthWithin(from, to, time.Now())
	edges := 0
	for _, tr := range e.sim.TruthWithin(simFrom, simFrom.Add(2*time.Hour), time.Now()) {
		if u := tr.UpdatedAt; u.Before(from) || (!u.Before(simFrom.Add(time.Hour)) && !u.Before(to) && u.Before(simFrom.Add(time.Hour+time.Minute))) {
			edges++
		}
	}
	inLastSeconds := len(e.sim.TruthWithin(simFrom.Add(time.Hour), to, time.Now()))
	if edges == 0 || inLastSeconds == 0 {
		t.Fatalf("no version falls in the sub-minute edges (%d outside, %d in the last 56 s): the test proves nothing", edges, inLastSeconds)
	}
	truthcheck.Compare(t, readWarehouse(t, e.cfg), truth)
}

func TestRunRefusesAToLaterThanNowMinusTheVisibilityLag(t *testing.T) {
	e := newE2E(t, 1, 100, vendorsim.NoFaults())
	now := simFrom.Add(30 * time.Minute)
	opts := quietOptions()
	opts.Now = func() time.Time { return now }
	e.cfg.To = now.Add(5 * time.Minute)
	_, err := pipeline.Run(t.Context(), e.cfg, opts)
	if !errors.Is(err, pipeline.ErrInvalidRange) {
		t.Fatalf("Run(--to 5 minutes ahead) = %v, want ErrInvalidRange", err)
	}
	if want := "latest allowed --to is " + now.Add(-10*time.Minute).Format(time.RFC3339); !strings.Contains(err.Error(), want) {
		t.Errorf("Run error %q does not name %q", err, want)
	}
	if got := e.sim.Stats().Requests; got != 0 {
		t.Errorf("the refused run sent %d requests to the vendor, want 0", got)
	}
}

func TestReplayOfARunsOwnRangeCoversTheClippedFirstWindow(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	e := newE2E(t, 2, 3000, vendorsim.NoFaults())
	e.cfg.PageSize = 200
	from, to := simFrom.Add(20*time.Minute+30*time.Second+500*time.Millisecond), simFrom.Add(100*time.Minute)
	e.cfg.From, e.cfg.To = from, to
	e.run(t)
	truth := e.sim.TruthWithin(from, to, time.Now())
	truthcheck.Compare(t, readWarehouse(t, e.cfg), truth)

	for _, tc := range []struct {
		name     string
		from, to time.Time
	}{
		{"the run's own range", from, to},
		{"a range starting inside the clipped first window", simFrom.Add(45 * time.Minute), to},
	} {
		t.Run(tc.name, func(t *testing.T) {
			emptyWarehouse(t, e.cfg)
			sum, err := pipeline.Replay(t.Context(), e.cfg, quietOptions(), tc.from, tc.to)
			if err != nil {
				t.Fatalf("Replay: %v", err)
			}
			if sum.Windows != 2 {
				t.Errorf("replay processed %d windows, want both windows the run read", sum.Windows)
			}
			truthcheck.Compare(t, readWarehouse(t, e.cfg), truth)
		})
	}
}

// damageThree deletes, truncates and alters one page object each (in
// two windows) and returns their names.
func damageThree(t *testing.T, cfg pipeline.Config) (deleted, truncated, altered string) {
	t.Helper()
	raw, err := rawzone.Open(t.Context(), cfg.RawZone)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	names, err := rawzone.ListWindowPages(t.Context(), raw, cfg.Source, simFrom, simFrom.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var first, second []string
	for _, n := range names {
		if strings.Contains(n, "window="+simFrom.Format("20060102T1504Z")+"-") {
			first = append(first, n)
		} else {
			second = append(second, n)
		}
	}
	if len(first) < 3 || len(second) < 1 {
		t.Fatalf("want at least 3 pages in the first window and 1 in the second, have %d and %d", len(first), len(second))
	}
	deleted, truncated, altered = first[1], first[2], second[0]
	dir := strings.TrimPrefix(cfg.RawZone, "file://")
	path := func(n string) string { return filepath.Join(dir, filepath.FromSlash(n)) }

	if err := os.Remove(path(deleted)); err != nil {
		t.Fatal(err)
	}

	data, err := os.ReadFile(path(truncated))
	if err != nil {
		t.Fatal(err)
	}
	rewrite(t, path(truncated), data[:len(data)*2/3])

	data, err = os.ReadFile(path(altered))
	if err != nil {
		t.Fatal(err)
	}
	p, err := rawzone.DecodePage(data)
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]json.RawMessage
	if err := json.Unmarshal(p.Body, &body); err != nil {
		t.Fatal(err)
	}
	var recs []map[string]json.RawMessage
	if err := json.Unmarshal(body["data"], &recs); err != nil || len(recs) == 0 {
		t.Fatalf("page %s: %v records, %v", altered, len(recs), err)
	}
	recs[0]["amount"] = json.RawMessage(`"999999.00"`) // a silent edit of one amount
	if body["data"], err = json.Marshal(recs); err != nil {
		t.Fatal(err)
	}
	if p.Body, err = json.Marshal(body); err != nil {
		t.Fatal(err)
	}
	_, forged, err := rawzone.EncodePage(p)
	if err != nil {
		t.Fatal(err)
	}
	rewrite(t, path(altered), forged)
	return deleted, truncated, altered
}

func rewrite(t *testing.T, p string, data []byte) {
	t.Helper()
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o444); err != nil {
		t.Fatal(err)
	}
}

func TestReplayOverADamagedRawZoneFailsNamingEveryDamagedObjectAndRefetchRepairsIt(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	e := newE2E(t, 2, 3000, vendorsim.NoFaults())
	e.cfg.PageSize = 100
	e.run(t)
	deleted, truncated, altered := damageThree(t, e.cfg)
	emptyWarehouse(t, e.cfg)

	sum, err := pipeline.Replay(t.Context(), e.cfg, quietOptions(), simFrom, simFrom.Add(2*time.Hour))
	var damaged *pipeline.DamagedRawZoneError
	if !errors.As(err, &damaged) {
		t.Fatalf("Replay over a damaged raw zone = %v (outcome %s), want a *DamagedRawZoneError", err, sum.Outcome)
	}
	for _, n := range []string{deleted, truncated, altered} {
		if !strings.Contains(err.Error(), n) {
			t.Errorf("the error does not name %s:\n%v", n, err)
		}
	}
	if len(damaged.Damaged) != 3 {
		t.Errorf("the error lists %d damaged objects, want 3:\n%v", len(damaged.Damaged), err)
	}
	if !strings.Contains(err.Error(), "settle refetch --from "+simFrom.Format(time.RFC3339)+" --to "+simFrom.Add(2*time.Hour).Format(time.RFC3339)) {
		t.Errorf("the error does not say how to repair:\n%v", err)
	}
	if sum.Outcome != warehouse.OutcomeFailed {
		t.Errorf("outcome %s, want failed", sum.Outcome)
	}
	if w := readWarehouse(t, e.cfg); len(w.Settlements) != 0 {
		t.Errorf("a failed replay promoted %d rows", len(w.Settlements))
	}

	// A dry run says what it would do and changes nothing.
	requests := e.sim.Stats().Requests
	var plan strings.Builder
	if _, err := pipeline.Refetch(t.Context(), e.cfg, quietOptions(), simFrom, simFrom.Add(2*time.Hour),
		pipeline.RefetchOptions{DryRun: true, Plan: &plan}); err != nil {
		t.Fatalf("Refetch --dry-run: %v", err)
	}
	for _, want := range []string{"2 to read again", deleted, truncated, altered, "from page 0", "--dry-run: nothing was done"} {
		if !strings.Contains(plan.String(), want) {
			t.Errorf("the plan does not say %q:\n%s", want, plan.String())
		}
	}
	if got := e.sim.Stats().Requests - requests; got != 0 {
		t.Errorf("a dry run sent %d requests", got)
	}

	// The repair: refetch, then a replay of the whole range is whole again.
	ref, err := pipeline.Refetch(t.Context(), e.cfg, quietOptions(), simFrom, simFrom.Add(2*time.Hour), pipeline.RefetchOptions{})
	if err != nil {
		t.Fatalf("Refetch: %v", err)
	}
	if ref.Outcome != warehouse.OutcomePromoted || ref.Windows != 2 || ref.PagesLanded == 0 {
		t.Errorf("refetch: outcome %s, %d windows, %d pages landed; want promoted, 2 windows, pages", ref.Outcome, ref.Windows, ref.PagesLanded)
	}
	raw, err := rawzone.Open(t.Context(), e.cfg.RawZone)
	if err != nil {
		t.Fatal(err)
	}
	kept, err := raw.List(t.Context(), rawzone.DamagedRoot)
	raw.Close()
	if err != nil || len(kept) != 2 {
		t.Errorf("damaged/ holds %q (%v), want the truncated and the altered object's bytes", kept, err)
	}
	emptyWarehouse(t, e.cfg)
	if _, err := pipeline.Replay(t.Context(), e.cfg, quietOptions(), simFrom, simFrom.Add(2*time.Hour)); err != nil {
		t.Fatalf("Replay after refetch: %v", err)
	}
	checkAgainstTruth(t, e, e.sim.Truth())

	// Nothing else reads a done window again: a rerun of the range fetches nothing.
	requests = e.sim.Stats().Requests
	e.run(t)
	if got := e.sim.Stats().Requests - requests; got != 0 {
		t.Errorf("a rerun after the refetch sent %d requests, want 0", got)
	}
}

func TestReplayOfWindowsLandedBeforeObjectsWereRecordedStillChecksHashes(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	e := newE2E(t, 2, 1000, vendorsim.NoFaults())
	e.cfg.PageSize = 100
	e.run(t)
	// Forget the record, as a raw zone landed by an older settle has none.
	cursors, err := cursorstore.Open(t.Context(), e.cfg.CursorStore)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := cursors.List(t.Context(), "window/"+e.cfg.Source+"/")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		st, v, err := cursorstore.LoadWindow(t.Context(), cursors, k)
		if err != nil {
			t.Fatal(err)
		}
		st.Objects = nil
		if _, err := cursorstore.SaveWindow(t.Context(), cursors, k, v, st); err != nil {
			t.Fatal(err)
		}
	}
	cursors.Close()
	if _, err := pipeline.Replay(t.Context(), e.cfg, quietOptions(), simFrom, simFrom.Add(2*time.Hour)); err != nil {
		t.Fatalf("Replay of an intact raw zone without records = %v, want success (with a warning)", err)
	}
	_, truncated, altered := damageThree(t, e.cfg)
	_, err = pipeline.Replay(t.Context(), e.cfg, quietOptions(), simFrom, simFrom.Add(2*time.Hour))
	if !errors.Is(err, pipeline.ErrRawZoneDamaged) || !strings.Contains(err.Error(), truncated) || !strings.Contains(err.Error(), altered) {
		t.Errorf("Replay over damaged unrecorded windows = %v, want ErrRawZoneDamaged naming %s and %s", err, truncated, altered)
	}
}

func TestANewChainAdoptsTheObjectsOfAWindowLandedBeforeTheyWereRecorded(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	e := newE2E(t, 1, 1000, vendorsim.NoFaults())
	e.cfg.PageSize = 100
	e.run(t)
	key := cursorstore.WindowKey(e.cfg.Source, simFrom, simFrom.Add(time.Hour))
	cursors, err := cursorstore.Open(t.Context(), e.cfg.CursorStore)
	if err != nil {
		t.Fatal(err)
	}
	defer cursors.Close()
	st, v, err := cursorstore.LoadWindow(t.Context(), cursors, key)
	if err != nil || len(st.Objects) < 2 {
		t.Fatalf("window state %+v, %v: want the landed objects recorded", st, err)
	}
	landed := st.Objects
	st.Objects = nil // as an older settle left it
	if _, err := cursorstore.SaveWindow(t.Context(), cursors, key, v, st); err != nil {
		t.Fatal(err)
	}
	// A later run (another epoch) reads the window again in a new chain.
	later := e.cfg
	later.From = simFrom.Add(-time.Hour)
	if _, err := pipeline.Run(t.Context(), later, quietOptions()); err != nil {
		t.Fatalf("later run: %v", err)
	}
	st, _, err = cursorstore.LoadWindow(t.Context(), cursors, key)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range landed {
		if !slices.Contains(st.Objects, f) {
			t.Errorf("the new chain did not adopt %s: record %q", f, st.Objects)
		}
	}
	// So a deletion of an adopted object is seen.
	gone := rawzone.WindowPrefix(e.cfg.Source, simFrom, simFrom.Add(time.Hour)) + landed[1]
	if err := os.Remove(filepath.Join(strings.TrimPrefix(e.cfg.RawZone, "file://"), filepath.FromSlash(gone))); err != nil {
		t.Fatal(err)
	}
	_, err = pipeline.Replay(t.Context(), e.cfg, quietOptions(), simFrom, simFrom.Add(time.Hour))
	if !errors.Is(err, pipeline.ErrRawZoneDamaged) || !strings.Contains(err.Error(), gone) {
		t.Errorf("Replay after deleting an adopted object = %v, want ErrRawZoneDamaged naming %s", err, gone)
	}
}
