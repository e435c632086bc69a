// Package warehousetest is the contract suite every warehouse back end runs:
// DuckDB always, BigQuery against the emulator. Each behaviour is checked
// through the warehouse.Warehouse methods plus the Reader methods below.
package warehousetest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/marketplace/settle/io/warehouse"
)

// Reader is the read access the suite needs besides warehouse.Warehouse.
// Settlements returns every settlements row ordered by vendor_txn_id,
// Quarantine every settlements_quarantine row ordered by quarantine_key and
// Withheld every settlements_withheld row ordered by vendor_txn_id; money
// as canonical decimal text (no trailing fraction zeros), timestamps as
// RFC 3339 in UTC, JSON columns as JSON text.
type Reader interface {
	Settlements(ctx context.Context) ([]warehouse.Settlement, error)
	Quarantine(ctx context.Context) ([]warehouse.Quarantined, error)
	Withheld(ctx context.Context) ([]warehouse.Withheld, error)
}

// Opener returns a fresh, empty warehouse (which must also implement
// Reader) and a local directory the suite writes its NDJSON staging files
// into. The suite closes the warehouse when the test ends.
type Opener func(t *testing.T) (w warehouse.Warehouse, stageDir string)

// Option changes how Run drives a back end.
type Option func(*config)

type config struct {
	fileRef func(t *testing.T, path string) string
	skips   map[string]string
	rounds  int
}

// WithPropertyRounds sets how many rounds the batching property runs
// (default 12): a slow emulator may run fewer.
func WithPropertyRounds(n int) Option {
	return func(c *config) { c.rounds = n }
}

// WithFileRef sets how a staging file the suite wrote under stageDir is
// named in a Batch. The default is the local path itself (DuckDB); a
// BigQuery test maps the path to the gs:// URI the emulator (or a GCS fake)
// serves it under, uploading it first if it must.
func WithFileRef(f func(t *testing.T, path string) string) Option {
	return func(c *config) { c.fileRef = f }
}

// WithSkip skips the named behaviour (a subtest name of Run) with reason,
// for a gap of an emulator: WithSkip(NameExactAmounts, "emulator lacks X").
// Never use it to hide a bug of the back end itself.
func WithSkip(name, reason string) Option {
	return func(c *config) { c.skips[name] = reason }
}

// The behaviours Run checks, by subtest name.
const (
	NameNewestWinsAcrossBatches   = "a newer version wins whatever order the batches are promoted in"
	NameNewestWinsWithinBatch     = "a newer version wins within one batch whatever the file order"
	NameOlderNeverOverwrites      = "an older or equal version never overwrites the stored one"
	NamePromoteTwice              = "promoting the same files twice changes nothing"
	NameRestageReplaces           = "staging a run again replaces its staged rows"
	NameRunsIsolated              = "promoting one run leaves another run's staged rows alone"
	NameExactAmounts              = "amounts survive exactly"
	NameTooManyDecimals           = "an amount with ten fraction digits is refused, not rounded"
	NameNullableColumns           = "null order id and settled at round trip"
	NameJSONColumns               = "metadata and raw JSON survive"
	NameWideJSONNumbers           = "a raw record's numbers wider than float64 keep every digit"
	NameQuarantineIdempotent      = "quarantine rows are inserted once per key"
	NameNotStaged                 = "promoting a run with nothing staged returns ErrNotStaged"
	NameRunsUpsertAndOrder        = "the run ledger upserts by run id and lists newest first"
	NameSettlementsKeepProvenance = "settlement rows keep the run id and raw ref written in the files"
)

// Run runs the contract suite, one subtest per behaviour, each on a fresh
// warehouse from open.
func Run(t *testing.T, open Opener, opts ...Option) {
	t.Helper()
	cfg := &config{
		fileRef: func(_ *testing.T, path string) string { return path },
		skips:   map[string]string{},
		rounds:  12,
	}
	for _, o := range opts {
		o(cfg)
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, h *harness)
	}{
		{NameNewestWinsAcrossBatches, testNewestWinsAcrossBatches},
		{NameNewestWinsWithinBatch, testNewestWinsWithinBatch},
		{NameOlderNeverOverwrites, testOlderNeverOverwrites},
		{NamePromoteTwice, testPromoteTwice},
		{NameRestageReplaces, testRestageReplaces},
		{NameRunsIsolated, testRunsIsolated},
		{NameExactAmounts, testExactAmounts},
		{NameTooManyDecimals, testTooManyDecimals},
		{NameNullableColumns, testNullableColumns},
		{NameJSONColumns, testJSONColumns},
		{NameWideJSONNumbers, testWideJSONNumbers},
		{NameQuarantineIdempotent, testQuarantineIdempotent},
		{NameNotStaged, testNotStaged},
		{NameRunsUpsertAndOrder, testRunsUpsertAndOrder},
		{NameSettlementsKeepProvenance, testSettlementsKeepProvenance},
	}
	tests = append(tests, versionTests...)
	tests = append(tests, opsTests...)
	tests = append(tests, accountTests...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if reason, ok := cfg.skips[tt.name]; ok {
				t.Skip(reason)
			}
			tt.fn(t, newHarness(t, open, cfg))
		})
	}
}

// harness is one fresh warehouse and its staging directory.
type harness struct {
	w        warehouse.Warehouse
	r        Reader
	stageDir string
	cfg      *config
	files    int
}

