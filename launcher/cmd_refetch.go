package main

import (
	"context"
	"os"
	"time"

	"github.com/marketplace/settle/pipeline"
)

func cmdRefetch(ctx context.Context, args []string) int {
	fs := newFlagSet("refetch", "--from T --to T [--all] [--dry-run] [flags]",
		"Read damaged windows again from the vendor (moves damaged raw objects aside), then process and promote.")
	var (
		b        backendFlags
		v        vendorFlags
		p        processingFlags
		o        outputFlags
		from, to time.Time
		ro       pipeline.RefetchOptions
	)
	fs.Var(timeFlag{&from}, "from", "refetch damaged windows that overlap [--from, --to), RFC 3339 (required)")
	fs.Var(timeFlag{&to}, "to", "end of the range, RFC 3339 (required)")
	fs.BoolVar(&ro.All, "all", false, "re-read every window of the range, not only the damaged ones")
	fs.BoolVar(&ro.DryRun, "dry-run", false, "print what it would do and do nothing")
	addVendorFlags(fs, &v)
	addBackendFlags(fs, &b)
	addLeaseFlags(fs, &b)
	addProcessingFlags(fs, &p)
	addOutputFlags(fs, &o)
	var metricsFile string
	addMetricsFileFlag(fs, &metricsFile)
	if err := parse(fs, args); err != nil {
		return fail("refetch", err)
	}
	if err := checkRange(from, to); err != nil {
		return fail("refetch", err)
	}
	if from.IsZero() || to.IsZero() {
		return fail("refetch", usageErr("--from and --to are required: want RFC 3339 times"))
	}
	cfg, err := b.config(&v, &p, &o)
	if err != nil {
		return fail("refetch", err)
	}
	if cfg.VendorURL == "" && !ro.DryRun {
		return fail("refetch", usageErr("--vendor-url is required"))
	}
	if !ro.DryRun {
		if err := pipeline.Preflight(ctx, cfg, time.Now()); err != nil {
			return fail("refetch", err)
		}
	}
	ro.Plan = os.Stdout
	sum, err := pipeline.Refetch(ctx, cfg, o.opts(), from, to, ro)
	if err == nil && sum.RunID == "" {
		return exitOK // a dry run, or nothing to refetch: the plan said so
	}
	writeMetricsFile(metricsFile, cfg.Source, sum, err)
	return report("refetch", sum, err)
}
