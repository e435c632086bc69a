package main

import (
	"context"

	"github.com/marketplace/settle/pipeline"
)

func cmdPromote(ctx context.Context, args []string) int {
	fs := newFlagSet("promote", "--run-id ID [flags]", "Promote a batch that the volume gate held.")
	var (
		b     backendFlags
		o     outputFlags
		runID string
	)
	fs.StringVar(&runID, "run-id", "", "the held run to promote (see `settle runs`) (required)")
	addBackendFlags(fs, &b)
	addLeaseFlags(fs, &b)
	addLogFlags(fs, &o)
	if err := parse(fs, args); err != nil {
		return fail("promote", err)
	}
	if runID == "" {
		return fail("promote", usageErr("--run-id is required: the held run's ID from `settle runs`"))
	}
	cfg, err := b.config(&o)
	if err != nil {
		return fail("promote", err)
	}
	sum, err := pipeline.PromoteHeld(ctx, cfg, pipeline.Options{Logger: o.logger()}, runID)
	return report("promote", sum, err)
}
