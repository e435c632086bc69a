package main

// Running on Dataflow.
//
// Two ways, one code path for the run itself (pipeline.Run):
//
//   - `settle run --runner=dataflow ...` on any machine: the run's
//     orchestration (lease, range, ingest, process, stage, promote,
//     watermark, ledger) happens here, and its Beam pipelines (the ingest
//     job and one process job per chunk) are submitted to Dataflow one after
//     the other and waited for. They carry the fixed --job-name
//     (settle-<source>), so Dataflow refuses an overlapping one.
//
//   - `settle launch ...`, which is what the Flex Template runs: a Flex
//     Template launches exactly one job, and its launcher VM must exit soon
//     after writing it, so it cannot orchestrate a run of several jobs. So
//     launch writes (or, outside a template, submits) a one-element driver
//     job, settle-<source>-driver, whose only DoFn (driveRunFn) runs
//     pipeline.Run on its Dataflow worker, submitting the ingest and process
//     jobs as above. The driver job lives as long as the run, so the
//     scheduler's next launch with the same name is refused while it runs;
//     it fails when the run fails (after Dataflow's bundle retries, each a
//     safe rerun), and it logs one `settle_run_report` line per run, which
//     the alert policies (launcher/deploy/terraform/monitoring.tf) read.
//
// On Dataflow every job's workers start this same binary with --worker
// flags (workerMode): main must then parse the global flags and hand over to
// the Beam harness.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	beamlog "github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/options/gcpopts"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/dataflow"

	"github.com/marketplace/settle/io/cursorstore"
	"github.com/marketplace/settle/io/vendorapi"
	"github.com/marketplace/settle/pipeline"
)

func init() {
	register.DoFn2x1[context.Context, []byte, error](&driveRunFn{})
	// The harness flags of the process that submits the inner jobs from a
	// driver worker are not pipeline options of those jobs.
	for _, name := range []string{"worker", "id", "logging_endpoint", "control_endpoint", "semi_persist_dir", "options", "dry_run"} {
		dataflow.DontUseFlagAsPipelineOption(name)
	}
}

// Defaults of the Dataflow flags.
const (
	// defaultMaxWorkers bounds autoscaling (Dataflow's own default for a
	// batch job is 1000) and so the divisor of the vendor's rate limit.
	defaultMaxWorkers = 4
	jobNamePrefix     = "settle-"
	driverJobSuffix   = "-driver"
	// envCommand names the sub-command when the binary is started with
	// flags only, as the Flex Template launcher does (the Dockerfile sets
	// SETTLE_COMMAND=launch).
	envCommand = "SETTLE_COMMAND"
	// runReportTag starts the driver's one log line per run; log-based
	// metrics match it.
	runReportTag = "settle_run_report"
)

// Dataflow's own flags, set on flag.CommandLine for the Beam runner.
const (
	beamProject        = "project"
	beamRegion         = "region"
	beamStaging        = "staging_location"
	beamTemp           = "temp_location"
	beamMachineType    = "worker_machine_type"
	beamMaxWorkers     = "max_num_workers"
	beamNumWorkers     = "num_workers"
	beamServiceAccount = "service_account_email"
	beamJobName        = "job_name"
	beamWorkerBinary   = "worker_binary"
	beamNetwork        = "network"
	beamSubnetwork     = "subnetwork"
	beamNoPublicIPs    = "no_use_public_ips"
	beamLabels         = "labels"
	beamDryRun         = "dry_run"
	beamTemplate       = "template_location"
	// beamEnvType is Beam's --environment_type: Dataflow runs Go workers in
	// DOCKER containers only, and prism sets LOOPBACK for the whole process
	// when it runs first (tests, a CLI that ran prism before).
	beamEnvType = "environment_type"
)

var (
	jobNameRE        = regexp.MustCompile(`^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$`)
	gcsPathRE        = regexp.MustCompile(`^gs://[a-z0-9][a-z0-9._-]{1,220}[a-z0-9](/.*)?$`)
	serviceAccountRE = regexp.MustCompile(`^[a-z][a-z0-9-]{4,28}[a-z0-9]@[a-z0-9.:-]+\.iam\.gserviceaccount\.com$`)
	notJobNameRE     = regexp.MustCompile(`[^a-z0-9-]+`)
)

