package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/marketplace/settle/pipeline"
	"github.com/marketplace/settle/testing/vendorsim"
)

func cmdVendorSim(ctx context.Context, args []string) int {
	fs := newFlagSet("vendorsim", "[flags]", "Serve the vendor simulator.")
	var addr, faults, truth string
	var records, meta int
	var seed int64
	var from, to time.Time
	var rateLimit float64
	fs.StringVar(&addr, "addr", "127.0.0.1:8089", "listen `address`")
	fs.IntVar(&records, "records", 20000, "distinct settlements")
	fs.Int64Var(&seed, "seed", 1, "seed of data and faults")
	fs.StringVar(&faults, "faults", "default", "fault spec: default, none, all, or key=value,... (keys: "+strings.Join(vendorsim.FaultKeys(), ", ")+")")
	fs.IntVar(&meta, "metadata-bytes", 0, "metadata bytes per record")
	fs.Float64Var(&rateLimit, "rate-limit", 0, "enforced requests per second (0: the fault spec's)")
	fs.StringVar(&truth, "truth", "", "write the ground truth (NDJSON) to this `file`")
	fs.Var(timeFlag{&from}, "from", "first updated_at, RFC 3339 (default: 24 h before now)")
	fs.Var(timeFlag{&to}, "to", "end of updated_at, RFC 3339")
	if err := parse(fs, args); err != nil {
		return fail("vendorsim", err)
	}
	if err := checkRange(from, to); err != nil {
		return fail("vendorsim", err)
	}
	switch {
	case records < 0:
		return fail("vendorsim", usageErr("--records=%d: want 0 or more", records))
	case meta < 0:
		return fail("vendorsim", usageErr("--metadata-bytes=%d: want 0 or more", meta))
	case rateLimit < 0:
		return fail("vendorsim", usageErr("--rate-limit=%v: want 0 (the fault spec's) or more", rateLimit))
	}
	f, err := vendorsim.ParseFaults(faults)
	if err != nil {
		return fail("vendorsim", usageErr("--faults=%s: %v", faults, err))
	}
	sim, err := vendorsim.New(vendorsim.Config{Seed: seed, Records: records, From: from, To: to,
		Token: os.Getenv(pipeline.DefaultTokenEnv), Faults: f, MetadataBytes: meta, RateLimit: rateLimit})
	if err != nil {
		return fail("vendorsim", err)
	}
	if truth != "" {
		if err := writeTruth(sim, truth); err != nil {
			return fail("vendorsim", err)
		}
	}
	fmt.Fprintf(os.Stderr, "vendor simulator on http://%s (token: the value of %s, or any when unset)\n", addr, pipeline.DefaultTokenEnv)
	if err := sim.Serve(ctx, addr); err != nil && !errors.Is(err, context.Canceled) {
		return fail("vendorsim", err)
	}
	return exitOK
}
