package pipeline

import (
	"context"
	"fmt"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/marketplace/settle/io/cursorstore"
	"github.com/marketplace/settle/io/rawzone"
	"github.com/marketplace/settle/io/vendorapi"
)

// IngestPipeline builds the ingest job: one element per window task,
// reshuffled so the runner can spread windows, into vendorapi.ReadPages.
// Each process gets its share of the vendor's per-token rate limit (see
// WorkerRate).
func IngestPipeline(cfg Config, tasks []vendorapi.Task) *beam.Pipeline {
	p, s := beam.NewPipelineWithRoot()
	vendorapi.ReadPages(s, readConfig(cfg, len(tasks)), beam.Reshuffle(s, beam.CreateList(s, tasks)))
	return p
}

// readConfig is the configuration of vendorapi.ReadPages over a number of
// windows, with each process's share of the vendor's rate limit.
func readConfig(cfg Config, windows int) vendorapi.ReadConfig {
	rate, burst := WorkerRate(cfg.Rate, cfg.Burst, cfg.Workers, windows)
	return vendorapi.ReadConfig{
		VendorURL:      cfg.VendorURL,
		TokenEnv:       cfg.TokenEnv,
		TokenSecret:    cfg.TokenSecret,
		RawZone:        cfg.RawZone,
		CursorStore:    cfg.CursorStore,
		PageSize:       cfg.PageSize,
		Rate:           rate,
		Burst:          burst,
		Concurrency:    cfg.Concurrency,
		RetryBudget:    cfg.RetryBudget,
		MaxAttempts:    cfg.MaxAttempts,
		RequestTimeout: 30 * time.Second,
	}
}

// ingest runs the ingest pipeline over tasks and fills the fetch side of
// the summary from the cursor store and the dead letters.
func ingest(ctx context.Context, cfg Config, opts Options, b *backends, sum *Summary, tasks []vendorapi.Task) error {
	p := IngestPipeline(cfg, tasks)

	stop := startProgress(ctx, cfg, opts, b.cursors, tasks)
	t0 := opts.Now()
	res, err := beam.Run(ctx, cfg.Runner, p)
	stop()
	opts.Logger.Info("phase finished", logKeyPhase, "ingest", logKeyTook, opts.Now().Sub(t0), logKeyRun, sum.RunID)
	if err != nil {
		return fmt.Errorf("ingesting from the vendor: %w", err)
	}
	c := counters(res, "vendorapi")
	sum.PagesLanded = c["pages_landed"]
	sum.RecordsLanded = c["records_landed"]
	sum.Requests = c["fetch_attempts"]
	st, err := windowStates(ctx, cfg, b.cursors, tasks)
	if err != nil {
		return err
	}
	for _, w := range st {
		switch w.State.Status {
		case cursorstore.StatusDone:
			sum.WindowsDone++
		case cursorstore.StatusParked:
			sum.WindowsParked++
		}
	}
	if sum.WindowsParked > 0 {
		dls, err := rawzone.ListDeadLetters(ctx, b.raw, cfg.Source)
		if err != nil {
			return fmt.Errorf("listing dead letters: %w", err)
		}
		for _, d := range dls {
			for _, t := range tasks {
				if w := t.Window(); d.WindowStart.Equal(w.Start) && d.WindowEnd.Equal(w.End) {
					sum.DeadLetters = append(sum.DeadLetters, d)
				}
			}
		}
	}
	return nil
}
