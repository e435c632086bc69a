package main

// Flags of the commands, in groups.
//
// A command builds its flags with newFlagSet and takes only the groups it
// uses; its usage lists them section by section:
//
//	fs := newFlagSet("status", "[flags]", "print the state of the windows")
//	var b backendFlags
//	var o outputFlags
//	addBackendFlags(fs, &b)  // --data-dir, --backend, --project, ...
//	addLogFlags(fs, &o)      // --log-format, --log-level
//	fs.IntVar(&n, "n", 20, "...") // the command's own flags: section "flags"
//	if err := parse(fs, args); err != nil {
//		return fail("status", err) // -h: usage on stdout, exit 0; mistakes: one line, 64
//	}
//	cfg, err := b.config(&o) // or b.config(&v, &p, &o): each group fills its part
//
// The groups:
//
//	addBackendFlags    back end: data-dir, backend, project, raw-bucket, dataset,
//	                   firestore-collection, warehouse, source
//	addLeaseFlags      back end: lease-ttl (commands that take the run lease)
//	addVendorFlags     vendor: vendor-url, rate, burst, page-size, concurrency,
//	                   window, lookback, retry-budget, max-attempts
//	addProcessingFlags processing: currencies, chunk-windows,
//	                   process-parallelism, volume-band, volume-history, volume-min-runs
//	addDataflow        Dataflow: runner and the Dataflow job options (dataflow.go)
//	addLogFlags        output: log-format, log-level
//	addOutputFlags     output: the log flags, quiet, cpuprofile
//
// Every group validates its values (config returns one error, wrapping
// errUsage, that names the flag), so a usage mistake exits 64 with one line.

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/marketplace/settle/pipeline"
)

// Section titles, in the order usage prints them.
const (
	sectionCommand    = "flags"
	sectionVendor     = "vendor"
	sectionBackend    = "back end"
	sectionProcessing = "processing"
	sectionDataflow   = "Dataflow"
	sectionSimulator  = "simulator"
	sectionOutput     = "output"
)

var sectionOrder = []string{sectionCommand, sectionVendor, sectionBackend, sectionProcessing, sectionDataflow, sectionSimulator, sectionOutput}

// flagSet is a command's flags, each in a titled section of its usage.
// Flags declared on it directly (fs.IntVar, ...) are the command's own.
type flagSet struct {
	*flag.FlagSet
	cmd      string
	synopsis string // arguments after the command name, e.g. "--from T --to T [flags]"
	about    string // what the command does, one sentence
	section  map[string]string
}

// newFlagSet returns the empty flag set of `settle <cmd>`.
func newFlagSet(cmd, synopsis, about string) *flagSet {
	fs := &flagSet{FlagSet: flag.NewFlagSet("settle "+cmd, flag.ContinueOnError), cmd: cmd, synopsis: synopsis, about: about, section: map[string]string{}}
	fs.SetOutput(io.Discard) // parse reports mistakes in one line of its own
	fs.Usage = func() {}
	return fs
}

// group declares, with add, flags listed under the section title.
func (fs *flagSet) group(title string, add func(*flag.FlagSet)) {
	before := map[string]bool{}
	fs.VisitAll(func(f *flag.Flag) { before[f.Name] = true })
	add(fs.FlagSet)
	fs.VisitAll(func(f *flag.Flag) {
		if !before[f.Name] {
			fs.section[f.Name] = title
		}
	})
}

// printUsage writes the command's usage, its flags by section.
func (fs *flagSet) printUsage(w io.Writer) {
	fmt.Fprintf(w, "Usage: settle %s %s\n\n%s\n", fs.cmd, fs.synopsis, fs.about)
	bySection := map[string][]*flag.Flag{}
	fs.VisitAll(func(f *flag.Flag) {
		s := fs.section[f.Name]
		if s == "" {
			s = sectionCommand
		}
		bySection[s] = append(bySection[s], f)
	})
	for _, s := range sectionOrder {
		if len(bySection[s]) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s%s:\n", strings.ToUpper(s[:1]), s[1:])
		for _, f := range bySection[s] {
			name, help := flag.UnquoteUsage(f)
			switch v := f.Value.(type) {
			case enumFlag:
				name = strings.Join(v.allowed, "|")
			case timeFlag:
				name = "time"
			}
			line := "  --" + f.Name
			if len(f.Name) == 1 {
				line = "  -" + f.Name
			}
			if name != "" {
				line += " " + name
			}
			def := ""
			if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
				def = fmt.Sprintf(" (default %s)", f.DefValue)
			}
			fmt.Fprintf(w, "%s\n      %s%s\n", line, help, def)
		}
	}
}