// dataflowFlags are the Dataflow options of the pipeline commands. Once
// resolved (settings) they are also the serialised configuration of the
// inner jobs that a driver worker submits.
type dataflowFlags struct {
	Region          string `json:"region"`
	StagingLocation string `json:"staging_location"`
	TempLocation    string `json:"temp_location"`
	MachineType     string `json:"machine_type"`
	MaxWorkers      int    `json:"max_workers"`
	ServiceAccount  string `json:"service_account"`
	JobName         string `json:"job_name"`
	WorkerBinary    string `json:"worker_binary"`
	Network         string `json:"network"`
	Subnetwork      string `json:"subnetwork"`
	NoPublicIPs     bool   `json:"no_public_ips"`
	TokenSecret     string `json:"token_secret"`
	// DriverServiceAccount is the driver job's account when `settle launch`
	// submits it itself; a template launch names it in its environment.
	DriverServiceAccount string `json:"driver_service_account"`
	// NumWorkers is the initial worker count (not a flag: 1 for a driver).
	NumWorkers int  `json:"num_workers"`
	DryRun     bool `json:"-"`
	// Runner is the Beam runner, prism or dataflow (not a job option).
	Runner string `json:"-"`
}

// addDataflowFlags declares --runner and the Dataflow flags on fs.
func addDataflowFlags(fs *flagSet, d *dataflowFlags) {
	fs.group(sectionDataflow, func(fs *flag.FlagSet) { addDataflow(fs, d) })
}

// apply sets the runner (the rest waits for useDataflow).
func (d *dataflowFlags) apply(cfg *pipeline.Config) error {
	cfg.Runner = d.Runner
	return nil
}

func addDataflow(fs *flag.FlagSet, d *dataflowFlags) {
	fs.Var(newEnum(&d.Runner, pipeline.DefaultConfig("").Runner, "prism", "dataflow"), "runner", "Beam runner: prism (local) or dataflow")
	fs.StringVar(&d.Region, "region", "", "Dataflow region, e.g. europe-west1 (--runner=dataflow)")
	fs.StringVar(&d.StagingLocation, "staging-location", "", "gs:// folder where the jobs stage the worker binary and graph (--runner=dataflow)")
	fs.StringVar(&d.TempLocation, "temp-location", "", "gs:// folder for the jobs' temporary files (default: <staging-location>/tmp)")
	fs.StringVar(&d.MachineType, "worker-machine-type", "", "worker machine type, e.g. e2-standard-2 (default: Dataflow's)")
	fs.IntVar(&d.MaxWorkers, "max-workers", defaultMaxWorkers, "worker cap of each job; the vendor's rate limit is divided over the workers that can fetch at once")
	fs.StringVar(&d.ServiceAccount, "service-account", "", "service account the ingest and process workers run as")
	fs.StringVar(&d.JobName, "job-name", "", "fixed Dataflow job name, so Dataflow refuses an overlapping job (default settle-<source>)")
	fs.StringVar(&d.WorkerBinary, "worker-binary", "", "linux/amd64 worker binary built with cgo off (`make worker`); default: this binary when it is one, else Beam cross-compiles")
	fs.StringVar(&d.Network, "worker-network", "", "VPC network of the workers")
	fs.StringVar(&d.Subnetwork, "worker-subnetwork", "", "subnetwork of the workers (regions/REGION/subnetworks/NAME)")
	fs.BoolVar(&d.NoPublicIPs, "no-public-ips", false, "workers get private IPs only")
	fs.StringVar(&d.TokenSecret, "token-secret", "", "Secret Manager secret (version) holding the vendor token, read by the workers: projects/P/secrets/S[/versions/N]")
	fs.StringVar(&d.DriverServiceAccount, "driver-service-account", "", "settle launch: service account of the driver job (a template launch sets it in its environment)")
	fs.BoolVar(&d.DryRun, "dry-run", false, "translate the Dataflow jobs and print them; submit nothing and touch no back end")
}

// dataflowSettings are resolved, validated Dataflow options of a set of jobs.
type dataflowSettings struct {
	dataflowFlags
	Project string `json:"project"`
}

// jobNameFor returns the default job name of source: settle-<source>, cut
// to Dataflow's rules (lower case letters, digits and '-').
func jobNameFor(source string) string {
	s := strings.Trim(notJobNameRE.ReplaceAllString(strings.ToLower(source), "-"), "-")
	name := strings.TrimRight(jobNamePrefix+s, "-")
	if len(name) > 63-len(driverJobSuffix) {
		name = strings.TrimRight(name[:63-len(driverJobSuffix)], "-")
	}
	return name
}

