package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/marketplace/settle/io/vendorapi"
	"github.com/marketplace/settle/pipeline"
)

func TestPrintDryRunJobNamesTypeAndSteps(t *testing.T) {
	cfg := pipeline.DefaultConfig(t.TempDir())
	cfg.VendorURL = "https://api.vendor.example"
	from := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	tasks := []vendorapi.Task{vendorapi.NewTask(cfg.Source, vendorapi.Window{Start: from, End: from.Add(time.Hour)}, "e")}
	var buf bytes.Buffer
	if err := printDryRunJob(&buf, "ingest", "settle-settlements", pipeline.IngestPipeline(cfg, tasks)); err != nil {
		t.Fatalf("printDryRunJob: %v", err)
	}
	got := buf.String()
	for _, want := range []string{`the ingest job "settle-settlements"`, "(batch)", "vendorapi.ReadPages", "Reshuffle"} {
		if !strings.Contains(got, want) {
			t.Errorf("printDryRunJob printed %q, want it to hold %q", got, want)
		}
	}
}
