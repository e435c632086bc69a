package main

import (
	"os"
	"path/filepath"
	"testing"
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