func newHarness(t *testing.T, open Opener, cfg *config) *harness {
	t.Helper()
	w, dir := open(t)
	t.Cleanup(func() {
		if err := w.Close(); err != nil {
			t.Errorf("Close() = %v", err)
		}
	})
	r, ok := w.(Reader)
	if !ok {
		t.Fatalf("%T does not implement warehousetest.Reader", w)
	}
	return &harness{w: w, r: r, stageDir: dir, cfg: cfg}
}

// writeFile writes rows as NDJSON into the staging directory and returns
// the name a Batch uses for it.
func (h *harness) writeFile(t *testing.T, rows []any) string {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, r := range rows {
		if err := enc.Encode(r); err != nil {
			t.Fatalf("encoding staging row: %v", err)
		}
	}
	h.files++
	path := filepath.Join(h.stageDir, fmt.Sprintf("part-%05d.ndjson", h.files))
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatalf("writing staging file: %v", err)
	}
	return h.cfg.fileRef(t, path)
}

func (h *harness) settlementsFile(t *testing.T, rows ...warehouse.Settlement) string {
	t.Helper()
	anys := make([]any, len(rows))
	for i, r := range rows {
		anys[i] = r
	}
	return h.writeFile(t, anys)
}

func (h *harness) quarantineFile(t *testing.T, rows ...warehouse.Quarantined) string {
	t.Helper()
	anys := make([]any, len(rows))
	for i, r := range rows {
		anys[i] = r
	}
	return h.writeFile(t, anys)
}

func (h *harness) stage(t *testing.T, b warehouse.Batch) warehouse.StageStats {
	t.Helper()
	st, err := h.w.Stage(t.Context(), b)
	if err != nil {
		t.Fatalf("Stage(run %s) = %v", b.RunID, err)
	}
	return st
}

// promote promotes runID and returns how many settlements rows changed.
func (h *harness) promote(t *testing.T, runID string) int64 {
	t.Helper()
	return h.promoteStats(t, runID).Changed()
}

func (h *harness) promoteStats(t *testing.T, runID string) warehouse.PromoteStats {
	t.Helper()
	st, err := h.w.Promote(t.Context(), runID)
	if err != nil {
		t.Fatalf("Promote(%s) = %v", runID, err)
	}
	return st
}

// load stages the settlements under runID (one file) and promotes them.
func (h *harness) load(t *testing.T, runID string, rows ...warehouse.Settlement) int64 {
	t.Helper()
	h.stage(t, warehouse.Batch{RunID: runID, ValidatedFiles: []string{h.settlementsFile(t, rows...)}})
	return h.promote(t, runID)
}

// settlements reads the table, with timestamps and JSON normalised so that
// back ends are compared on values, not on formatting.
func (h *harness) settlements(t *testing.T) []warehouse.Settlement {
	t.Helper()
	got, err := h.r.Settlements(t.Context())
	if err != nil {
		t.Fatalf("Settlements() = %v", err)
	}
	for i := range got {
		got[i] = normalizeSettlement(t, got[i])
	}
	return got
}

func (h *harness) withheld(t *testing.T) []warehouse.Withheld {
	t.Helper()
	got, err := h.r.Withheld(t.Context())
	if err != nil {
		t.Fatalf("Withheld() = %v", err)
	}
	for i := range got {
		got[i].UpdatedAt = normalizeTime(t, got[i].UpdatedAt)
	}
	return got
}

func (h *harness) quarantine(t *testing.T) []warehouse.Quarantined {
	t.Helper()
	got, err := h.r.Quarantine(t.Context())
	if err != nil {
		t.Fatalf("Quarantine() = %v", err)
	}
	for i := range got {
		got[i] = normalizeQuarantined(t, got[i])
	}
	return got
}

func normalizeSettlement(t *testing.T, s warehouse.Settlement) warehouse.Settlement {
	t.Helper()
	s.CreatedAt = normalizeTime(t, s.CreatedAt)
	s.UpdatedAt = normalizeTime(t, s.UpdatedAt)
	if s.SettledAt != nil {
		v := normalizeTime(t, *s.SettledAt)
		s.SettledAt = &v
	}
	s.Metadata = normalizeJSON(t, s.Metadata)
	return s
}

func normalizeQuarantined(t *testing.T, q warehouse.Quarantined) warehouse.Quarantined {
	t.Helper()
	q.QuarantinedAt = normalizeTime(t, q.QuarantinedAt)
	q.Raw = normalizeJSON(t, q.Raw)
	for _, p := range []**string{&q.UpdatedAt, &q.DisplacedUpdatedAt} {
		if *p != nil {
			v := normalizeTime(t, **p)
			*p = &v
		}
	}
	return q
}

func normalizeTime(t *testing.T, s string) string {
	t.Helper()
	if s == "" {
		return s
	}
	ts, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("timestamp %q is not RFC 3339: %v", s, err)
	}
	return ts.UTC().Format(time.RFC3339Nano)
}

// normalizeJSON re-encodes JSON text with sorted keys and no spaces,
// keeping numbers' literal text.
func normalizeJSON(t *testing.T, s string) string {
	t.Helper()
	if s == "" {
		return s
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("JSON column %q does not parse: %v", s, err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("re-encoding JSON %q: %v", s, err)
	}
	return string(b)
}