// settings validates the flags and fills the defaults that depend on the
// project and source. Errors wrap errUsage and name the flag.
func (d dataflowFlags) settings(project, source string) (dataflowSettings, error) {
	s := dataflowSettings{dataflowFlags: d, Project: project}
	if s.JobName == "" {
		s.JobName = jobNameFor(source)
	}
	if s.TempLocation == "" && s.StagingLocation != "" {
		s.TempLocation = strings.TrimSuffix(s.StagingLocation, "/") + "/tmp"
	}
	if s.WorkerBinary == "" {
		s.WorkerBinary = selfWorkerBinary()
	}
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if project == "" {
		bad("--project is required with --runner=dataflow")
	}
	if s.Region == "" {
		bad("--region is required with --runner=dataflow")
	}
	if !gcsPathRE.MatchString(s.StagingLocation) {
		bad("--staging-location %q: want gs://bucket/folder", s.StagingLocation)
	}
	if !gcsPathRE.MatchString(s.TempLocation) {
		bad("--temp-location %q: want gs://bucket/folder", s.TempLocation)
	}
	if s.MaxWorkers < 1 {
		bad("--max-workers %d: want at least 1 (it bounds the vendor request rate per worker)", s.MaxWorkers)
	}
	if !jobNameRE.MatchString(s.JobName) {
		bad("--job-name %q: want lower case letters, digits and '-', starting with a letter, at most 63", s.JobName)
	}
	if s.ServiceAccount != "" && !serviceAccountRE.MatchString(s.ServiceAccount) {
		bad("--service-account %q: want NAME@PROJECT.iam.gserviceaccount.com", s.ServiceAccount)
	}
	if s.DriverServiceAccount != "" && !serviceAccountRE.MatchString(s.DriverServiceAccount) {
		bad("--driver-service-account %q: want NAME@PROJECT.iam.gserviceaccount.com", s.DriverServiceAccount)
	}
	if s.TokenSecret != "" {
		if _, err := vendorapi.SecretVersionName(s.TokenSecret); err != nil {
			bad("--token-secret: %w", err)
		}
	}
	if len(errs) > 0 {
		msgs := make([]string, len(errs))
		for i, e := range errs {
			msgs[i] = e.Error()
		}
		return s, fmt.Errorf("dataflow options: %s: %w", strings.Join(msgs, "; "), errUsage)
	}
	return s, nil
}

// beamFlags returns the values of Beam's Dataflow runner flags for these
// settings: all of them, so that settings applied after others in one
// process leave nothing of the earlier ones behind. An empty value means
// Dataflow's default.
func (s dataflowSettings) beamFlags() map[string]string {
	labels, _ := json.Marshal(map[string]string{"app": "settle", "job": s.JobName})
	return map[string]string{
		beamProject:        s.Project,
		beamRegion:         s.Region,
		beamStaging:        s.StagingLocation,
		beamTemp:           s.TempLocation,
		beamMachineType:    s.MachineType,
		beamMaxWorkers:     strconv.Itoa(s.MaxWorkers),
		beamNumWorkers:     strconv.Itoa(s.NumWorkers),
		beamServiceAccount: s.ServiceAccount,
		beamJobName:        s.JobName,
		beamWorkerBinary:   s.WorkerBinary,
		beamNetwork:        s.Network,
		beamSubnetwork:     s.Subnetwork,
		beamNoPublicIPs:    strconv.FormatBool(s.NoPublicIPs),
		beamLabels:         string(labels),
		beamDryRun:         strconv.FormatBool(s.DryRun),
		beamEnvType:        "DOCKER",
	}
}

// driver returns the settings of the driver job of a run whose inner jobs
// have settings s: one worker, its own service account and name.
func (s dataflowSettings) driver() dataflowSettings {
	d := s
	d.JobName = s.JobName + driverJobSuffix
	d.MaxWorkers, d.NumWorkers = 1, 1
	d.ServiceAccount = s.DriverServiceAccount
	return d
}