// errHelp is returned by parse after -h printed the usage: exit 0.
var errHelp = errors.New("help printed")

// parse parses args. -h or --help prints the usage on stdout and returns
// errHelp. A mistake returns one line naming the flag, wrapping errUsage.
func parse(fs *flagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.printUsage(os.Stdout)
			return errHelp
		}
		return fmt.Errorf("%s (see settle %s -h): %w", fs.explain(err), fs.cmd, errUsage)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q: settle %s takes flags only (see settle %s -h): %w", fs.Arg(0), fs.cmd, fs.cmd, errUsage)
	}
	return nil
}

var (
	unknownFlagRE = regexp.MustCompile(`^flag provided but not defined: -+(.*)$`)
	needsArgRE    = regexp.MustCompile(`^flag needs an argument: -+(.*)$`)
	invalidRE     = regexp.MustCompile(`^invalid (?:boolean )?value "(.*)" for flag -+([^:]*): (.*)$`)
)

// explain turns the flag package's error into one line naming the flag.
func (fs *flagSet) explain(err error) string {
	msg := err.Error()
	if m := unknownFlagRE.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("unknown flag --%s", m[1])
	}
	if m := needsArgRE.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("--%s needs a value: %s", m[1], fs.want(m[1], ""))
	}
	if m := invalidRE.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("--%s=%s: %s", m[2], m[1], fs.want(m[2], m[3]))
	}
	return msg
}

// want says what the flag name expects; cause is the Value's own error.
func (fs *flagSet) want(name, cause string) string {
	f := fs.Lookup(name)
	if f == nil {
		return cause
	}
	switch t := fmt.Sprintf("%T", f.Value); t {
	case "*flag.float64Value":
		return "want a number"
	case "*flag.intValue", "*flag.int64Value", "*flag.uintValue", "*flag.uint64Value":
		return "want a whole number"
	case "*flag.durationValue":
		return "want a duration such as 90s, 5m or 1h"
	case "*flag.boolValue":
		return "want true or false"
	}
	if cause == "" || cause == "parse error" {
		if _, usage := flag.UnquoteUsage(f); usage != "" {
			return "want " + usage
		}
	}
	return cause
}

// usageErr returns a usage mistake: exit 64, one line.
func usageErr(format string, a ...any) error {
	return fmt.Errorf(format+": %w", append(a, errUsage)...)
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
		return errors.New("want an RFC 3339 time such as 2026-11-25T00:00:00Z")
	}
	*f.t = t.UTC()
	return nil
}

// checkRange refuses --from not before --to, when both are set.
func checkRange(from, to time.Time) error {
	if !from.IsZero() && !to.IsZero() && !from.Before(to) {
		return usageErr("--from=%s is not before --to=%s: want from < to", from.Format(time.RFC3339Nano), to.Format(time.RFC3339Nano))
	}
	return nil
}

// enumFlag is a string flag with a fixed set of values.
type enumFlag struct {
	p       *string
	allowed []string
}

func newEnum(p *string, def string, allowed ...string) enumFlag {
	*p = def
	return enumFlag{p: p, allowed: allowed}
}

func (f enumFlag) String() string {
	if f.p == nil {
		return ""
	}
	return *f.p
}

func (f enumFlag) Set(s string) error {
	for _, a := range f.allowed {
		if s == a {
			*f.p = s
			return nil
		}
	}
	return fmt.Errorf("want %s", orList(f.allowed))
}

