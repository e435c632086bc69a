package main

import (
	"context"
	"time"

	"github.com/marketplace/settle/pipeline"
)

func cmdReplay(ctx context.Context, args []string) int {
	fs := newFlagSet("replay", "--from T --to T [flags]", "Reprocess the raw zone of those windows; never calls the vendor.")
	var (
		b        backendFlags
		p        processingFlags
		d        dataflowFlags
		o        outputFlags
		from, to time.Time
	)
	fs.Var(timeFlag{&from}, "from", "replay windows that start at or after this time, RFC 3339 (required)")
	fs.Var(timeFlag{&to}, "to", "and before this time, RFC 3339 (required)")
	addBackendFlags(fs, &b)
	addLeaseFlags(fs, &b)
	addProcessingFlags(fs, &p)
	addDataflowFlags(fs, &d)
	addOutputFlags(fs, &o)
	var metricsFile string
	addMetricsFileFlag(fs, &metricsFile)
	if err := parse(fs, args); err != nil {
		return fail("replay", err)
	}
	if err := checkRange(from, to); err != nil {
		return fail("replay", err)
	}
	if from.IsZero() || to.IsZero() {
		return fail("replay", usageErr("--from and --to are required: want RFC 3339 times"))
	}
	cfg, err := b.config(&p, &d, &o)
	if err != nil {
		return fail("replay", err)
	}
	if done, err := useDataflow(ctx, d, b.project, &cfg, dryRunSpec{Kind: pipeline.KindReplay, From: from, To: to}); err != nil || done {
		if err != nil {
			return fail("replay", err)
		}
		return exitOK
	}
	stopProfile, err := o.profile()
	if err != nil {
		return fail("replay", err)
	}
	defer stopProfile()
	replay := pipeline.Replay
	if cfg.Source == pipeline.WebhookSource {
		replay = pipeline.ReplayWebhook // hours of receipt, not vendor windows
	}
	sum, err := replay(ctx, cfg, o.opts(), from, to)
	writeMetricsFile(metricsFile, cfg.Source, sum, err)
	return report("replay", sum, err)
}