// configure copies what the pipeline needs into cfg: the runner and the
// token's secret (the workers read the token there, not from the
// environment, which they do not share with this process).
func (d dataflowFlags) configure(cfg *pipeline.Config) {
	cfg.Runner = "dataflow"
	cfg.TokenSecret = d.TokenSecret
	cfg.Workers = d.MaxWorkers
	// The process jobs share the fixed job name, which Dataflow keeps
	// unique among running jobs: one at a time.
	cfg.ProcessParallelism = 1
}

// useDataflow prepares a pipeline command for --runner=dataflow: it
// validates the Dataflow flags, sets Beam's runner flags and fills cfg.
// With --dry-run it translates and prints the run's jobs instead, touching
// no back end, and reports done. With another runner it only refuses
// --dry-run.
func useDataflow(ctx context.Context, d dataflowFlags, project string, cfg *pipeline.Config) (done bool, err error) {
	if cfg.Runner != "dataflow" {
		if d.DryRun {
			return false, fmt.Errorf("--dry-run translates Dataflow jobs: it needs --runner=dataflow: %w", errUsage)
		}
		return false, nil
	}
	s, err := d.settings(project, cfg.Source)
	if err != nil {
		return false, err
	}
	if err := setBeamFlags(s.beamFlags()); err != nil {
		return false, err
	}
	d.configure(cfg)
	if d.DryRun {
		return true, dryRun(ctx, *cfg, s, time.Now())
	}
	return false, nil
}

// setBeamFlags sets flags on flag.CommandLine (the Beam runner's).
func setBeamFlags(m map[string]string) error {
	for name, v := range m {
		if err := flag.CommandLine.Set(name, v); err != nil {
			return fmt.Errorf("setting Beam flag --%s: %w", name, err)
		}
	}
	return nil
}

// beamFlag returns the value of a Beam flag ("" when it is not registered).
func beamFlag(name string) string {
	if f := flag.CommandLine.Lookup(name); f != nil {
		return f.Value.String()
	}
	return ""
}

// selfWorkerBinary returns this executable when it can run on a Dataflow
// worker (linux/amd64, built with cgo off), else "". Beam 2.77 never uses
// the running binary by itself: without --worker_binary it runs `go build`,
// which needs the Go toolchain and this repository (there are neither on a
// template launcher nor on a worker).
func selfWorkerBinary() string {
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		return ""
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	for _, s := range bi.Settings {
		if s.Key == "CGO_ENABLED" && s.Value == "0" {
			if exe, err := os.Executable(); err == nil {
				return exe
			}
		}
	}
	return ""
}

// workerMode reports whether the process was started as a Beam worker
// (the SDK container runs the binary with --worker=true and the harness's
// endpoints). main must then flag.Parse() and call beam.Init(), which runs
// the harness and exits.
func workerMode(args []string) bool {
	for _, a := range args {
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "worker" {
			continue
		}
		if !hasValue {
			return true
		}
		b, err := strconv.ParseBool(value)
		return err == nil && b
	}
	return false
}

// commandFromEnv returns args with the sub-command named by SETTLE_COMMAND
// in front when args start with a flag (or are empty): the Flex Template
// launcher runs the binary with flags only.
func commandFromEnv(args []string, getenv func(string) string) []string {
	cmd := getenv(envCommand)
	if cmd == "" || (len(args) > 0 && !strings.HasPrefix(args[0], "-")) {
		return args
	}
	return append([]string{cmd}, args...)
}

// splitLaunchArgs sorts the arguments a template launcher passes: flags of
// fs (the template's parameters) go to ours, flags Beam knows (the launch
// environment: --staging_location, --template_location, ...) to beam
// (--project and --region, known to both, to both), anything else to
// unknown. Both --name=value and --name value work.
func splitLaunchArgs(fs, beamFS flagLookup, args []string) (ours []string, beam map[string]string, unknown []string) {
	beam = map[string]string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") || a == "-" || a == "--" {
			unknown = append(unknown, a)
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		isBool := func(f *flag.Flag) bool {
			b, ok := f.Value.(interface{ IsBoolFlag() bool })
			return ok && b.IsBoolFlag()
		}
		if f := fs.Lookup(name); f != nil {
			ours = append(ours, a)
			if !hasValue && !isBool(f) && i+1 < len(args) {
				i++
				ours = append(ours, args[i])
				value = args[i]
			}
			// --project and --region are both: the launch's, for the
			// driver job, and the run's.
			if bf := beamFS.Lookup(name); bf != nil {
				if !hasValue && isBool(bf) {
					value = "true"
				}
				beam[name] = value
			}
			continue
		}
		if f := beamFS.Lookup(name); f != nil {
			if !hasValue {
				value = "true"
				if !isBool(f) && i+1 < len(args) {
					i++
					value = args[i]
				}
			}
			beam[name] = value
			continue
		}
		unknown = append(unknown, a)
	}
	return ours, beam, unknown
}

