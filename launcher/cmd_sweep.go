package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/marketplace/settle/pipeline"
)

// cmdSweep is the scheduled reconciliation pull of the webhook era: it
// reads the last --span of the list endpoint at 5 requests per second
// (source "sweep"), lands what the webhooks missed, and saves the webhook
// status (lag, versions missed) that `settle status` shows.
func cmdSweep(ctx context.Context, args []string) int {
	fs := newFlagSet("sweep", "--vendor-url URL [--span 6h] [flags]", "Pull the last hours at the list endpoint's reduced 5 req/s, land what the webhooks missed and record the webhook lag.")
	var (
		b    backendFlags
		v    vendorFlags
		p    processingFlags
		d    dataflowFlags
		o    outputFlags
		span time.Duration
		from time.Time
	)
	fs.DurationVar(&span, "span", pipeline.SweepSpan, "how far back the sweep reads (updated_at), up to now minus the vendor's visibility lag")
	fs.Var(timeFlag{&from}, "from", "start of the sweep, RFC 3339, overriding --span")
	addVendorFlags(fs, &v)
	addBackendFlags(fs, &b)
	addLeaseFlags(fs, &b)
	addProcessingFlags(fs, &p)
	addDataflowFlags(fs, &d)
	addOutputFlags(fs, &o)
	if err := parse(fs, args); err != nil {
		return fail("sweep", err)
	}
	cfg, err := b.config(&v, &p, &d, &o)
	if err != nil {
		return fail("sweep", err)
	}
	if cfg.VendorURL == "" {
		return fail("sweep", usageErr("--vendor-url is required"))
	}
	cfg.From = from
	// --source names the webhook receiver's source to compare with.
	if cfg.Source == pipeline.DefaultConfig("").Source {
		cfg.Source = pipeline.WebhookSource
	}
	if done, err := useDataflow(ctx, d, b.project, &cfg, dryRunSpec{Kind: pipeline.KindRun, SweepSpan: span}); err != nil || done {
		if err != nil {
			return fail("sweep", err)
		}
		return exitOK
	}
	sum, st, err := pipeline.Sweep(ctx, cfg, o.opts(), span)
	if err == nil {
		fmt.Fprintf(os.Stdout, "webhooks: %d of %d versions swept were missed by the webhooks; %d events, lag p50 %s p99 %s max %s; last received %s\n",
			st.MissedByWebhook, st.SweepVersions, st.WebhookEvents, st.LagP50, st.LagP99, st.LagMax, st.LastReceived.Format(time.RFC3339))
	}
	return report("sweep", sum, err)
}
