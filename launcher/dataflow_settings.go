package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/marketplace/settle/io/vendorapi"
	"github.com/marketplace/settle/pipeline"
)

// Resolving the Dataflow flags into the settings of a job and into Beam's
// runner flags.

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
// With --dry-run it translates and prints the command's jobs (job says
// which) instead, touching no back end, and reports done. With another runner it only refuses
// --dry-run.
func useDataflow(ctx context.Context, d dataflowFlags, project string, cfg *pipeline.Config, job dryRunSpec) (done bool, err error) {
	if cfg.Runner != "dataflow" {
		if d.DryRun {
			return false, fmt.Errorf("--dry-run translates Dataflow jobs: it needs --runner=dataflow: %w", errUsage)
		}
		return false, nil
	}
	s, err := d.settings(project, job.source(*cfg))
	if err != nil {
		return false, err
	}
	if err := setBeamFlags(s.beamFlags()); err != nil {
		return false, err
	}
	d.configure(cfg)
	if d.DryRun {
		return true, dryRun(ctx, *cfg, job, time.Now())
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