// flagLookup finds a flag by name (*flag.FlagSet, *flagSet).
type flagLookup interface{ Lookup(name string) *flag.Flag }

// cmdLaunch is what the Flex Template runs (SETTLE_COMMAND=launch): it
// takes the `settle run` flags and writes, under a template launcher (which
// sets --template_location), or else submits, the one driver job that runs
// `settle run` on Dataflow. Backend and runner are always gcp and dataflow.
func cmdLaunch(ctx context.Context, args []string) int {
	fs, r := newRunFlagSet()
	fs.cmd, fs.about = "launch", "The Flex Template's entry: submit (or write, under a template launcher) the driver job of one `settle run` on Dataflow. Takes the flags of settle run; --backend and --runner are always gcp and dataflow."
	for _, a := range args {
		if a == "-h" || a == "-help" || a == "--help" {
			return fail("launch", parse(fs, []string{a}))
		}
	}
	ours, beamArgs, unknown := splitLaunchArgs(fs, flag.CommandLine, args)
	if err := parse(fs, ours); err != nil {
		return fail("launch", err)
	}
	log := r.output.logger()
	if len(unknown) > 0 {
		log.Warn("ignoring launcher arguments that are no flag of settle or Beam", "args", strings.Join(unknown, " "))
	}
	if err := setBeamFlags(beamArgs); err != nil {
		return fail("launch", err)
	}
	if r.sim.on {
		return fail("launch", fmt.Errorf("--simulate runs on this machine only; use `settle run --simulate`: %w", errUsage))
	}
	job, err := r.launchJob(ctx)
	if err != nil {
		return fail("launch", err)
	}
	p, s := beam.NewPipelineWithRoot()
	beam.ParDo0(s.Scope("settle.Drive"), job, beam.Impulse(s))
	if _, err := beam.Run(ctx, "dataflow", p); err != nil {
		return fail("launch", fmt.Errorf("launching the driver job: %w", err))
	}
	if tl := beamFlag(beamTemplate); tl != "" {
		log.Info("driver job written for the template launcher", "template_location", tl, "job_name", job.Dataflow.JobName+driverJobSuffix)
	}
	return exitOK
}

// launchJob resolves the run's configuration and the inner jobs' Dataflow
// settings into the driver DoFn, and sets the driver job's own Beam flags
// unless a template launcher set them.
func (r *runFlags) launchJob(ctx context.Context) (*driveRunFn, error) {
	r.backend.backend, r.dataflow.Runner = "gcp", "dataflow"
	if r.backend.project == "" {
		r.backend.project = gcpopts.GetProjectFromFlagOrEnvironment(ctx)
	}
	d := r.dataflow
	if d.Region == "" {
		d.Region = beamFlag(beamRegion)
	}
	if d.StagingLocation == "" {
		d.StagingLocation = beamFlag(beamStaging)
	}
	if d.TempLocation == "" {
		d.TempLocation = beamFlag(beamTemp)
	}
	cfg, err := r.config()
	if err != nil {
		return nil, err
	}
	cfg.From, cfg.To = r.from, r.to
	d.configure(&cfg)
	inner, err := d.settings(r.backend.project, cfg.Source)
	if err != nil {
		return nil, err
	}
	inner.DryRun = false // the driver's inner jobs; --dry-run applies to the driver job
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", err, errUsage)
	}
	if cfg.VendorURL == "" || inner.TokenSecret == "" || inner.ServiceAccount == "" {
		return nil, fmt.Errorf("--vendor-url, --token-secret and --service-account are required: %w", errUsage)
	}
	driverName := inner.driver().JobName
	if beamFlag(beamTemplate) != "" {
		// A template launch: the environment set the driver's options; the
		// launch's job name is the driver's and must not be the inner jobs'.
		if jn := beamFlag(beamJobName); jn != "" && jn == inner.JobName {
			return nil, fmt.Errorf("the launch's job name %q is --job-name, the inner jobs' name: name the launch %s: %w", jn, driverName, errUsage)
		}
		if beamFlag(beamWorkerBinary) == "" && inner.WorkerBinary != "" {
			if err := setBeamFlags(map[string]string{beamWorkerBinary: inner.WorkerBinary}); err != nil {
				return nil, err
			}
		}
		if r.dataflow.DryRun {
			if err := setBeamFlags(map[string]string{beamDryRun: "true"}); err != nil {
				return nil, err
			}
		}
	} else {
		driver := inner.driver()
		driver.DryRun = r.dataflow.DryRun
		if err := setBeamFlags(driver.beamFlags()); err != nil {
			return nil, err
		}
	}
	return &driveRunFn{Config: cfg, Dataflow: inner}, nil
}

