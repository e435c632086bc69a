package main

import (
	"context"
	"time"

	"github.com/marketplace/settle/pipeline"
)

func cmdRedrive(ctx context.Context, args []string) int {
	fs := newFlagSet("redrive", "--vendor-url URL [flags]", "Retry parked windows from their stored cursor, then process and promote them.")
	var (
		b backendFlags
		v vendorFlags
		p processingFlags
		d dataflowFlags
		o outputFlags
	)
	addVendorFlags(fs, &v)
	addBackendFlags(fs, &b)
	addLeaseFlags(fs, &b)
	addProcessingFlags(fs, &p)
	addDataflowFlags(fs, &d)
	addOutputFlags(fs, &o)
	var metricsFile string
	addMetricsFileFlag(fs, &metricsFile)
	if err := parse(fs, args); err != nil {
		return fail("redrive", err)
	}
	cfg, err := b.config(&v, &p, &d, &o)
	if err != nil {
		return fail("redrive", err)
	}
	if done, err := useDataflow(ctx, d, b.project, &cfg, dryRunSpec{Kind: pipeline.KindRedrive}); err != nil || done {
		if err != nil {
			return fail("redrive", err)
		}
		return exitOK
	}
	if cfg.Source == pipeline.WebhookSource {
		// Nothing is ever parked for pushed events: a redrive processes
		// what landed since the last webhook run, as `settle run` does.
		sum, err := pipeline.RunWebhook(ctx, cfg, o.opts())
		writeMetricsFile(metricsFile, cfg.Source, sum, err)
		return report("redrive", sum, err)
	}
	if cfg.VendorURL == "" {
		return fail("redrive", usageErr("--vendor-url is required"))
	}
	if err := pipeline.Preflight(ctx, cfg, time.Now()); err != nil {
		return fail("redrive", err)
	}
	sum, err := pipeline.Redrive(ctx, cfg, o.opts())
	writeMetricsFile(metricsFile, cfg.Source, sum, err)
	return report("redrive", sum, err)
}
