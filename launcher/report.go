package main

import (
	"context"
	"fmt"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	beamlog "github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/marketplace/settle/io/cursorstore"
	"github.com/marketplace/settle/io/warehouse"
	"github.com/marketplace/settle/pipeline"
)

func init() {
	register.DoFn2x0[context.Context, pipeline.JobResult](&reportFn{})
}

var (
	runsDone  = beam.NewCounter("settle", "runs")
	runsHeld  = beam.NewCounter("settle", "runs_held")
	leaseHeld = beam.NewCounter("settle", "runs_lease_held")
)

// reportFn is the last step of a launched run's job: it logs one
// runReportTag line with the run's outcome, the source's parked windows
// and the watermark's age, which the alert policies
// (launcher/deploy/terraform/monitoring.tf) read. A run that failed fails
// its job instead (Dataflow retries the failing bundle, then fails the
// job), so it reaches no report line: the failed-job alert covers it.
type reportFn struct {
	Config pipeline.Config `json:"config"`

	// logReport writes the report line; nil means Beam's log (tests
	// capture it here).
	logReport func(ctx context.Context, line string)
}

// ProcessElement logs the report of r.
func (fn *reportFn) ProcessElement(ctx context.Context, r pipeline.JobResult) {
	if fn.logReport == nil {
		fn.logReport = func(ctx context.Context, line string) { beamlog.Info(ctx, line) }
	}
	fn.logReport(ctx, fn.report(ctx, r, time.Now()))
	switch {
	case r.Outcome == pipeline.OutcomeLeaseHeld:
		leaseHeld.Inc(ctx, 1)
	case r.Outcome != warehouse.OutcomeFailed:
		runsDone.Inc(ctx, 1)
		if r.Held {
			runsHeld.Inc(ctx, 1)
		}
	}
}

// report returns the run's report line. Reading the watermark and the
// parked windows is best effort: a failure shows as -1.
func (fn *reportFn) report(ctx context.Context, r pipeline.JobResult, now time.Time) string {
	outcome := r.Outcome
	if outcome == "" {
		outcome = warehouse.OutcomeFailed
	}
	parked, age := int64(-1), int64(-1)
	if cursors, err := cursorstore.Open(ctx, fn.Config.CursorStore); err == nil {
		if wm, _, err := cursorstore.LoadWatermark(ctx, cursors, fn.Config.Source); err == nil {
			age = int64(now.Sub(wm) / time.Second)
		}
		if p, err := pipeline.ParkedWindows(ctx, fn.Config, cursors); err == nil {
			parked = int64(len(p))
		}
		cursors.Close()
	}
	return formatReport(fn.Config.Source, r.RunID, outcome, r.Held, parked, age, r.Promoted)
}

// formatReport is the run's report line, matched by the log-based
// metrics of launcher/deploy/terraform/monitoring.tf.
func formatReport(source, runID, outcome string, held bool, parked, watermarkAge, promoted int64) string {
	h := 0
	if held {
		h = 1
	}
	return fmt.Sprintf("%s source=%s run_id=%s outcome=%s held=%d parked_windows=%d watermark_age_seconds=%d promoted=%d",
		runReportTag, source, runID, outcome, h, parked, watermarkAge, promoted)
}
