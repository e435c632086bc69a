package main

// Running on Dataflow: a run, or a replay of any range, is one batch job
// (pipeline.Job: lease, ingest, process and land as stages of one
// pipeline), submitted two ways:
//
//   - `settle run --runner=dataflow ...` (or `settle replay`) on any
//     machine: pipeline.Run (pipeline.Replay) submits the job and waits for
//     it, then reads the run's ledger row.
//
//   - `settle launch ...`, which is what the Flex Template runs: it writes
//     (or, outside a template, submits) the run's job with a last step,
//     reportFn, that logs one `settle_run_report` line per run for the
//     alert policies (launcher/deploy/terraform/monitoring.tf).
//
// The job carries the fixed --job-name (settle-<source>), so Dataflow
// refuses an overlapping one.
//
// On Dataflow every job's workers start this same binary with --worker
// flags (workerMode): main must then parse the global flags and hand over to
// the Beam harness.
//
// The files: dataflow.go the flags and `settle launch`,
// dataflow_settings.go the flags resolved into job settings and Beam's
// runner flags, dataflow_worker.go the worker binary and worker mode,
// report.go the job's report step, dryrun.go --dry-run.

import (
	"context"
	"flag"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/options/gcpopts"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/dataflow"

	"github.com/marketplace/settle/pipeline"
)

func init() {
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
	// DriverServiceAccount is ignored: it named the account of the driver
	// job, gone since a run is one job. Kept so older launches still parse.
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
	fs.StringVar(&d.DriverServiceAccount, "driver-service-account", "", "ignored: runs are one job now, run as --service-account (kept so older templates still launch)")
	fs.BoolVar(&d.DryRun, "dry-run", false, "translate the Dataflow jobs and print them; submit nothing and touch no back end")
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
			// job, and the run's.
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
// sets --template_location), or else submits, the run's one Dataflow job
// (pipeline.Job) with a last step that logs the run's report line.
// Backend and runner are always gcp and dataflow. --source=webhook
// launches the job of `settle run --source=webhook`, --source=sweep that
// of `settle sweep` (see launchSpec).
func cmdLaunch(ctx context.Context, args []string) int {
	fs, r := newRunFlagSet()
	fs.cmd, fs.about = "launch", "The Flex Template's entry: submit (or write, under a template launcher) the one Dataflow job of a `settle run`. Takes the flags of settle run; --backend and --runner are always gcp and dataflow."
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
	cfg, s, err := r.launchJob(ctx)
	if err != nil {
		return fail("launch", err)
	}
	spec := launchSpec(cfg, time.Now())
	p, res := pipeline.JobPipeline(spec)
	beam.ParDo0(p.Root().Scope("settle.Report"), &reportFn{Config: cfg}, res)
	if _, err := beam.Run(ctx, "dataflow", p); err != nil {
		return fail("launch", fmt.Errorf("launching the run's job: %w", err))
	}
	if tl := beamFlag(beamTemplate); tl != "" {
		log.Info("run job written for the template launcher", "template_location", tl, "job_name", s.JobName, "run_id", spec.RunID)
	}
	return exitOK
}

// launchSpec is the spec of the one job a launch of cfg submits: the
// sweep's over the last pipeline.SweepSpan for --source=sweep, else as
// `settle run` with that source (dryRunSpec.jobSpec).
func launchSpec(cfg pipeline.Config, now time.Time) pipeline.JobSpec {
	job := dryRunSpec{Kind: pipeline.KindRun}
	if cfg.Source == pipeline.SweepSource {
		job.SweepSpan = pipeline.SweepSpan
	}
	return job.jobSpec(cfg, now)
}

// launchJob resolves the run's configuration and its job's Dataflow
// settings, and sets Beam's flags to them: the run's flags decide the
// job's name, service account and workers, also under a template launcher
// (whose environment only supplies what they leave unset).
func (r *runFlags) launchJob(ctx context.Context) (pipeline.Config, dataflowSettings, error) {
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
	if d.WorkerBinary == "" {
		d.WorkerBinary = beamFlag(beamWorkerBinary)
	}
	cfg, err := r.config()
	if err != nil {
		return cfg, dataflowSettings{}, err
	}
	cfg.From, cfg.To = r.from, r.to
	d.configure(&cfg)
	s, err := d.settings(r.backend.project, cfg.Source)
	if err != nil {
		return cfg, s, err
	}
	if err := cfg.Validate(); err != nil {
		return cfg, s, fmt.Errorf("%w: %w", err, errUsage)
	}
	if s.ServiceAccount == "" {
		return cfg, s, fmt.Errorf("--service-account is required: %w", errUsage)
	}
	if cfg.Source != pipeline.WebhookSource && (cfg.VendorURL == "" || s.TokenSecret == "") {
		// A webhook run reads the raw zone only.
		return cfg, s, fmt.Errorf("--vendor-url and --token-secret are required (except with --source=%s): %w", pipeline.WebhookSource, errUsage)
	}
	if s.NumWorkers == 0 {
		s.NumWorkers = 1 // autoscaling grows it to --max-workers
	}
	return cfg, s, setBeamFlags(s.beamFlags())
}
