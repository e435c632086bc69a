package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"golang.org/x/sync/errgroup"

	"github.com/marketplace/settle/io/warehouse"
	"github.com/marketplace/settle/transforms/gate"
)

// ProcessPipeline builds the process job of one chunk of raw objects,
// writing its load files under dir.
func ProcessPipeline(cfg Config, runID, dir string, quarantinedAt time.Time, objects []string) *beam.Pipeline {
	p, s := beam.NewPipelineWithRoot()
	Process(s, ProcessConfig{
		RunID:         runID,
		RawZone:       cfg.RawZone,
		StagingDir:    dir,
		Rules:         cfg.Rules(),
		QuarantinedAt: quarantinedAt.UnixNano(),
	}, objects)
	return p
}

// chunkObjects groups a sorted object list into chunks of whole windows.
func chunkObjects(objects []string, windowsPerChunk int) [][]string {
	var chunks [][]string
	var cur []string
	windows, last := 0, ""
	for _, o := range objects {
		w := o[:strings.LastIndex(o, "/")]
		if w != last {
			if windows == windowsPerChunk {
				chunks = append(chunks, cur)
				cur, windows = nil, 0
			}
			windows++
			last = w
		}
		cur = append(cur, o)
	}
	if len(cur) > 0 {
		chunks = append(chunks, cur)
	}
	return chunks
}

// processAndLand processes chunks of raw objects into load files, stages
// them, applies the volume gate and promotes.
func processAndLand(ctx context.Context, cfg Config, opts Options, b *backends, sum *Summary, chunks [][]string, volumeGate bool) error {
	staging := stagingDir(cfg, sum.RunID)
	defer func() {
		// A held batch keeps its load files until an operator promotes it;
		// any other run's are promoted or of no use to a rerun.
		if sum.Outcome == warehouse.OutcomeHeld {
			return
		}
		if err := removeStaging(context.WithoutCancel(ctx), staging); err != nil {
			opts.Logger.Warn("load files left in staging", logKeyRun, sum.RunID, "error", err)
		}
	}()
	objects := 0
	for _, c := range chunks {
		objects += len(c)
	}
	startAccount(sum, objects)
	t0 := opts.Now()
	files, err := processChunks(ctx, cfg, opts, sum, staging, chunks, t0)
	if err != nil {
		return err
	}
	opts.Logger.Info("phase finished", logKeyPhase, "process", logKeyTook, opts.Now().Sub(t0), logKeyRun, sum.RunID)
	return landFiles(ctx, cfg, opts, b, sum, files, volumeGate)
}

