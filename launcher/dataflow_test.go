package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/marketplace/settle/pipeline"

	beamlog "github.com/apache/beam/sdks/v2/go/pkg/beam/log"
)

func validDataflowFlags() dataflowFlags {
	return dataflowFlags{
		Region:          "europe-west1",
		StagingLocation: "gs://p-settle-dataflow/staging",
		MaxWorkers:      4,
		ServiceAccount:  "settle-worker@p.iam.gserviceaccount.com",
		TokenSecret:     "projects/p/secrets/settle-settlements-vendor-token",
		WorkerBinary:    "/opt/settle/worker",
	}
}

func TestDataflowSettings(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*dataflowFlags)
		source  string
		want    map[string]string // Beam flags checked
		wantErr string
	}{
		{
			name:   "the job name defaults to settle-<source> and temp to the staging folder's tmp",
			source: "settlements",
			want: map[string]string{
				beamProject: "p", beamRegion: "europe-west1", beamJobName: "settle-settlements",
				beamStaging: "gs://p-settle-dataflow/staging", beamTemp: "gs://p-settle-dataflow/staging/tmp",
				beamMaxWorkers: "4", beamServiceAccount: "settle-worker@p.iam.gserviceaccount.com",
				beamWorkerBinary: "/opt/settle/worker", beamDryRun: "false", beamNoPublicIPs: "false",
				beamLabels: `{"app":"settle","job":"settle-settlements"}`,
			},
		},
		{
			name:   "a source with capitals and underscores makes a valid job name",
			source: "EU_Settlements.v2",
			want:   map[string]string{beamJobName: "settle-eu-settlements-v2"},
		},
		{
			name: "an explicit job name, temp location and network are passed on",
			edit: func(d *dataflowFlags) {
				d.JobName, d.TempLocation, d.Subnetwork, d.NoPublicIPs = "nightly-settle", "gs://tmp-bucket/tmp", "regions/europe-west1/subnetworks/dataflow", true
			},
			source: "settlements",
			want:   map[string]string{beamJobName: "nightly-settle", beamTemp: "gs://tmp-bucket/tmp", beamSubnetwork: "regions/europe-west1/subnetworks/dataflow", beamNoPublicIPs: "true"},
		},
		{
			name:   "dry run sets Beam's dry run",
			edit:   func(d *dataflowFlags) { d.DryRun = true },
			source: "settlements",
			want:   map[string]string{beamDryRun: "true"},
		},
		{name: "a missing region is refused", edit: func(d *dataflowFlags) { d.Region = "" }, source: "s", wantErr: "--region"},
		{name: "a local staging folder is refused", edit: func(d *dataflowFlags) { d.StagingLocation = "/tmp/staging" }, source: "s", wantErr: "--staging-location"},
		{name: "zero max workers is refused", edit: func(d *dataflowFlags) { d.MaxWorkers = 0 }, source: "s", wantErr: "--max-workers"},
		{name: "a job name with capitals is refused", edit: func(d *dataflowFlags) { d.JobName = "Settle" }, source: "s", wantErr: "--job-name"},
		{name: "a user e-mail as service account is refused", edit: func(d *dataflowFlags) { d.ServiceAccount = "ops@example.com" }, source: "s", wantErr: "--service-account"},
		{name: "a token in place of the secret name is refused without echoing it", edit: func(d *dataflowFlags) { d.TokenSecret = "tok_live_abcdef123456" }, source: "s", wantErr: "--token-secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := validDataflowFlags()
			if tt.edit != nil {
				tt.edit(&d)
			}
			s, err := d.settings("p", tt.source)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, errUsage) {
					t.Fatalf("settings() error = %v, want a usage error naming %s", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "tok_live_abcdef123456") {
					t.Errorf("settings() error echoes the token: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("settings() error: %v", err)
			}
			got := s.beamFlags()
			for name, want := range tt.want {
				if got[name] != want {
					t.Errorf("Beam flag --%s = %q, want %q", name, got[name], want)
				}
			}
			for name := range got {
				if flag.CommandLine.Lookup(name) == nil {
					t.Errorf("Beam flag --%s is not registered by the Dataflow runner", name)
				}
			}
		})
	}
}

func TestJobNameFor(t *testing.T) {
	long := strings.Repeat("x", 80)
	for _, source := range []string{"settlements", "A_B.c", "--", long, "über"} {
		got := jobNameFor(source)
		if !jobNameRE.MatchString(got) || !jobNameRE.MatchString(got+driverJobSuffix) {
			t.Errorf("jobNameFor(%q) = %q, or with %s, is not a valid Dataflow job name", source, got, driverJobSuffix)
		}
	}
}

