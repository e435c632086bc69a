package pipeline_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local"

	"github.com/marketplace/settle/io/rawzone"
	"github.com/marketplace/settle/io/warehouse"
	"github.com/marketplace/settle/pipeline"
	"github.com/marketplace/settle/transforms/gate"
	"github.com/marketplace/settle/transforms/parse"
)

// reconDay is the day the reconcile tests compare.
var reconDay = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func reconRec(id, seller, amount, currency, updated string) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"vendor_txn_id":%q,"order_id":null,"seller_id":%q,"type":"charge","status":"settled",`+
		`"amount":%q,"fee":"0","currency":%q,"created_at":"2026-11-01T00:00:00Z","updated_at":%q,"settled_at":null,"metadata":{}}`,
		id, seller, amount, currency, updated))
}

// reconWindows are the raw zone of the reconcile tests: on day D, st_1,
// the newer st_2, st_3 and st_4 are settlements; st_bad's only version
// fails the gate; st_6's newest version is on D+1 and st_9 only there.
var reconWindows = []struct {
	start   string
	records []json.RawMessage
}{
	{"2026-11-01T00:00:00Z", []json.RawMessage{
		reconRec("st_1", "sel_1", "10.00", "EUR", "2026-11-01T00:10:00Z"),
		reconRec("st_2", "sel_1", "5.00", "EUR", "2026-11-01T00:20:00Z"),
		reconRec("st_3", "sel_2", "7.50", "USD", "2026-11-01T00:30:00Z"),
		reconRec("st_bad", "sel_2", "1.00", "XXX", "2026-11-01T00:40:00Z"),
		reconRec("st_6", "sel_2", "1.00", "EUR", "2026-11-01T00:50:00Z"),
	}},
	{"2026-11-01T05:00:00Z", []json.RawMessage{
		reconRec("st_2", "sel_1", "6.00", "EUR", "2026-11-01T05:10:00Z"),
		reconRec("st_4", "sel_2", "100", "JPY", "2026-11-01T05:20:00Z"),
	}},
	{"2026-11-02T03:00:00Z", []json.RawMessage{
		reconRec("st_6", "sel_2", "2.00", "EUR", "2026-11-02T03:10:00Z"),
		reconRec("st_9", "sel_3", "3.00", "EUR", "2026-11-02T03:20:00Z"),
	}},
}

// reconNewest are the records the warehouse holds after an honest run.
var reconNewest = map[string]bool{
	"st_1@2026-11-01T00:10:00Z": true, "st_2@2026-11-01T05:10:00Z": true, "st_3@2026-11-01T00:30:00Z": true,
	"st_4@2026-11-01T05:20:00Z": true, "st_6@2026-11-02T03:10:00Z": true, "st_9@2026-11-02T03:20:00Z": true,
}

// writeReconRawZone lands the pages of reconWindows in cfg's raw zone and
// writes the settlements rows of the newest valid versions into an NDJSON
// file under dir, returning its path.
func writeReconRawZone(t *testing.T, cfg pipeline.Config, dir string) string {
	t.Helper()
	raw, err := rawzone.Open(t.Context(), cfg.RawZone)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var rows []byte
	for _, w := range reconWindows {
		start, _ := time.Parse(time.RFC3339, w.start)
		body, _ := json.Marshal(map[string]any{"data": w.records, "has_more": false, "next_cursor": nil})
		name, _, err := rawzone.PutPage(t.Context(), raw, rawzone.PageObject{
			Source: cfg.Source, WindowStart: start, WindowEnd: start.Add(time.Hour), Status: 200, Attempts: 1,
			FetchedAt: start.Add(2 * time.Hour), Records: len(w.records), Body: body,
		})
		if err != nil {
			t.Fatalf("landing page: %v", err)
		}
		for _, r := range w.records {
			id, upd, err := parse.Key(r)
			if err != nil {
				t.Fatal(err)
			}
			if !reconNewest[id+"@"+time.Unix(0, upd).UTC().Format(time.RFC3339)] {
				continue
			}
			p, err := parse.ParseRecord(r)
			if err != nil {
				t.Fatal(err)
			}
			row, reason := gate.ToSettlement(r, p, cfg.Rules(), "r-honest", name)
			if reason != "" {
				t.Fatalf("%s: %s", id, reason)
			}
			line, _ := json.Marshal(row)
			rows = append(append(rows, line...), '\n')
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "settlements.ndjson")
	if err := os.WriteFile(p, rows, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// loadRecon stages and promotes the honest settlements file.
func loadRecon(t *testing.T, cfg pipeline.Config, file string) {
	t.Helper()
	w, err := warehouse.Open(t.Context(), cfg.Warehouse)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Stage(t.Context(), warehouse.Batch{RunID: "r-honest", ValidatedFiles: []string{file}}); err != nil {
		t.Fatalf("Stage() = %v", err)
	}
	if _, err := w.Promote(t.Context(), "r-honest"); err != nil {
		t.Fatalf("Promote() = %v", err)
	}
}

// tamper changes the warehouse behind the pipeline's back: st_1's amount
// changed in place to 11, st_3 deleted, st_extra inserted.
type tamper func(t *testing.T)

// testReconcileFindsTampering checks an honest warehouse reconciles equal
// and a tampered one lists the three rows and their groups.
func testReconcileFindsTampering(t *testing.T, cfg pipeline.Config, change tamper) {
	t.Helper()
	now := reconDay.Add(72 * time.Hour)
	rep, err := pipeline.Reconcile(t.Context(), cfg, reconDay.Add(13*time.Hour), now)
	if err != nil {
		t.Fatalf("Reconcile(honest) = %v", err)
	}
	var out strings.Builder
	if err := rep.Write(&out); err != nil {
		t.Fatal(err)
	}
	if !rep.Equal() || rep.RawRows != 4 || rep.WarehRows != 4 || rep.Objects != 3 {
		t.Fatalf("Reconcile(honest): equal %v, raw %d rows, warehouse %d, objects %d; want equal, 4, 4, 3:\n%s",
			rep.Equal(), rep.RawRows, rep.WarehRows, rep.Objects, out.String())
	}
	change(t)
	rep, err = pipeline.Reconcile(t.Context(), cfg, reconDay, now)
	if err != nil {
		t.Fatalf("Reconcile(tampered) = %v", err)
	}
	out.Reset()
	if err := rep.Write(&out); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	t.Logf("reconcile of a tampered warehouse:\n%s", text)
	if rep.Equal() {
		t.Fatalf("Reconcile(tampered) is equal:\n%s", text)
	}
	wantRows := map[string]string{
		"st_1":     "amount raw 10.00 warehouse 11",
		"st_3":     "missing from the warehouse",
		"st_extra": "in the warehouse only",
	}
	if len(rep.Rows) != len(wantRows) {
		t.Errorf("%d settlements differ, want %d:\n%s", len(rep.Rows), len(wantRows), text)
	}
	for _, d := range rep.Rows {
		if want, ok := wantRows[d.VendorTxnID]; !ok || !strings.Contains(d.Problem, want) {
			t.Errorf("difference of %s: %q, want one containing %q", d.VendorTxnID, d.Problem, want)
		}
	}
	wantGroups := []string{
		"DIFF seller sel_1 EUR: count raw 2 warehouse 2 (+0); total raw 16.00 warehouse 17.00 (difference +100 minor units)",
		"DIFF seller sel_2 USD: count raw 1 warehouse 0 (-1); total raw 7.50 warehouse 0.00 (difference -750 minor units)",
		"DIFF seller sel_3 EUR: count raw 0 warehouse 1 (+1); total raw 0.00 warehouse 2.50 (difference +250 minor units)",
	}
	if len(rep.Groups) != len(wantGroups) {
		t.Errorf("%d groups differ, want %d:\n%s", len(rep.Groups), len(wantGroups), text)
	}
	for _, g := range wantGroups {
		if !strings.Contains(text, g) {
			t.Errorf("output lacks %q:\n%s", g, text)
		}
	}
}
