package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/marketplace/settle/io/vendorapi"
	"github.com/marketplace/settle/pipeline"
)

// dryRunPipelines builds the Dataflow jobs of a run of cfg without touching
// a back end, for --dry-run: the ingest job over [from, to) (an hour before
// now when unset), a process job over a page of each window, and the
// driver job. The ingest and process jobs are built as pipeline.Run builds
// them.
func dryRunPipelines(cfg pipeline.Config, s dataflowSettings, now time.Time) map[string]*beam.Pipeline {
	from, to := cfg.From, cfg.To
	if to.IsZero() {
		to = now.Add(-cfg.VisibilityLag).UTC().Truncate(time.Hour)
	}
	if from.IsZero() {
		from = to.Add(-cfg.Window)
	}
	epoch := vendorapi.FormatTime(from) + "_" + vendorapi.FormatTime(to)
	var tasks []vendorapi.Task
	var objects []string
	for i, w := range pipeline.Windows(from, to, cfg.Window) {
		tasks = append(tasks, vendorapi.NewTask(cfg.Source, vendorapi.Window{Start: w[0], End: w[1]}, epoch))
		objects = append(objects, fmt.Sprintf("pages/%s/date=%s/window=dry-run-%d/page-00001-0000000000000000.json.gz", cfg.Source, w[0].Format(time.DateOnly), i))
	}
	ingest := pipeline.IngestPipeline(cfg, tasks)
	process := pipeline.ProcessPipeline(cfg, "dry-run", strings.TrimSuffix(cfg.Staging, "/")+"/dry-run/chunk-0000", now, objects)

	driver, ds := beam.NewPipelineWithRoot()
	beam.ParDo0(ds.Scope("settle.Drive"), &driveRunFn{Config: cfg, Dataflow: s}, beam.Impulse(ds))
	return map[string]*beam.Pipeline{"ingest": ingest, "process": process, "driver": driver}
}

// dryRun translates the run's jobs with Beam's --dry_run (apply must have
// set it) and prints them; nothing is submitted and no back end is opened.
func dryRun(ctx context.Context, cfg pipeline.Config, s dataflowSettings, now time.Time) error {
	if beamFlag(beamDryRun) != "true" {
		return fmt.Errorf("dry run without Beam's --dry_run: refusing to submit")
	}
	jobs := dryRunPipelines(cfg, s, now)
	for _, name := range []string{"ingest", "process", "driver"} {
		if name == "driver" {
			driver := s.driver()
			driver.DryRun = true
			if err := setBeamFlags(driver.beamFlags()); err != nil {
				return err
			}
		}
		if _, err := beam.Run(ctx, "dataflow", jobs[name]); err != nil {
			return fmt.Errorf("translating the %s job: %w", name, err)
		}
	}
	return nil
}
