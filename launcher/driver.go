package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	beamlog "github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/marketplace/settle/io/cursorstore"
	"github.com/marketplace/settle/pipeline"
)

func init() {
	register.DoFn2x1[context.Context, []byte, error](&driveRunFn{})
}

// driveRunFn runs one `settle run` on a Dataflow worker: the driver job's
// only DoFn, applied to a single impulse.
//
// It sets Beam's Dataflow flags of the worker process for the inner jobs
// (this worker's own binary is their worker binary; with another runner,
// as in tests, it leaves them alone), runs pipeline.Run,
// and logs one runReportTag line with the outcome, the source's parked
// windows and the watermark's age. A run that failed returns its error:
// Dataflow retries the bundle (a rerun is always safe) and then fails the
// job. A run that reached a verdict (promoted, held, needs attention) and a
// run refused because another holds the lease return nil.
type driveRunFn struct {
	Config   pipeline.Config  `json:"config"`
	Dataflow dataflowSettings `json:"dataflow"`

	// logReport writes the report line; nil means Beam's log (tests
	// capture it here: a runner may replace Beam's logger mid-run).
	logReport func(ctx context.Context, line string)
}

var (
	runsDone   = beam.NewCounter("settle", "runs")
	runsFailed = beam.NewCounter("settle", "runs_failed")
	runsHeld   = beam.NewCounter("settle", "runs_held")
	leaseHeld  = beam.NewCounter("settle", "runs_lease_held")
)

// ProcessElement runs the run.
func (fn *driveRunFn) ProcessElement(ctx context.Context, _ []byte) error {
	if fn.Config.Runner == "dataflow" {
		s := fn.Dataflow
		if exe, err := os.Executable(); err == nil {
			s.WorkerBinary = exe
		}
		if err := setBeamFlags(s.beamFlags()); err != nil {
			return err
		}
	}
	logger := slog.New(pipeline.BeamLogHandler{Level: slog.LevelInfo})
	sum, err := pipeline.Run(ctx, fn.Config, pipeline.Options{Logger: logger})
	rep := fn.report(ctx, sum, err, time.Now())
	if fn.logReport == nil {
		fn.logReport = func(ctx context.Context, line string) { beamlog.Info(ctx, line) }
	}
	fn.logReport(ctx, rep)
	var held *cursorstore.LeaseHeldError
	switch {
	case errors.As(err, &held):
		leaseHeld.Inc(ctx, 1)
		return nil
	case err != nil:
		runsFailed.Inc(ctx, 1)
		return fmt.Errorf("settle run of %s: %w", fn.Config.Source, err)
	}
	runsDone.Inc(ctx, 1)
	if sum.Held {
		runsHeld.Inc(ctx, 1)
	}
	return nil
}

// report returns the run's report line. Reading the watermark and the
// parked windows is best effort: a failure shows as -1.
func (fn *driveRunFn) report(ctx context.Context, sum pipeline.Summary, runErr error, now time.Time) string {
	outcome := sum.Outcome
	var held *cursorstore.LeaseHeldError
	switch {
	case errors.As(runErr, &held):
		outcome = "lease_held"
	case runErr != nil || outcome == "":
		outcome = "failed"
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
	return formatReport(fn.Config.Source, sum.RunID, outcome, sum.Held, parked, age, sum.Promoted)
}

// formatReport is the driver's report line, matched by the log-based
// metrics of launcher/deploy/terraform/monitoring.tf.
func formatReport(source, runID, outcome string, held bool, parked, watermarkAge, promoted int64) string {
	h := 0
	if held {
		h = 1
	}
	return fmt.Sprintf("%s source=%s run_id=%s outcome=%s held=%d parked_windows=%d watermark_age_seconds=%d promoted=%d",
		runReportTag, source, runID, outcome, h, parked, watermarkAge, promoted)
}
