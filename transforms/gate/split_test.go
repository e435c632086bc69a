package gate_test

import (
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/marketplace/settle/io/warehouse"
	"github.com/marketplace/settle/transforms/gate"
	"github.com/marketplace/settle/transforms/parse"
)

func TestMain(m *testing.M) { ptest.Main(m) }

func TestSplitOnPrism(t *testing.T) {
	at := time.Date(2025, 3, 15, 0, 0, 0, 0, time.UTC)
	good := raw(t, map[string]any{"currency": "gbp"})
	noAmount := raw(t, map[string]any{"vendor_txn_id": "st_2", "amount": nil})
	in := []parse.Raw{
		{Ref: "pages/a", Index: 0, Data: good},
		{Ref: "pages/a", Index: 1, Data: noAmount},
		{Ref: "pages/a", Index: 2, Data: []byte(`"junk"`)},
	}
	wantValid := baseRow()
	wantValid.Currency, wantValid.RunID, wantValid.RawRef = "GBP", "run-7", "pages/a"
	wantValid.VersionDigest = digestOf(string(good))
	id, at2, dig := "st_2", "2025-03-14T10:00:00.000002Z", digestOf(string(noAmount))
	wantQuarantined := []any{
		warehouse.Quarantined{
			QuarantineKey: "st_2@2025-03-14T10:00:00.000002Z#" + dig, VendorTxnID: &id, UpdatedAt: &at2, VersionDigest: &dig,
			Reason: parse.ReasonAmountMissing,
			Raw:    string(noAmount), RunID: "run-7", RawRef: "pages/a", QuarantinedAt: "2025-03-15T00:00:00.000000Z",
		},
		warehouse.Quarantined{
			QuarantineKey: "pages/a#2", Reason: parse.ReasonRecordNotObject,
			Raw: `"junk"`, RunID: "run-7", RawRef: "pages/a", QuarantinedAt: "2025-03-15T00:00:00.000000Z",
		},
	}

	p, s := beam.NewPipelineWithRoot()
	valid, quarantined := gate.Split(s, gate.DefaultRules(), "run-7", at, beam.CreateList(s, in))
	passert.Equals(s, valid, wantValid)
	passert.Equals(s, quarantined, wantQuarantined...)

	res := ptest.RunAndValidate(t, p)
	counters := map[string]int64{}
	for _, c := range res.Metrics().AllMetrics().Counters() {
		if c.Key.Namespace == "gate" {
			counters[c.Key.Name] += c.Committed
		}
	}
	want := map[string]int64{"validated": 1, "quarantined": 2, "quarantined_amount_missing": 1, "quarantined_record_not_object": 1}
	for name, n := range want {
		if counters[name] != n {
			t.Errorf("counter gate/%s = %d, want %d (all: %v)", name, counters[name], n, counters)
		}
	}
}

func TestSplitPanicsOnInvalidRules(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Errorf("Split with no currencies did not panic")
		}
	}()
	_, s := beam.NewPipelineWithRoot()
	gate.Split(s, gate.Rules{}, "run", time.Time{}, beam.CreateList(s, []parse.Raw{{}}))
}