// driveRunFn runs one `settle run` on a Dataflow worker: the driver job's
// only DoFn, applied to a single impulse.
//
// It sets Beam's Dataflow flags of the worker process for the inner jobs
// (this worker's own binary is their worker binary; with another runner,
// as in tests, it leaves them alone), runs pipeline.Run,
// and logs one runReportTag line with the outcome, the source's parked
// windows and the watermark's age. A run that failed returns its error:
// Dataflow retries the bundle (a rerun is always safe) and then fails the
// job. A run that reached a verdict (promoted, held, needs attention) and a
// run refused because another holds the lease return nil.
type driveRunFn struct {
	Config   pipeline.Config  `json:"config"`
	Dataflow dataflowSettings `json:"dataflow"`

	// logReport writes the report line; nil means Beam's log (tests
	// capture it here: a runner may replace Beam's logger mid-run).
	logReport func(ctx context.Context, line string)
}

var (
	runsDone   = beam.NewCounter("settle", "runs")
	runsFailed = beam.NewCounter("settle", "runs_failed")
	runsHeld   = beam.NewCounter("settle", "runs_held")
	leaseHeld  = beam.NewCounter("settle", "runs_lease_held")
)

// ProcessElement runs the run.
func (fn *driveRunFn) ProcessElement(ctx context.Context, _ []byte) error {
	if fn.Config.Runner == "dataflow" {
		s := fn.Dataflow
		if exe, err := os.Executable(); err == nil {
			s.WorkerBinary = exe
		}
		if err := setBeamFlags(s.beamFlags()); err != nil {
			return err
		}
	}
	logger := slog.New(beamLogHandler{level: slog.LevelInfo})
	sum, err := pipeline.Run(ctx, fn.Config, pipeline.Options{Logger: logger})
	rep := fn.report(ctx, sum, err, time.Now())
	if fn.logReport == nil {
		fn.logReport = func(ctx context.Context, line string) { beamlog.Info(ctx, line) }
	}
	fn.logReport(ctx, rep)
	var held *cursorstore.LeaseHeldError
	switch {
	case errors.As(err, &held):
		leaseHeld.Inc(ctx, 1)
		return nil
	case err != nil:
		runsFailed.Inc(ctx, 1)
		return fmt.Errorf("settle run of %s: %w", fn.Config.Source, err)
	}
	runsDone.Inc(ctx, 1)
	if sum.Held {
		runsHeld.Inc(ctx, 1)
	}
	return nil
}

// report returns the run's report line. Reading the watermark and the
// parked windows is best effort: a failure shows as -1.
func (fn *driveRunFn) report(ctx context.Context, sum pipeline.Summary, runErr error, now time.Time) string {
	outcome := sum.Outcome
	var held *cursorstore.LeaseHeldError
	switch {
	case errors.As(runErr, &held):
		outcome = "lease_held"
	case runErr != nil || outcome == "":
		outcome = "failed"
	}
	parked, age := int64(-1), int64(-1)
	if cursors, err := cursorstore.Open(ctx, fn.Config.CursorStore); err == nil {
		if wm, _, err := cursorstore.LoadWatermark(ctx, cursors, fn.Config.Source); err == nil {
			age = int64(now.Sub(wm) / time.Second)
		}
		if p, err := pipeline.ParkedWindows(ctx, fn.Config, cursors); err == nil {
			parked = int64(len(p))
		}
		cursors.Close()
	}
	return formatReport(fn.Config.Source, sum.RunID, outcome, sum.Held, parked, age, sum.Promoted)
}

