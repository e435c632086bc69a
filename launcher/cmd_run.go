package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/marketplace/settle/pipeline"
	"github.com/marketplace/settle/testing/vendorsim"
)

// runFlags are the flags of `settle run` (and `settle launch`).
type runFlags struct {
	backend    backendFlags
	vendor     vendorFlags
	processing processingFlags
	dataflow   dataflowFlags
	output     outputFlags
	sim        simFlags
	from, to   time.Time
}

// newRunFlagSet returns the FlagSet of `settle run`: the vendor, back end,
// processing, Dataflow, simulator and output flags and the window bounds.
func newRunFlagSet() (*flagSet, *runFlags) {
	fs := newFlagSet("run", "[--from T --to T] [flags]", "Ingest, process and promote a range of windows (default: since the watermark).")
	r := &runFlags{}
	fs.Var(timeFlag{&r.from}, "from", "first window start, RFC 3339 (default: the watermark minus --lookback)")
	fs.Var(timeFlag{&r.to}, "to", "end of the last window, RFC 3339 (default: now minus the vendor's 10 min visibility lag)")
	addVendorFlags(fs, &r.vendor)
	addBackendFlags(fs, &r.backend)
	addLeaseFlags(fs, &r.backend)
	addProcessingFlags(fs, &r.processing)
	addDataflowFlags(fs, &r.dataflow)
	addSim(fs, &r.sim)
	addOutputFlags(fs, &r.output)
	return fs, r
}

// config builds the run's configuration from its flags.
func (r *runFlags) config() (pipeline.Config, error) {
	return r.backend.config(&r.vendor, &r.processing, &r.dataflow, &r.output)
}

// simFlags start an in-process vendor simulator for `settle run --simulate`.
type simFlags struct {
	on      bool
	records int
	seed    int64
	faults  string
	meta    int
	truth   string
}

func addSim(fs *flagSet, s *simFlags) {
	fs.group(sectionSimulator, func(fs *flag.FlagSet) {
		fs.BoolVar(&s.on, "simulate", false, "serve the vendor simulator in-process and read from it (the embedded default of `make run`)")
		fs.IntVar(&s.records, "sim-records", 20000, "simulator: distinct settlements over [--from, --to)")
		fs.Int64Var(&s.seed, "sim-seed", 1, "simulator: seed of data and faults")
		fs.StringVar(&s.faults, "sim-faults", "default", "simulator: fault spec (default, none, all, or key=value,...)")
		fs.IntVar(&s.meta, "sim-metadata-bytes", 0, "simulator: metadata bytes per record (about 1300 makes the production 1.7 KB)")
		fs.StringVar(&s.truth, "sim-truth", "", "simulator: write the ground truth (NDJSON) to this `file`")
	})
}

func cmdRun(ctx context.Context, args []string) int {
	fs, r := newRunFlagSet()
	var metricsFile string
	addMetricsFileFlag(fs, &metricsFile)
	if err := parse(fs, args); err != nil {
		return fail("run", err)
	}
	if err := checkRange(r.from, r.to); err != nil {
		return fail("run", err)
	}
	s, from, to := r.sim, r.from, r.to
	cfg, err := r.config()
	if err != nil {
		return fail("run", err)
	}
	cfg.From, cfg.To = from, to
	log := r.output.logger()
	if done, err := useDataflow(ctx, r.dataflow, r.backend.project, &cfg, dryRunSpec{Kind: pipeline.KindRun}); err != nil || done {
		if err != nil {
			return fail("run", err)
		}
		return exitOK
	}
	if cfg.Source == pipeline.WebhookSource {
		// Pushed events: nothing to fetch, process what landed since the
		// last webhook run (see pipeline.RunWebhook).
		sum, err := pipeline.RunWebhook(ctx, cfg, pipeline.Options{Logger: log, Progress: r.output.progress()})
		writeMetricsFile(metricsFile, cfg.Source, sum, err)
		return report("run", sum, err)
	}
	if s.on {
		if from.IsZero() || to.IsZero() {
			return fail("run", usageErr("--simulate needs --from and --to (the simulated data's span)"))
		}
		url, stop, err := startSim(s, from, to)
		if err != nil {
			return fail("run", err)
		}
		defer stop()
		cfg.VendorURL = url
		log.Info("vendor simulator serving", "url", url, "records", s.records, "seed", s.seed, "faults", s.faults)
	}
	if cfg.VendorURL == "" {
		return fail("run", usageErr("--vendor-url is required (or --simulate)"))
	}
	stopProfile, err := r.output.profile()
	if err != nil {
		return fail("run", err)
	}
	defer stopProfile()
	if err := pipeline.Preflight(ctx, cfg, time.Now()); err != nil {
		return fail("run", err)
	}
	sum, err := pipeline.Run(ctx, cfg, pipeline.Options{Logger: log, Progress: r.output.progress()})
	writeMetricsFile(metricsFile, cfg.Source, sum, err)
	return report("run", sum, err)
}

// startSim serves a simulator on a loopback port with a token of its own,
// exported in VENDOR_API_TOKEN for the run (unless one is set already).
func startSim(s simFlags, from, to time.Time) (url string, stop func(), err error) {
	faults, err := vendorsim.ParseFaults(s.faults)
	if err != nil {
		return "", nil, usageErr("--sim-faults: %v", err)
	}
	token := os.Getenv(pipeline.DefaultTokenEnv)
	if token == "" {
		var b [16]byte
		_, _ = rand.Read(b[:])
		token = "sim_" + hex.EncodeToString(b[:])
		os.Setenv(pipeline.DefaultTokenEnv, token)
	}
	sim, url, err := vendorsim.Start(vendorsim.Config{
		Seed: s.seed, Records: s.records, From: from, To: to, Token: token,
		Faults: faults, MetadataBytes: s.meta,
	})
	if err != nil {
		return "", nil, fmt.Errorf("starting vendor simulator: %w", err)
	}
	if s.truth != "" {
		if err := writeTruth(sim, s.truth); err != nil {
			sim.Close()
			return "", nil, err
		}
	}
	return url, func() { sim.Close() }, nil
}

func writeTruth(sim *vendorsim.Sim, p string) error {
	f, err := os.Create(p)
	if err != nil {
		return fmt.Errorf("creating truth file: %w", err)
	}
	if err := sim.WriteTruth(f); err != nil {
		f.Close()
		return fmt.Errorf("writing truth file %s: %w", p, err)
	}
	return f.Close()
}
