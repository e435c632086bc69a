package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/marketplace/settle/pipeline"
)

// commonFlags are the flags every pipeline command shares.
type commonFlags struct {
	dataDir     string
	backend     string
	project     string
	rawBucket   string
	dataset     string
	collection  string
	runner      string
	vendorURL   string
	source      string
	currencies  string
	chunk       int
	parallel    int
	logFormat   string
	logLevel    string
	rate        float64
	burst       int
	pageSize    int
	concurrency int
	window      time.Duration
	lookback    time.Duration
	budget      time.Duration
	attempts    int
	band        float64
	history     int
	minRuns     int
	quiet       bool
	leaseTTL    time.Duration
	cpuProfile  string
	warehouse   string
}

func addCommon(fs *flag.FlagSet, c *commonFlags) {
	d := pipeline.DefaultConfig("")
	fs.StringVar(&c.dataDir, "data-dir", "./data", "local data directory (raw zone, cursors, staging, warehouse.duckdb) for --backend=local")
	fs.StringVar(&c.backend, "backend", "local", "local (files + DuckDB) or gcp (GCS + Firestore + BigQuery; emulators via FIRESTORE_EMULATOR_HOST, STORAGE_EMULATOR_HOST, BIGQUERY_EMULATOR_HOST)")
	fs.StringVar(&c.project, "project", "", "Google Cloud project (--backend=gcp)")
	fs.StringVar(&c.rawBucket, "raw-bucket", "", "GCS bucket of the raw zone and staging files (--backend=gcp)")
	fs.StringVar(&c.dataset, "dataset", "settlements", "BigQuery dataset (--backend=gcp)")
	fs.StringVar(&c.collection, "firestore-collection", "settle-cursors", "Firestore collection of the cursor store (--backend=gcp)")
	fs.StringVar(&c.runner, "runner", d.Runner, "Beam runner: prism (local) or dataflow")
	fs.StringVar(&c.vendorURL, "vendor-url", "", "vendor API base URL, e.g. https://api.vendor.example")
	fs.StringVar(&c.source, "source", d.Source, "stream name used in cursor keys and raw object names")
	fs.StringVar(&c.currencies, "currencies", strings.Join(d.AllowedCurrencies, ","), "allowed currency codes")
	fs.IntVar(&c.chunk, "chunk-windows", d.ChunkWindows, "windows processed per pipeline run (bounds memory on prism)")
	fs.IntVar(&c.parallel, "process-parallelism", d.ProcessParallelism, "process pipelines run at once (each holds one chunk in memory)")
	fs.StringVar(&c.logFormat, "log-format", "text", "text or json")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.Float64Var(&c.rate, "rate", d.Rate, "vendor requests per second for the whole job")
	fs.IntVar(&c.burst, "burst", d.Burst, "vendor request burst")
	fs.IntVar(&c.pageSize, "page-size", d.PageSize, "records per page, 1..500")
	fs.IntVar(&c.concurrency, "concurrency", d.Concurrency, "window chains fetched at once per process")
	fs.DurationVar(&c.window, "window", d.Window, "window size (at most 24h)")
	fs.DurationVar(&c.lookback, "lookback", d.Lookback, "without --from, start this long before the watermark (late records)")
	fs.DurationVar(&c.budget, "retry-budget", d.RetryBudget, "time a page may keep failing before it is dead-lettered")
	fs.IntVar(&c.attempts, "max-attempts", d.MaxAttempts, "attempts a page may take before it is dead-lettered")
	fs.Float64Var(&c.band, "volume-band", d.VolumeBand, "hold the batch when validated rows per hour differ from the trailing average by more than this ratio")
	fs.IntVar(&c.history, "volume-history", d.VolumeHistory, "earlier runs averaged by the volume gate")
	fs.IntVar(&c.minRuns, "volume-min-runs", d.VolumeMinRuns, "earlier runs needed before the volume gate can hold (warm-up)")
	fs.BoolVar(&c.quiet, "quiet", false, "no progress lines")
	fs.StringVar(&c.warehouse, "warehouse", "", "warehouse URI overriding the backend's (e.g. duckdb:///data/warehouse.duckdb?memory_limit=2GB)")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of the command to this file (performance work)")
	fs.DurationVar(&c.leaseTTL, "lease-ttl", d.LeaseTTL, "run lease time to live, renewed every third of it; a run that crashed on another host blocks the next one at most this long (one on this host not at all)")
}