// formatReport is the driver's report line, matched by the log-based
// metrics of launcher/deploy/terraform/monitoring.tf.
func formatReport(source, runID, outcome string, held bool, parked, watermarkAge, promoted int64) string {
	h := 0
	if held {
		h = 1
	}
	return fmt.Sprintf("%s source=%s run_id=%s outcome=%s held=%d parked_windows=%d watermark_age_seconds=%d promoted=%d",
		runReportTag, source, runID, outcome, h, parked, watermarkAge, promoted)
}

// beamLogHandler is a slog.Handler writing through Beam's logger, so a
// run's log lines on a Dataflow worker reach Cloud Logging with the step.
type beamLogHandler struct {
	level slog.Level
	attrs string
}

func (h beamLogHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h beamLogHandler) Handle(ctx context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	b.WriteString(h.attrs)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	sev := beamlog.SevInfo
	switch {
	case r.Level >= slog.LevelError:
		sev = beamlog.SevError
	case r.Level >= slog.LevelWarn:
		sev = beamlog.SevWarn
	case r.Level < slog.LevelInfo:
		sev = beamlog.SevDebug
	}
	beamlog.Output(ctx, sev, 1, b.String())
	return nil
}

func (h beamLogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	for _, a := range as {
		h.attrs += fmt.Sprintf(" %s=%v", a.Key, a.Value)
	}
	return h
}

func (h beamLogHandler) WithGroup(string) slog.Handler { return h }

// dryRunPipelines builds the Dataflow jobs of a run of cfg without touching
// a back end, for --dry-run: the ingest job over [from, to) (an hour before
// now when unset), a process job over a page of each window, and the
// driver job. The ingest and process jobs are built as pipeline.Run builds
// them.
func dryRunPipelines(cfg pipeline.Config, s dataflowSettings, now time.Time) map[string]*beam.Pipeline {
	from, to := cfg.From, cfg.To
	if to.IsZero() {
		to = now.Add(-cfg.VisibilityLag).UTC().Truncate(time.Hour)
	}
	if from.IsZero() {
		from = to.Add(-cfg.Window)
	}
	epoch := vendorapi.FormatTime(from) + "_" + vendorapi.FormatTime(to)
	var tasks []vendorapi.Task
	var objects []string
	for i, w := range pipeline.Windows(from, to, cfg.Window) {
		tasks = append(tasks, vendorapi.NewTask(cfg.Source, vendorapi.Window{Start: w[0], End: w[1]}, epoch))
		objects = append(objects, fmt.Sprintf("pages/%s/date=%s/window=dry-run-%d/page-00001-0000000000000000.json.gz", cfg.Source, w[0].Format(time.DateOnly), i))
	}
	ingest := pipeline.IngestPipeline(cfg, tasks)
	process := pipeline.ProcessPipeline(cfg, "dry-run", strings.TrimSuffix(cfg.Staging, "/")+"/dry-run/chunk-0000", now, objects)

	driver, ds := beam.NewPipelineWithRoot()
	beam.ParDo0(ds.Scope("settle.Drive"), &driveRunFn{Config: cfg, Dataflow: s}, beam.Impulse(ds))
	return map[string]*beam.Pipeline{"ingest": ingest, "process": process, "driver": driver}
}

// dryRun translates the run's jobs with Beam's --dry_run (apply must have
// set it) and prints them; nothing is submitted and no back end is opened.
func dryRun(ctx context.Context, cfg pipeline.Config, s dataflowSettings, now time.Time) error {
	if beamFlag(beamDryRun) != "true" {
		return fmt.Errorf("dry run without Beam's --dry_run: refusing to submit")
	}
	jobs := dryRunPipelines(cfg, s, now)
	for _, name := range []string{"ingest", "process", "driver"} {
		if name == "driver" {
			driver := s.driver()
			driver.DryRun = true
			if err := setBeamFlags(driver.beamFlags()); err != nil {
				return err
			}
		}
		if err := printDryRunJob(os.Stdout, name, beamFlag(beamJobName), jobs[name]); err != nil {
			return err
		}
		if _, err := beam.Run(ctx, "dataflow", jobs[name]); err != nil {
			return fmt.Errorf("translating the %s job: %w", name, err)
		}
	}
	return nil
}
