package pipeline_test

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/google/go-cmp/cmp"

	"github.com/marketplace/settle/io/rawzone"
	"github.com/marketplace/settle/io/warehouse"
	"github.com/marketplace/settle/pipeline"
	"github.com/marketplace/settle/transforms/gate"
)

func rec(id, updated, amount string) string {
	return `{"vendor_txn_id":"` + id + `","order_id":null,"seller_id":"s1","type":"charge","status":"settled","amount":` + amount +
		`,"fee":"0.10","currency":"usd","created_at":"2026-11-01T00:00:00Z","updated_at":"` + updated + `","settled_at":null,"metadata":{"k":1}}`
}

// landPage writes one raw page object with the given data elements.
func landPage(t *testing.T, s rawzone.Store, page int64, records ...string) string {
	t.Helper()
	body := `{"data":[`
	for i, r := range records {
		if i > 0 {
			body += ","
		}
		body += r
	}
	body += `],"has_more":false,"next_cursor":null}`
	name, _, err := rawzone.PutPage(t.Context(), s, rawzone.PageObject{
		Source: "settlements", WindowStart: simFrom, WindowEnd: simFrom.Add(time.Hour), Page: page,
		Status: 200, Attempts: 1, FetchedAt: simFrom, Records: len(records), Body: json.RawMessage(body),
	})
	if err != nil {
		t.Fatal(err)
	}
	return name
}

func readNDJSON[T any](t *testing.T, path string) []T {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []T
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, v)
	}
	return out
}

func TestProcessKeepsTheNewestVersionAndQuarantinesTheRest(t *testing.T) {
	dir := t.TempDir()
	raw, err := rawzone.NewFileStore(filepath.Join(dir, "raw"))
	if err != nil {
		t.Fatal(err)
	}
	objects := []string{
		landPage(t, raw, 0,
			rec("st_a", "2026-11-01T00:10:00Z", `"10.00"`),
			rec("st_b", "2026-11-01T00:11:00Z", `12.5`), // a JSON number, exact, in the currency's scale
			`42`, // not a record
		),
		landPage(t, raw, 1,
			rec("st_a", "2026-11-01T00:20:00Z", `"11.00"`), // newer version of st_a
			rec("st_a", "2026-11-01T00:10:00Z", `"10.00"`), // stale resend
			rec("st_c", "2026-11-01T00:12:00Z", `"-1.00"`), // negative
		),
	}
	staging := filepath.Join(dir, "staging")
	p, s := beam.NewPipelineWithRoot()
	files, counts := pipeline.ProcessNames(s, pipeline.ProcessConfig{
		RunID: "r1", RawZone: "file://" + filepath.Join(dir, "raw"), StagingDir: staging,
		Rules: gate.DefaultRules(), QuarantinedAt: simFrom.UnixNano(),
	}, beam.CreateList(s, objects))
	// Validated files of both pages, the row-rule quarantine of page 1 and
	// the unkeyed quarantine of page 0.
	passert.Count(s, files, "staged files", 4)
	// One count per page read, one per page holding winners: page 0's st_b
	// (its st_a lost to page 1's), page 1's st_a and its negative st_c.
	passert.Equals(s, counts,
		pipeline.ProcessCounts{PagesRead: 1, RecordsRead: 3, Unkeyed: 1},
		pipeline.ProcessCounts{PagesRead: 1, RecordsRead: 3},
		pipeline.ProcessCounts{Winners: 1, Valid: 1},
		pipeline.ProcessCounts{Winners: 2, Valid: 1, Failed: 1})
	res := ptest.RunAndValidate(t, p)

	var valid []warehouse.Settlement
	var quarantined []warehouse.Quarantined
	matches, _ := filepath.Glob(filepath.Join(staging, "*", "*.ndjson"))
	for _, m := range matches {
		if filepath.Base(filepath.Dir(m)) == pipeline.KindValidated {
			valid = append(valid, readNDJSON[warehouse.Settlement](t, m)...)
		} else {
			quarantined = append(quarantined, readNDJSON[warehouse.Quarantined](t, m)...)
		}
	}
	sort.Slice(valid, func(i, j int) bool { return valid[i].VendorTxnID < valid[j].VendorTxnID })
	var got []string
	for _, v := range valid {
		got = append(got, v.VendorTxnID+" "+v.Amount+" "+v.Currency+" "+v.UpdatedAt)
	}
	want := []string{"st_a 11.00 USD 2026-11-01T00:20:00.000000Z", "st_b 12.50 USD 2026-11-01T00:11:00.000000Z"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("validated rows (-want +got):\n%s", diff)
	}
	reasons := map[string]int{}
	for _, q := range quarantined {
		reasons[q.Reason]++
	}
	if diff := cmp.Diff(map[string]int{"amount_negative": 1, "record_not_object": 1}, reasons); diff != "" {
		t.Errorf("quarantine reasons (-want +got):\n%s", diff)
	}
	counters := map[string]int64{}
	for _, c := range res.Metrics().AllMetrics().Counters() {
		if c.Key.Namespace == "process" {
			counters[c.Key.Name] += c.Result()
		}
	}
	if counters["records_read"] != 6 || counters["winners"] != 3 || counters["records_unkeyed"] != 1 {
		t.Errorf("counters = %v, want records_read 6, winners 3, records_unkeyed 1", counters)
	}
}