// landFiles stages the load files of a run, applies the volume gate and
// promotes. Every step is idempotent (Stage replaces the run's staged
// rows, promoting twice changes nothing), so it may run again.
func landFiles(ctx context.Context, cfg Config, opts Options, b *backends, sum *Summary, files []StagedFile, volumeGate bool) error {
	t0 := opts.Now()
	defer func() {
		opts.Logger.Info("phase finished", logKeyPhase, "land", logKeyTook, opts.Now().Sub(t0), logKeyRun, sum.RunID)
	}()
	batch := warehouse.Batch{RunID: sum.RunID}
	for _, f := range files {
		if f.Kind == KindValidated {
			batch.ValidatedFiles = append(batch.ValidatedFiles, f.Path)
		} else {
			batch.QuarantineFiles = append(batch.QuarantineFiles, f.Path)
		}
	}
	if len(files) == 0 {
		if err := stagedAccount(opts, sum, warehouse.StageStats{}); err != nil {
			return err
		}
		if err := promotedAccount(ctx, opts, b, sum, warehouse.PromoteStats{}, false); err != nil {
			return err
		}
		sum.Outcome, sum.Detail = warehouse.OutcomePromoted, "no records in the raw zone for these windows"
		needsAttention(sum)
		return nil
	}
	st, err := b.wh.Stage(ctx, batch)
	if err != nil {
		return fmt.Errorf("staging %d load files: %w", len(files), err)
	}
	opts.Logger.Info("staged", logKeyRun, sum.RunID, "validated", st.Validated, "quarantined", st.Quarantined, logKeyTook, opts.Now().Sub(t0))
	sum.Validated, sum.Quarantined = st.Validated, st.Quarantined
	if sum.QuarantinedBy, err = quarantineReasons(ctx, files); err != nil {
		return err
	}
	if err := stagedAccount(opts, sum, st); err != nil {
		return err
	}
	if volumeGate {
		history, err := b.wh.Runs(ctx, cfg.VolumeHistory*4)
		if err != nil {
			return fmt.Errorf("reading run history for the volume gate: %w", err)
		}
		band := gate.VolumeBand{Tolerance: cfg.VolumeBand, MinHistory: cfg.VolumeMinRuns, Lookback: cfg.VolumeHistory}
		cur := warehouse.Run{RunID: sum.RunID, WindowStart: sum.From, WindowEnd: sum.To, Validated: sum.Validated}
		if hold, detail := gate.CheckVolume(band, cur, history); hold {
			if err := promotedAccount(ctx, opts, b, sum, warehouse.PromoteStats{}, true); err != nil {
				return err
			}
			sum.Held, sum.HeldDetail = true, detail
			sum.Outcome = warehouse.OutcomeHeld
			sum.Detail = detail + fmt.Sprintf("; staged, not promoted: check the batch, then `settle promote --run-id %s`", sum.RunID)
			return nil
		}
	}
	tp := opts.Now()
	ps, err := b.promote(ctx, sum.RunID)
	opts.Logger.Info("promoted", logKeyRun, sum.RunID, "inserted", ps.Inserted, "updated", ps.Updated,
		"corrected", ps.Corrected, "withdrawn", ps.Withdrawn, "withheld", ps.Withheld, "stale", ps.Stale, logKeyTook, opts.Now().Sub(tp))
	if err != nil && !errors.Is(err, warehouse.ErrNotStaged) {
		return fmt.Errorf("promoting run %s: %w", sum.RunID, err)
	}
	if err := promotedAccount(ctx, opts, b, sum, ps, false); err != nil {
		return err
	}
	sum.Promoted = ps.Promoted()
	sum.Corrected, sum.Withdrawn, sum.Withheld, sum.Stale = ps.Corrected, ps.Withdrawn, ps.Withheld, ps.Stale
	// Versions a newer one from another chunk beat are duplicates too:
	// so the count does not depend on the chunk size.
	sum.Duplicates += ps.Superseded
	sum.Outcome = warehouse.OutcomePromoted
	if ps.Changed() == 0 {
		sum.Detail = noChange(*sum)
	}
	needsAttention(sum)
	return nil
}

// processChunks runs one process pipeline per chunk, cfg.ProcessParallelism
// at a time: each pipeline is bounded in memory, and prism keeps one core
// busy per pipeline at best, so two at once use both cores of a small
// machine.
func processChunks(ctx context.Context, cfg Config, opts Options, sum *Summary, staging string, chunks [][]string, t0 time.Time) ([]StagedFile, error) {
	var mu sync.Mutex
	var files []StagedFile
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(cfg.ProcessParallelism)
	for i, objects := range chunks {
		dir := fmt.Sprintf("%s/chunk-%04d", staging, i)
		// Prism's job server stages a job's artifacts into a map without a
		// lock (Beam 2.77, jobservices/artifact.go): two jobs submitted at
		// once race, and a concurrent map write kills the process. So the
		// next chunk is submitted only once this one is executing (its
		// first DoFn is set up) or has ended; execution overlaps freely.
		started := awaitStart(dir)
		ended := make(chan struct{})
		g.Go(func() error {
			defer close(ended)
			opts.Logger.Info("processing raw zone", logKeyRun, sum.RunID, logKeyChunk, fmt.Sprintf("%d/%d", i+1, len(chunks)), logKeyObjects, len(objects))
			p := ProcessPipeline(cfg, sum.RunID, dir, t0, objects)
			res, err := beam.Run(gctx, cfg.Runner, p)
			if err != nil {
				return fmt.Errorf("processing chunk %d of %d: %w", i+1, len(chunks), err)
			}
			f, err := listStaged(gctx, dir)
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			countsOf(counters(res, "process")).addTo(sum)
			files = append(files, f...)
			return nil
		})
		select {
		case <-started:
		case <-ended:
		case <-gctx.Done():
		}
		forgetStart(dir)
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	return files, nil
}

// noChange says why a run changed no row, claiming only what it saw: the
// raw zone's versions were all in the warehouse, and whether the vendor
// was asked at all.
func noChange(sum Summary) string {
	d := "no row changed: the warehouse already held every version in the raw zone of these windows"
	switch {
	case sum.Kind == KindReplay:
	case sum.Requests == 0:
		d += "; the vendor was not asked: every window was read by an earlier run (`settle refetch --all` reads them again)"
	case sum.PagesLanded == 0:
		d += "; the vendor had no new page"
	}
	return d
}