// config builds the pipeline configuration from the flags.
func (c *commonFlags) config() (pipeline.Config, error) {
	cfg := pipeline.DefaultConfig(c.dataDir)
	switch c.backend {
	case "local":
	case "gcp":
		if c.project == "" || c.rawBucket == "" {
			return cfg, fmt.Errorf("--backend=gcp needs --project and --raw-bucket: %w", errUsage)
		}
		cfg.RawZone = "gs://" + c.rawBucket + "/raw"
		cfg.Staging = "gs://" + c.rawBucket + "/staging"
		cfg.CursorStore = "firestore://" + c.project + "/" + c.collection
		cfg.Warehouse = "bigquery://" + c.project + "/" + c.dataset
	default:
		return cfg, fmt.Errorf("--backend %q: want local or gcp: %w", c.backend, errUsage)
	}
	if c.warehouse != "" {
		cfg.Warehouse = c.warehouse
	}
	cfg.Runner = c.runner
	cfg.VendorURL = c.vendorURL
	cfg.Source = c.source
	cfg.AllowedCurrencies = pipeline.ParseCurrencies(c.currencies)
	cfg.ChunkWindows = c.chunk
	cfg.ProcessParallelism = c.parallel
	cfg.Rate, cfg.Burst = c.rate, c.burst
	cfg.PageSize = c.pageSize
	cfg.Concurrency = c.concurrency
	cfg.Window = c.window
	cfg.Lookback = c.lookback
	cfg.RetryBudget, cfg.MaxAttempts = c.budget, c.attempts
	cfg.VolumeBand, cfg.VolumeHistory, cfg.VolumeMinRuns = c.band, c.history, c.minRuns
	cfg.LeaseTTL = c.leaseTTL
	return cfg, nil
}

func (c *commonFlags) logger() *slog.Logger {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.logLevel)); err != nil {
		lvl = slog.LevelInfo
	}
	o := &slog.HandlerOptions{Level: lvl}
	var h slog.Handler = slog.NewTextHandler(os.Stderr, o)
	if c.logFormat == "json" {
		h = slog.NewJSONHandler(os.Stderr, o)
	}
	l := slog.New(h)
	// Beam and prism log through the default logger at Info about every
	// job they start; keep those to warnings unless debugging.
	libLevel := max(lvl, slog.LevelWarn)
	if lvl <= slog.LevelDebug {
		libLevel = lvl
	}
	lo := &slog.HandlerOptions{Level: libLevel}
	if c.logFormat == "json" {
		slog.SetDefault(slog.New(slog.NewJSONHandler(os.Stderr, lo)))
	} else {
		slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, lo)))
	}
	return l
}

// profile starts the CPU profile if asked; the returned stop ends it.
func (c *commonFlags) profile() (stop func(), err error) {
	if c.cpuProfile == "" {
		return func() {}, nil
	}
	f, err := os.Create(c.cpuProfile)
	if err != nil {
		return nil, fmt.Errorf("creating cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting cpu profile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

func (c *commonFlags) progress() io.Writer {
	if c.quiet {
		return nil
	}
	return os.Stderr
}

// timeFlag is an RFC 3339 time flag.
type timeFlag struct{ t *time.Time }

func (f timeFlag) String() string {
	if f.t == nil || f.t.IsZero() {
		return ""
	}
	return f.t.Format(time.RFC3339)
}

func (f timeFlag) Set(s string) error {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("want RFC 3339, e.g. 2026-11-25T00:00:00Z: %w", err)
	}
	*f.t = t.UTC()
	return nil
}

// parse parses args; -h prints usage and returns errHelp.
func parse(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(os.Stderr)
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q: %w", fs.Args(), errUsage)
	}
	return nil
}