func orList(s []string) string {
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// configurer is a flag group that fills its part of the configuration.
type configurer interface {
	apply(cfg *pipeline.Config) error
}

// backendFlags say where the state is: raw zone, cursor store, warehouse.
type backendFlags struct {
	dataDir    string
	backend    string
	project    string
	rawBucket  string
	dataset    string
	collection string
	warehouse  string
	source     string
	leaseTTL   time.Duration
}

func addBackendFlags(fs *flagSet, b *backendFlags) {
	d := pipeline.DefaultConfig("")
	fs.group(sectionBackend, func(fs *flag.FlagSet) {
		fs.StringVar(&b.dataDir, "data-dir", "./data", "local data `directory` (raw zone, cursors, staging, warehouse.duckdb) for --backend=local")
		fs.Var(newEnum(&b.backend, "local", "local", "gcp"), "backend", "local (files + DuckDB) or gcp (GCS + Firestore + BigQuery; emulators via FIRESTORE_EMULATOR_HOST, STORAGE_EMULATOR_HOST, BIGQUERY_EMULATOR_HOST)")
		fs.StringVar(&b.project, "project", "", "Google Cloud project (--backend=gcp)")
		fs.StringVar(&b.rawBucket, "raw-bucket", "", "GCS `bucket` of the raw zone and staging files (--backend=gcp)")
		fs.StringVar(&b.dataset, "dataset", "settlements", "BigQuery dataset (--backend=gcp)")
		fs.StringVar(&b.collection, "firestore-collection", "settle-cursors", "Firestore collection of the cursor store (--backend=gcp)")
		fs.StringVar(&b.warehouse, "warehouse", "", "warehouse `URI` overriding the backend's (e.g. duckdb:///data/warehouse.duckdb?memory_limit=2GB)")
		fs.StringVar(&b.source, "source", d.Source, "stream `name` used in cursor keys and raw object names")
	})
	b.leaseTTL = d.LeaseTTL
}

// addLeaseFlags declares --lease-ttl, for the commands that take the run lease.
func addLeaseFlags(fs *flagSet, b *backendFlags) {
	fs.group(sectionBackend, func(fs *flag.FlagSet) {
		fs.DurationVar(&b.leaseTTL, "lease-ttl", b.leaseTTL, "run lease time to live, renewed every third of it; a run that crashed on another host blocks the next one at most this long (one on this host not at all)")
	})
}

// config builds the pipeline configuration from the back end flags and
// the groups given, each validated.
func (b *backendFlags) config(groups ...configurer) (pipeline.Config, error) {
	cfg := pipeline.DefaultConfig(b.dataDir)
	switch b.backend {
	case "local":
		if b.dataDir == "" {
			return cfg, usageErr("--data-dir is empty: want a directory")
		}
	case "gcp":
		if b.project == "" || b.rawBucket == "" {
			return cfg, usageErr("--backend=gcp needs --project and --raw-bucket")
		}
		cfg.RawZone = "gs://" + b.rawBucket + "/raw"
		cfg.Staging = "gs://" + b.rawBucket + "/staging"
		cfg.CursorStore = "firestore://" + b.project + "/" + b.collection
		cfg.Warehouse = "bigquery://" + b.project + "/" + b.dataset
	default:
		return cfg, usageErr("--backend=%s: want local or gcp", b.backend)
	}
	if b.warehouse != "" {
		if !strings.Contains(b.warehouse, "://") {
			return cfg, usageErr("--warehouse=%s: want a URI such as duckdb:///path/warehouse.duckdb or bigquery://project/dataset", b.warehouse)
		}
		cfg.Warehouse = b.warehouse
	}
	if b.source == "" || strings.ContainsAny(b.source, "/ ") {
		return cfg, usageErr("--source=%q: want a non-empty name without '/' or spaces", b.source)
	}
	cfg.Source = b.source
	if b.leaseTTL < time.Second {
		return cfg, usageErr("--lease-ttl=%v: want at least 1s", b.leaseTTL)
	}
	cfg.LeaseTTL = b.leaseTTL
	for _, g := range groups {
		if err := g.apply(&cfg); err != nil {
			return cfg, err
		}
	}
	return cfg, nil
}

// vendorFlags say how to read the vendor.
type vendorFlags struct {
	vendorURL   string
	rate        float64
	burst       int
	pageSize    int
	concurrency int
	window      time.Duration
	lookback    time.Duration
	budget      time.Duration
	attempts    int
}

func addVendorFlags(fs *flagSet, v *vendorFlags) {
	d := pipeline.DefaultConfig("")
	fs.group(sectionVendor, func(fs *flag.FlagSet) {
		fs.StringVar(&v.vendorURL, "vendor-url", "", "vendor API base `URL`, e.g. https://api.vendor.example")
		fs.Float64Var(&v.rate, "rate", d.Rate, "vendor requests per second for the whole job")
		fs.IntVar(&v.burst, "burst", d.Burst, "vendor request burst")
		fs.IntVar(&v.pageSize, "page-size", d.PageSize, "records per page, 1..500")
		fs.IntVar(&v.concurrency, "concurrency", d.Concurrency, "window chains fetched at once per process")
		fs.DurationVar(&v.window, "window", d.Window, "window size (at most 24h)")
		fs.DurationVar(&v.lookback, "lookback", d.Lookback, "without --from, start this long before the watermark (late records)")
		fs.DurationVar(&v.budget, "retry-budget", d.RetryBudget, "time a page may keep failing before it is dead-lettered")
		fs.IntVar(&v.attempts, "max-attempts", d.MaxAttempts, "attempts a page may take before it is dead-lettered")
	})
}

func (v *vendorFlags) apply(cfg *pipeline.Config) error {
	switch {
	case v.vendorURL != "" && !validURL(v.vendorURL):
		return usageErr("--vendor-url=%s: want http(s)://host[:port]", v.vendorURL)
	case !(v.rate > 0):
		return usageErr("--rate=%v: want more than 0 requests per second", v.rate)
	case v.burst < 1:
		return usageErr("--burst=%d: want at least 1", v.burst)
	case v.pageSize < 1 || v.pageSize > 500:
		return usageErr("--page-size=%d: want 1..500 (the vendor's limit)", v.pageSize)
	case v.concurrency < 1:
		return usageErr("--concurrency=%d: want at least 1", v.concurrency)
	case v.window <= 0 || v.window > 24*time.Hour:
		return usageErr("--window=%v: want more than 0 and at most 24h (the vendor's limit)", v.window)
	case v.lookback < 0:
		return usageErr("--lookback=%v: want 0 or more", v.lookback)
	case v.budget <= 0:
		return usageErr("--retry-budget=%v: want more than 0", v.budget)
	case v.attempts < 1:
		return usageErr("--max-attempts=%d: want at least 1", v.attempts)
	}
	cfg.VendorURL = v.vendorURL
	cfg.Rate, cfg.Burst = v.rate, v.burst
	cfg.PageSize = v.pageSize
	cfg.Concurrency = v.concurrency
	cfg.Window = v.window
	cfg.Lookback = v.lookback
	cfg.RetryBudget, cfg.MaxAttempts = v.budget, v.attempts
	return nil
}

func validURL(s string) bool {
	scheme, rest, ok := strings.Cut(s, "://")
	return ok && (scheme == "http" || scheme == "https") && rest != "" && !strings.HasPrefix(rest, "/")
}

// processingFlags say how the raw zone is processed and gated.
type processingFlags struct {
	currencies string
	chunk      int
	parallel   int
	band       float64
	history    int
	minRuns    int
}

func addProcessingFlags(fs *flagSet, p *processingFlags) {
	d := pipeline.DefaultConfig("")
	fs.group(sectionProcessing, func(fs *flag.FlagSet) {
		fs.StringVar(&p.currencies, "currencies", strings.Join(d.AllowedCurrencies, ","), "allowed currency `codes`, comma separated")
		fs.IntVar(&p.chunk, "chunk-windows", d.ChunkWindows, "windows processed per pipeline run (bounds memory on prism)")
		fs.IntVar(&p.parallel, "process-parallelism", d.ProcessParallelism, "process pipelines run at once (each holds one chunk in memory)")
		fs.Float64Var(&p.band, "volume-band", d.VolumeBand, "hold the batch when validated rows per hour differ from the trailing average by more than this ratio")
		fs.IntVar(&p.history, "volume-history", d.VolumeHistory, "earlier runs averaged by the volume gate")
		fs.IntVar(&p.minRuns, "volume-min-runs", d.VolumeMinRuns, "earlier runs needed before the volume gate can hold (warm-up)")
	})
}

func (p *processingFlags) apply(cfg *pipeline.Config) error {
	cur := pipeline.ParseCurrencies(p.currencies)
	if len(cur) == 0 {
		return usageErr("--currencies=%q: want 3-letter codes, comma separated, e.g. USD,EUR", p.currencies)
	}
	for _, c := range cur {
		if len(c) != 3 || strings.ToUpper(c) != c {
			return usageErr("--currencies: %q: want a 3-letter upper-case ISO 4217 code", c)
		}
	}
	switch {
	case p.chunk < 1:
		return usageErr("--chunk-windows=%d: want at least 1", p.chunk)
	case p.parallel < 1:
		return usageErr("--process-parallelism=%d: want at least 1", p.parallel)
	case !(p.band > 0):
		return usageErr("--volume-band=%v: want a ratio more than 0, e.g. 0.5", p.band)
	case p.history < 1:
		return usageErr("--volume-history=%d: want at least 1", p.history)
	case p.minRuns < 0:
		return usageErr("--volume-min-runs=%d: want 0 or more", p.minRuns)
	}
	cfg.AllowedCurrencies = cur
	cfg.ChunkWindows = p.chunk
	cfg.ProcessParallelism = p.parallel
	cfg.VolumeBand, cfg.VolumeHistory, cfg.VolumeMinRuns = p.band, p.history, p.minRuns
	return nil
}

// outputFlags say what the command writes besides its result.
type outputFlags struct {
	logFormat  string
	logLevel   string
	quiet      bool
	cpuProfile string
}

// addLogFlags declares --log-format and --log-level.
func addLogFlags(fs *flagSet, o *outputFlags) {
	fs.group(sectionOutput, func(fs *flag.FlagSet) {
		fs.Var(newEnum(&o.logFormat, "text", "text", "json"), "log-format", "text or json")
		fs.Var(newEnum(&o.logLevel, "info", "debug", "info", "warn", "error"), "log-level", "debug, info, warn or error")
	})
}

// addOutputFlags declares the log flags, --quiet and --cpuprofile.
func addOutputFlags(fs *flagSet, o *outputFlags) {
	addLogFlags(fs, o)
	fs.group(sectionOutput, func(fs *flag.FlagSet) {
		fs.BoolVar(&o.quiet, "quiet", false, "no progress lines")
		fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the command to this `file` (performance work)")
	})
}

func (o *outputFlags) apply(*pipeline.Config) error { return nil }

func (o *outputFlags) logger() *slog.Logger {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(o.logLevel)); err != nil {
		lvl = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lvl}
	var h slog.Handler = slog.NewTextHandler(os.Stderr, opts)
	if o.logFormat == "json" {
		h = slog.NewJSONHandler(os.Stderr, opts)
	}
	l := slog.New(h)
	// Beam and prism log through the default logger at Info about every
	// job they start; keep those to warnings unless debugging.
	libLevel := max(lvl, slog.LevelWarn)
	if lvl <= slog.LevelDebug {
		libLevel = lvl
	}
	lo := &slog.HandlerOptions{Level: libLevel}
	if o.logFormat == "json" {
		slog.SetDefault(slog.New(demoteRunnerErrors{slog.NewJSONHandler(os.Stderr, lo)}))
	} else {
		slog.SetDefault(slog.New(demoteRunnerErrors{slog.NewTextHandler(os.Stderr, lo)}))
	}
	return l
}

// profile starts the CPU profile if asked; the returned stop ends it.
func (o *outputFlags) profile() (stop func(), err error) {
	if o.cpuProfile == "" {
		return func() {}, nil
	}
	f, err := os.Create(o.cpuProfile)
	if err != nil {
		return nil, fmt.Errorf("creating cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting cpu profile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

func (o *outputFlags) progress() io.Writer {
	if o.quiet {
		return nil
	}
	return os.Stderr
}

// opts returns the pipeline options of these output flags.
func (o *outputFlags) opts() pipeline.Options {
	return pipeline.Options{Logger: o.logger(), Progress: o.progress()}
}
