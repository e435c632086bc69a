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

	before, err := windowStates(ctx, cfg, b.cursors, tasks)
	if err != nil {
		return err
	}
	base := vendorapi.ProcessStats()
	stop := startProgress(ctx, cfg, opts, b.cursors, tasks)
	t0 := opts.Now()
	res, err := beam.Run(ctx, cfg.Runner, p)
	stop()
	opts.Logger.Info("phase finished", logKeyPhase, "ingest", logKeyTook, opts.Now().Sub(t0), logKeyRun, sum.RunID)
	if err != nil {
		// No counters from a failed or interrupted job: count what landed
		// from the cursors, which advance only once a page is durable.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
		defer cancel()
		if after, lerr := windowStates(sctx, cfg, b.cursors, tasks); lerr == nil {
			sum.PagesLanded, sum.RecordsLanded = landedSince(before, after, tasks)
		}
		sum.Requests = vendorapi.ProcessStats().Sub(base).Requests
		return fmt.Errorf("ingesting from the vendor: %w", err)
	}
	c := counters(res, "vendorapi")
	sum.PagesLanded = c["pages_landed"]
	sum.RecordsLanded = c["records_landed"]
	sum.Requests = c["fetch_attempts"]
	sum.RateLimited = c["rate_limited"]
	sum.Retries = c["retries"]
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
			for _, w := range st {
				// Only windows parked now: a redriven window keeps its old
				// dead letters.
				if w.State.Status == cursorstore.StatusParked && d.WindowStart.Equal(w.Start) && d.WindowEnd.Equal(w.End) {
					sum.DeadLetters = append(sum.DeadLetters, d)
				}
			}
		}
	}
	return nil
}

// landedSince counts the pages and records the cursors of this run's
// epoch advanced over between two reads of the windows' states.
func landedSince(before, after []windowState, tasks []vendorapi.Task) (pages, records int64) {
	for i, a := range after {
		if a.State.Epoch != tasks[i].Epoch {
			continue
		}
		pages += a.State.Pages
		records += a.State.Records
		if b := before[i].State; b.Epoch == a.State.Epoch && b.ChainRestarts == a.State.ChainRestarts {
			pages -= b.Pages
			records -= b.Records
		}
	}
	return pages, records
}
