// Package promfile writes a run's figures as a Prometheus text file, the
// node_exporter textfile collector's convention: one file per job, replaced
// atomically (written to a temporary file in the same directory, then
// renamed), so a scrape never reads half a file.
package promfile

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/marketplace/settle/io/warehouse"
	"github.com/marketplace/settle/pipeline"
)

// Metric names, all gauges of the last run of a kind (labels source and
// kind): a text file holds the state at its writing, not a counter.
const (
	NameTimestamp   = "settle_last_run_timestamp_seconds"
	NameSuccess     = "settle_last_run_success"
	NameOutcome     = "settle_last_run_outcome"
	NameDuration    = "settle_last_run_duration_seconds"
	NameRequests    = "settle_last_run_requests"
	NameRateLimited = "settle_last_run_rate_limited"
	NameRetries     = "settle_last_run_retries"
	NamePages       = "settle_last_run_pages_landed"
	NameRecords     = "settle_last_run_records_landed"
	NameRead        = "settle_last_run_records_read"
	NameDuplicates  = "settle_last_run_duplicates"
	NameValidated   = "settle_last_run_validated"
	NamePromoted    = "settle_last_run_promoted"
	NameQuarantined = "settle_last_run_quarantined"
	NameParked      = "settle_last_run_windows_parked"
	NameHeld        = "settle_last_run_held"
)

// Write writes the figures of the run sum (failed when runErr is not nil)
// to path, replacing it atomically. source labels every series. finished
// is the run's end, in Unix seconds in NameTimestamp.
func Write(path, source string, sum pipeline.Summary, runErr error, finished float64) error {
	reg := prometheus.NewRegistry()
	labels := prometheus.Labels{"source": source, "kind": sum.Kind}
	gauge := func(name, help string, v float64) {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: labels})
		g.Set(v)
		reg.MustRegister(g)
	}
	success := 0.0
	if runErr == nil && sum.Outcome != warehouse.OutcomeFailed {
		success = 1
	}
	held := 0.0
	if sum.Held {
		held = 1
	}
	gauge(NameTimestamp, "Unix time the last run of this kind ended.", finished)
	gauge(NameSuccess, "1 if the last run ended without error (promoted, held or needs attention), else 0.", success)
	gauge(NameDuration, "Duration of the last run, seconds.", sum.Duration.Seconds())
	gauge(NameRequests, "Vendor requests of the last run, retries included.", float64(sum.Requests))
	gauge(NameRateLimited, "Vendor answers of the last run that were rate limits (429 and kin).", float64(sum.RateLimited))
	gauge(NameRetries, "Waits before another attempt of a page, in the last run.", float64(sum.Retries))
	gauge(NamePages, "Pages the last run wrote to the raw zone.", float64(sum.PagesLanded))
	gauge(NameRecords, "Records on the pages the last run wrote to the raw zone.", float64(sum.RecordsLanded))
	gauge(NameRead, "Records the last run read from the raw zone.", float64(sum.RecordsRead))
	gauge(NameDuplicates, "Records the last run dropped as older or repeated versions.", float64(sum.Duplicates))
	gauge(NameValidated, "Rows of the last run that passed the gate.", float64(sum.Validated))
	gauge(NamePromoted, "Settlements rows the last run inserted, updated or corrected.", float64(sum.Promoted))
	gauge(NameParked, "Windows of the last run parked on a dead letter.", float64(sum.WindowsParked))
	gauge(NameHeld, "1 if the volume gate held the last run's batch, else 0.", held)

	outcome := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: NameOutcome,
		Help: "1 for the last run's outcome (promoted, held, needs_attention, failed), 0 for the others.", ConstLabels: labels}, []string{"outcome"})
	o := sum.Outcome
	if runErr != nil {
		o = warehouse.OutcomeFailed
	}
	for _, name := range []string{warehouse.OutcomePromoted, warehouse.OutcomeHeld, warehouse.OutcomeNeedsAttention, warehouse.OutcomeFailed} {
		v := 0.0
		if name == o {
			v = 1
		}
		outcome.WithLabelValues(name).Set(v)
	}
	reg.MustRegister(outcome)

	q := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: NameQuarantined,
		Help: "Rows the last run quarantined, by reason.", ConstLabels: labels}, []string{"reason"})
	reasons := make([]string, 0, len(sum.QuarantinedBy))
	for r := range sum.QuarantinedBy {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	for _, r := range reasons {
		q.WithLabelValues(r).Set(float64(sum.QuarantinedBy[r]))
	}
	reg.MustRegister(q)

	families, err := reg.Gather()
	if err != nil {
		return fmt.Errorf("gathering metrics for %s: %w", path, err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range families {
		if err := enc.Encode(f); err != nil {
			return fmt.Errorf("encoding metrics for %s: %w", path, err)
		}
	}
	return writeAtomic(path, buf.Bytes())
}

// writeAtomic replaces path with data through a temporary file in the same
// directory (a rename within a file system is atomic).
func writeAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing metrics file: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing metrics file %s: %w", path, err)
	}
	return nil
}
