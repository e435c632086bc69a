package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/marketplace/settle/io/warehouse"
	"github.com/marketplace/settle/pipeline/status"
)

func TestStatusExitCodes(t *testing.T) {
	root := t.TempDir()
	fresh := filepath.Join(root, "brand-new")
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"a brand-new data dir has no runs yet: UNKNOWN", []string{"--data-dir", fresh}, 3},
		{"a brand-new data dir as JSON: UNKNOWN", []string{"--data-dir", fresh, "--json"}, 3},
		{"a deadline that is no time of day is a usage mistake", []string{"--data-dir", fresh, "--deadline", "25:00 UTC"}, exitUsage},
		{"an unknown zone is a usage mistake", []string{"--data-dir", fresh, "--deadline", "06:00 Mars/Olympus"}, exitUsage},
		{"failure limits out of order are a usage mistake", []string{"--data-dir", fresh, "--failure-warn", "0.6", "--failure-critical", "0.5"}, exitUsage},
		{"a webhook silence limit of zero is a usage mistake", []string{"--data-dir", fresh, "--webhook-silence", "0s"}, exitUsage},
		{"a negative webhook lag limit is a usage mistake", []string{"--data-dir", fresh, "--webhook-lag", "-1m"}, exitUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := run(t.Context(), append([]string{"status"}, tt.args...)); got != tt.want {
				t.Errorf("settle status %v = %d, want %d", tt.args, got, tt.want)
			}
			if _, err := os.Stat(fresh); !os.IsNotExist(err) {
				t.Errorf("settle status created %s (stat: %v): it must create nothing", fresh, err)
			}
		})
	}
}

func TestReportOnABrandNewDataDirWritesTheNoRunsPage(t *testing.T) {
	root := t.TempDir()
	out := filepath.Join(root, "report.html")
	if got := run(t.Context(), []string{"report", "--data-dir", filepath.Join(root, "data"), "--out", out}); got != 3 {
		t.Errorf("settle report on a brand-new data dir = %d, want 3 (UNKNOWN: no runs yet)", got)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("reading the report: %v", err)
	}
	if len(b) == 0 {
		t.Error("the report is empty")
	}
	entries, _ := os.ReadDir(root)
	if len(entries) != 1 {
		t.Errorf("%s holds %d entries, want only report.html (no data dir created, no temporary file left)", root, len(entries))
	}
}

// TestStatusScreenShowsWebhookOnlyWhenInUse: a pull-only source's screen
// and JSON say nothing about webhooks; a webhook channel without a sweep
// says "no sweep yet".
func TestStatusScreenShowsWebhookOnlyWhenInUse(t *testing.T) {
	now := time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC)
	ledger := []warehouse.Run{{RunID: "r1", Kind: "run", Outcome: warehouse.OutcomePromoted, StartedAt: now.Add(-time.Hour), FinishedAt: now.Add(-50 * time.Minute)}}
	pull := status.Inputs{Source: "settlements", Watermark: now.Add(-time.Hour), Runs: ledger}
	tests := []struct {
		name      string
		in        status.Inputs
		want      []string
		wantLevel status.Level
	}{
		{"pull only: no webhook line", pull, nil, status.OK},
		{"webhook runs without a sweep yet", func() status.Inputs { in := pull; in.WebhookWatermark = now.Add(-time.Hour); return in }(),
			[]string{"webhook", "in use, no sweep yet"}, status.OK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := status.Evaluate(tt.in, status.DefaultThresholds(), now)
			if r.Level != tt.wantLevel {
				t.Errorf("Level = %v, want %v", r.Level, tt.wantLevel)
			}
			var b strings.Builder
			printStatus(&b, r)
			js, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			if tt.want == nil {
				if strings.Contains(strings.ToLower(b.String()), "webhook") || strings.Contains(string(js), "webhook") {
					t.Errorf("a pull-only status mentions webhooks:\n%s\n%s", b.String(), js)
				}
				return
			}
			for _, w := range tt.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("screen does not say %q:\n%s", w, b.String())
				}
			}
			if !strings.Contains(string(js), `"webhook":{"swept":false`) {
				t.Errorf("JSON %s, want a webhook section with swept false", js)
			}
		})
	}
}
