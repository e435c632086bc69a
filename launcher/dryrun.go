package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	beamlog "github.com/apache/beam/sdks/v2/go/pkg/beam/log"

	"github.com/marketplace/settle/io/vendorapi"
	"github.com/marketplace/settle/pipeline"
)

// dryRunOut is where a dry run prints the jobs it translated; tests also
// set dryRunModel to read each job's pipeline model.
var (
	dryRunOut   io.Writer = os.Stdout
	dryRunModel func(model string)
)

// dryRunSpec says what a dry run translates: a run or a replay over
// [From, To) is one job; a redrive keeps the chunked jobs.
type dryRunSpec struct {
	Kind     string
	From, To time.Time
	// SweepSpan, when set, makes it the sweep's job (`settle sweep`) over
	// that span.
	SweepSpan time.Duration
}

// source is the source the job is named after.
func (s dryRunSpec) source(cfg pipeline.Config) string {
	if s.SweepSpan > 0 {
		return pipeline.SweepSource
	}
	return cfg.Source
}

// jobSpec is the spec of the command's one job: the sweep's when
// SweepSpan is set (`settle sweep`), the webhook channel's for a run or a
// replay of the webhook source (`settle run|replay --source=webhook`),
// else the pull's run or replay. `settle launch` builds its job here too.
func (s dryRunSpec) jobSpec(cfg pipeline.Config, now time.Time) pipeline.JobSpec {
	switch {
	case s.SweepSpan > 0:
		return pipeline.NewSweepJobSpec(cfg, s.SweepSpan, now)
	case s.Kind == pipeline.KindRun && cfg.Source == pipeline.WebhookSource:
		return pipeline.NewWebhookJobSpec(cfg, now)
	case s.Kind == pipeline.KindReplay && cfg.Source == pipeline.WebhookSource:
		return pipeline.NewWebhookReplayJobSpec(cfg, s.From, s.To, now)
	}
	return pipeline.NewJobSpec(cfg, s.Kind, s.From, s.To, now)
}

// dryRunPipelines builds the Dataflow jobs of spec without touching a back
// end: the one job of a run or a replay, or the ingest and a process job
// of a redrive (over [from, to), an hour before now when unset).
func dryRunPipelines(cfg pipeline.Config, spec dryRunSpec, now time.Time) ([]string, []*beam.Pipeline) {
	if spec.Kind != pipeline.KindRedrive {
		p, _ := pipeline.JobPipeline(spec.jobSpec(cfg, now))
		return []string{spec.Kind}, []*beam.Pipeline{p}
	}
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
	return []string{"ingest", "process"}, []*beam.Pipeline{ingest, process}
}

// dryRun translates the jobs of spec with Beam's --dry_run (useDataflow
// must have set it) and prints each job's Dataflow JSON, one line, on dryRunOut,
// whatever the log level; nothing is submitted and no back end is opened.
func dryRun(ctx context.Context, cfg pipeline.Config, spec dryRunSpec, now time.Time) error {
	if beamFlag(beamDryRun) != "true" {
		return fmt.Errorf("dry run without Beam's --dry_run: refusing to submit")
	}
	names, jobs := dryRunPipelines(cfg, spec, now)
	jl := &jobLog{}
	beamlog.SetLogger(jl)
	defer beamlog.SetLogger(&beamlog.Structural{})
	for i, p := range jobs {
		if err := printDryRunJob(dryRunOut, names[i], beamFlag(beamJobName), p); err != nil {
			return err
		}
		if _, err := beam.Run(ctx, "dataflow", p); err != nil {
			return fmt.Errorf("translating the %s job: %w", names[i], err)
		}
	}
	out := jl.jobs()
	for i, j := range out {
		var b bytes.Buffer
		if json.Compact(&b, []byte(j)) == nil {
			j = b.String()
		}
		fmt.Fprintf(dryRunOut, "# Dataflow job %d of %d (%s), not submitted:\n%s\n", i+1, len(out), names[min(i, len(names)-1)], j)
	}
	return nil
}

// jobLog is Beam's logger during a dry run: it keeps the translated jobs'
// JSON (Beam logs them at info) and sends the rest to Beam's default
// logger, where the log level applies.
type jobLog struct {
	mu   sync.Mutex
	json []string
	next beamlog.Structural
}

func (l *jobLog) Log(ctx context.Context, sev beamlog.Severity, depth int, msg string) {
	if strings.HasPrefix(msg, "{") {
		l.mu.Lock()
		l.json = append(l.json, msg)
		l.mu.Unlock()
		return
	}
	if dryRunModel != nil && strings.Contains(msg, "components:") {
		dryRunModel(msg)
	}
	if sev > beamlog.SevInfo {
		l.next.Log(ctx, sev, depth+1, msg)
	}
}

func (l *jobLog) jobs() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.json
}
