package promfile_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/marketplace/settle/pipeline"
	"github.com/marketplace/settle/pipeline/promfile"
)

func parse(t *testing.T, path string) map[string]float64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(f)
	if err != nil {
		t.Fatalf("parsing %s as Prometheus text: %v", path, err)
	}
	out := map[string]float64{}
	for name, fam := range families {
		for _, m := range fam.GetMetric() {
			key := name
			for _, l := range m.GetLabel() {
				if l.GetName() != "source" && l.GetName() != "kind" {
					key += "{" + l.GetName() + "=" + l.GetValue() + "}"
				} else if l.GetName() == "kind" && l.GetValue() != "run" {
					t.Errorf("%s: kind=%q, want run", name, l.GetValue())
				}
			}
			out[key] = m.GetGauge().GetValue()
		}
	}
	return out
}

func TestWrite(t *testing.T) {
	sum := pipeline.Summary{RunID: "r1", Kind: "run", Outcome: "needs_attention", Requests: 130, RateLimited: 7, Retries: 11,
		PagesLanded: 120, RecordsLanded: 6000, RecordsRead: 6000, Duplicates: 40, Validated: 5900, Promoted: 5800,
		WindowsParked: 2, QuarantinedBy: map[string]int64{"currency_unknown": 50, "amount_missing": 10}, Duration: 90 * time.Second}
	tests := []struct {
		name   string
		runErr error
		want   map[string]float64
	}{
		{"a run that needs attention succeeded", nil, map[string]float64{
			promfile.NameSuccess: 1, promfile.NameRequests: 130, promfile.NameRateLimited: 7, promfile.NameRetries: 11,
			promfile.NameParked: 2, promfile.NameDuration: 90, promfile.NameTimestamp: 1.7e9,
			promfile.NameQuarantined + "{reason=currency_unknown}": 50, promfile.NameQuarantined + "{reason=amount_missing}": 10,
			promfile.NameOutcome + "{outcome=needs_attention}": 1, promfile.NameOutcome + "{outcome=failed}": 0,
		}},
		{"a run with an error failed", errors.New("boom"), map[string]float64{
			promfile.NameSuccess: 0, promfile.NameOutcome + "{outcome=failed}": 1, promfile.NameOutcome + "{outcome=needs_attention}": 0,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "settle.prom")
			if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := promfile.Write(path, "settlements", sum, tt.runErr, 1.7e9); err != nil {
				t.Fatalf("Write() = %v", err)
			}
			got := parse(t, path)
			for k, v := range tt.want {
				if g, ok := got[k]; !ok || g != v {
					t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
				}
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != 1 {
				var names []string
				for _, e := range entries {
					names = append(names, e.Name())
				}
				t.Errorf("directory holds %s, want only settle.prom (no temporary files left)", strings.Join(names, ", "))
			}
		})
	}
}

func TestWriteIntoAMissingDirectoryFails(t *testing.T) {
	err := promfile.Write(filepath.Join(t.TempDir(), "nope", "settle.prom"), "s", pipeline.Summary{Kind: "run"}, nil, 0)
	if err == nil {
		t.Error("Write() into a missing directory = nil, want an error")
	}
}