func TestWorkerMode(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want bool
	}{
		{name: "the SDK container's flags are worker mode", args: []string{"--worker=true", "--id=1-1", "--logging_endpoint=localhost:1", "--control_endpoint=localhost:2", "--semi_persist_dir=/tmp"}, want: true},
		{name: "a bare --worker is worker mode", args: []string{"--id=1", "--worker"}, want: true},
		{name: "a single dash works as flag does", args: []string{"-worker=1"}, want: true},
		{name: "--worker=false is not", args: []string{"--worker=false"}},
		{name: "a command is not", args: []string{"run", "--from=2026-11-01T00:00:00Z"}},
		{name: "a flag that starts with worker is not", args: []string{"--worker-binary=bin/worker"}},
		{name: "a value that says worker is not", args: []string{"--source", "worker"}},
		{name: "no arguments are not", args: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := workerMode(tt.args); got != tt.want {
				t.Errorf("workerMode(%q) = %v, want %v", tt.args, got, tt.want)
			}
		})
	}
}

func TestCommandFromEnv(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == envCommand {
				return v
			}
			return ""
		}
	}
	tests := []struct {
		name string
		env  string
		args []string
		want []string
	}{
		{name: "the template launcher's flags get the command in front", env: "launch", args: []string{"--vendor-url=https://v", "--project=p"}, want: []string{"launch", "--vendor-url=https://v", "--project=p"}},
		{name: "no arguments get the command", env: "launch", args: nil, want: []string{"launch"}},
		{name: "an explicit command wins", env: "launch", args: []string{"runs", "-n", "5"}, want: []string{"runs", "-n", "5"}},
		{name: "without the variable nothing changes", env: "", args: []string{"--project=p"}, want: []string{"--project=p"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, commandFromEnv(tt.args, env(tt.env))); diff != "" {
				t.Errorf("commandFromEnv(%q) (-want +got):\n%s", tt.args, diff)
			}
		})
	}
}

func TestSplitLaunchArgs(t *testing.T) {
	fs, _ := newRunFlagSet()
	args := []string{
		"--project=acme", "--region", "europe-west1",
		"--vendor-url=https://api.vendor.example", "--max-workers", "8", "--no-public-ips",
		"--staging_location=gs://b/staging", "--template_location", "gs://b/launch/job_object", "--use_public_ips",
		"--some_future_launcher_flag=1", "stray",
	}
	ours, beam, unknown := splitLaunchArgs(fs, flag.CommandLine, args)
	if diff := cmp.Diff([]string{"--project=acme", "--region", "europe-west1", "--vendor-url=https://api.vendor.example", "--max-workers", "8", "--no-public-ips"}, ours); diff != "" {
		t.Errorf("settle's flags (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"project": "acme", "region": "europe-west1", "staging_location": "gs://b/staging", "template_location": "gs://b/launch/job_object", "use_public_ips": "true"}, beam); diff != "" {
		t.Errorf("Beam's flags (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"--some_future_launcher_flag=1", "stray"}, unknown); diff != "" {
		t.Errorf("unknown arguments (-want +got):\n%s", diff)
	}
}

func TestFormatReportMatchesTheLogMetrics(t *testing.T) {
	line := formatReport("settlements", "20261126T101000Z-abc123", "needs_attention", true, 2, 4380, 12345)
	// The extractors of launcher/deploy/terraform/monitoring.tf.
	for _, want := range []string{runReportTag + " ", "outcome=needs_attention", "held=1", "parked_windows=2", "watermark_age_seconds=4380", "source=settlements "} {
		if !strings.Contains(line, want) {
			t.Errorf("report line %q lacks %q", line, want)
		}
	}
}

func TestBeamLogHandler(t *testing.T) {
	logs := &captureLog{}
	beamlog.SetLogger(logs)
	t.Cleanup(func() { beamlog.SetLogger(&beamlog.Structural{}) })
	l := slog.New(pipeline.BeamLogHandler{Level: slog.LevelInfo}).With("run_id", "r1")
	l.Debug("hidden")
	l.InfoContext(context.Background(), "run finished", "outcome", "promoted")
	if diff := cmp.Diff([]string{"run finished run_id=r1 outcome=promoted"}, logs.take()); diff != "" {
		t.Errorf("Beam log (-want +got):\n%s", diff)
	}
}
