package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	beamlog "github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/fsouza/fake-gcs-server/fakestorage"

	"github.com/marketplace/settle/pipeline"
)

// captureLog collects Beam's log messages.
type captureLog struct {
	mu   sync.Mutex
	msgs []string
}

func (c *captureLog) Log(_ context.Context, _ beamlog.Severity, _ int, msg string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.msgs = append(c.msgs, msg)
}

func (c *captureLog) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.msgs
	c.msgs = nil
	return out
}

// keepBeamFlags restores the Beam flags that the test may set.
func keepBeamFlags(t *testing.T) {
	t.Helper()
	saved := map[string]string{}
	for _, name := range []string{beamProject, beamRegion, beamStaging, beamTemp, beamMachineType, beamMaxWorkers,
		beamNumWorkers, beamServiceAccount, beamJobName, beamWorkerBinary, beamNetwork, beamSubnetwork,
		beamNoPublicIPs, beamLabels, beamDryRun, beamTemplate, beamEnvType, "environment_config", "endpoint"} {
		f := flag.CommandLine.Lookup(name)
		if f == nil {
			t.Fatalf("Beam flag --%s is not registered", name)
		}
		saved[name] = f.Value.String()
	}
	t.Cleanup(func() {
		for name, v := range saved {
			flag.CommandLine.Set(name, v)
		}
	})
}

// offlineGCS serves an in-process fake GCS with bucket and points the
// storage clients (Beam's soft-delete check of the staging bucket) at it.
func offlineGCS(t *testing.T, bucket string) {
	t.Helper()
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{Scheme: "http", Host: "127.0.0.1", Port: 0, NoListener: false})
	if err != nil {
		t.Fatalf("starting fake GCS: %v", err)
	}
	t.Cleanup(srv.Stop)
	srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: bucket})
	t.Setenv("STORAGE_EMULATOR_HOST", strings.TrimPrefix(srv.URL(), "http://"))
	// Any credential lookup must fail here, not reach a metadata server.
	t.Setenv("GCE_METADATA_HOST", "127.0.0.1:1")
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/settle-dry-run-test.json")
}

// TestDryRunTranslatesOneBatchJob runs Beam's Dataflow runner with
// --dry_run, offline, over a run, a replay and a replay of 21 days: each is
// one job, printed whatever the log level, of type JOB_TYPE_BATCH (a
// ProcessContinuation anywhere would make it streaming), whose graph holds
// every stage: the lease, the splittable DoFn of the ingest, the
// CombinePerKey of the dedup and the landing.
func TestDryRunTranslatesOneBatchJob(t *testing.T) {
	beam.Init()
	keepBeamFlags(t)
	offlineGCS(t, "settle-test-dataflow")
	var out strings.Builder
	var models []string
	dryRunOut, dryRunModel = &out, func(m string) { models = append(models, m) }
	t.Cleanup(func() { dryRunOut, dryRunModel = os.Stdout, nil })

	d := dataflowFlags{
		Region:          "europe-west1",
		StagingLocation: "gs://settle-test-dataflow/staging",
		MaxWorkers:      4,
		ServiceAccount:  "settle-worker@settle-test.iam.gserviceaccount.com",
		TokenSecret:     "projects/settle-test/secrets/vendor-token",
		WorkerBinary:    "/nonexistent/worker", // a dry run stages nothing
		DryRun:          true,
	}
	day := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		job  dryRunSpec
		// jobName is the Dataflow job's name; extra, steps beyond the run's.
		jobName string
		extra   []string
		// source, when set, is --source; a webhook job has no ingest.
		source string
	}{
		{"a scheduled run", dryRunSpec{Kind: pipeline.KindRun}, "settle-settlements", nil, ""},
		{"a replay of a day", dryRunSpec{Kind: pipeline.KindReplay, From: day, To: day.Add(24 * time.Hour)}, "settle-settlements", nil, ""},
		{"a replay of 21 days", dryRunSpec{Kind: pipeline.KindReplay, From: day, To: day.Add(21 * 24 * time.Hour)}, "settle-settlements", nil, ""},
		// `settle sweep --runner=dataflow`: its own name, so it never
		// refuses or is refused by the pull's run; the webhook check last.
		{"a sweep", dryRunSpec{Kind: pipeline.KindRun, SweepSpan: pipeline.SweepSpan}, "settle-sweep", []string{"checkWebhooksFn"}, ""},
		// `settle replay --source=webhook`: the webhook channel's job over
		// those hours of receipt, no vendor stage.
		{"a replay of webhook hours", dryRunSpec{Kind: pipeline.KindReplay, From: day, To: day.Add(48 * time.Hour)}, "settle-webhook",
			[]string{`"channel":"webhook"`, `"kind":"replay"`}, pipeline.WebhookSource},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out.Reset()
			models = nil
			cfg := pipeline.DefaultConfig(t.TempDir())
			cfg.Runner = "dataflow"
			cfg.VendorURL = "https://api.vendor.example"
			cfg.RawZone = "gs://settle-test-raw/raw"
			cfg.Staging = "gs://settle-test-raw/staging"
			cfg.CursorStore = "firestore://settle-test/settle-cursors"
			cfg.Warehouse = "bigquery://settle-test/settlements"
			cfg.From = day
			cfg.To = day.Add(3 * time.Hour)
			if tt.source != "" {
				cfg.Source = tt.source
			}

			done, err := useDataflow(t.Context(), d, "settle-test", &cfg, tt.job)
			if err != nil {
				t.Fatalf("useDataflow with --dry-run: %v", err)
			}
			if !done {
				t.Fatalf("useDataflow with --dry-run = not done, want the job translated and the run skipped")
			}
			if cfg.TokenSecret != d.TokenSecret {
				t.Errorf("cfg.TokenSecret = %q, want %q", cfg.TokenSecret, d.TokenSecret)
			}
			var jobs []string
			for _, line := range strings.Split(out.String(), "\n") {
				if strings.HasPrefix(line, "{") {
					jobs = append(jobs, line)
				}
			}
			if len(jobs) != 1 || len(models) != 1 {
				t.Fatalf("dry run printed %d jobs (%d models), want 1:\n%s", len(jobs), len(models), out.String())
			}
			var job struct {
				Name        string `json:"name"`
				Type        string `json:"type"`
				ProjectID   string `json:"projectId"`
				Environment struct {
					ServiceAccountEmail string `json:"serviceAccountEmail"`
					WorkerPools         []struct {
						AutoscalingSettings struct {
							MaxNumWorkers int `json:"maxNumWorkers"`
						} `json:"autoscalingSettings"`
					} `json:"workerPools"`
				} `json:"environment"`
			}
			if err := json.Unmarshal([]byte(jobs[0]), &job); err != nil {
				t.Fatalf("job JSON: %v", err)
			}
			if job.Type != "JOB_TYPE_BATCH" {
				t.Errorf("job type = %q, want JOB_TYPE_BATCH", job.Type)
			}
			if job.Name != tt.jobName || job.ProjectID != "settle-test" {
				t.Errorf("job name, project = %q, %q; want %s, settle-test", job.Name, job.ProjectID, tt.jobName)
			}
			if got := job.Environment.ServiceAccountEmail; got != d.ServiceAccount {
				t.Errorf("service account = %q, want %q", got, d.ServiceAccount)
			}
			if len(job.Environment.WorkerPools) != 1 || job.Environment.WorkerPools[0].AutoscalingSettings.MaxNumWorkers != d.MaxWorkers {
				t.Errorf("worker pools = %+v, want one with at most %d workers", job.Environment.WorkerPools, d.MaxWorkers)
			}
			model := withDecodedPayloads(models[0])
			steps := []string{"pipeline.Job", "planFn", "objectsFn", "beam:transform:combine_per_key:v1", "pipeline.Process", "landFn"}
			ingest := []string{"beam:requirement:pardo:splittable_dofn:v1", "vendorapi.readPagesFn"}
			if tt.source == pipeline.WebhookSource {
				for _, w := range ingest {
					if strings.Contains(model, w) {
						t.Errorf("the webhook job's graph has %q: it must not call the vendor", w)
					}
				}
			} else {
				steps = append(steps, ingest...)
			}
			for _, w := range append(steps, tt.extra...) {
				if !strings.Contains(model, w) {
					t.Errorf("the job's graph lacks %q", w)
				}
			}
			if tt.job.Kind == pipeline.KindReplay && !strings.Contains(model, tt.job.To.Format("2006")) {
				t.Errorf("the replay job does not carry its range")
			}
		})
	}
}

func TestDryRunNeedsTheDataflowRunner(t *testing.T) {
	cfg := pipeline.DefaultConfig(t.TempDir())
	_, err := useDataflow(t.Context(), dataflowFlags{DryRun: true}, "p", &cfg, dryRunSpec{Kind: pipeline.KindRun})
	if err == nil || !strings.Contains(err.Error(), "--runner=dataflow") {
		t.Errorf("useDataflow(--dry-run, runner %s) = %v, want a usage error naming --runner=dataflow", cfg.Runner, err)
	}
	if done, err := useDataflow(t.Context(), dataflowFlags{}, "p", &cfg, dryRunSpec{Kind: pipeline.KindRun}); done || err != nil {
		t.Errorf("useDataflow(runner %s) = %v, %v; want nothing done", cfg.Runner, done, err)
	}
}

// TestLaunchWritesTheRunsOneJob runs `settle launch` with --dry-run, as a
// workstation does and as the Flex Template launcher does (its Beam flags
// beside the template parameters): each time the run's one batch job,
// named and configured by the run's flags (the launch environment's
// driver-era name, account and single worker do not win), carrying the
// token's secret name, never a token.
func TestLaunchWritesTheRunsOneJob(t *testing.T) {
	logs := offlineLaunch(t)
	t.Setenv("VENDOR_API_TOKEN", "tok_live_must_not_travel")

	params := []string{
		"--vendor-url=https://api.vendor.example",
		"--token-secret=projects/acme/secrets/settle-settlements-vendor-token",
		"--raw-bucket=acme-settle-raw",
		"--service-account=settle-worker@acme.iam.gserviceaccount.com",
		"--staging-location=gs://acme-settle-dataflow/staging",
		"--temp-location=gs://acme-settle-dataflow/tmp",
		"--job-name=settle-settlements",
		"--max-workers=6",
		"--dry-run",
	}
	tests := []struct {
		name     string
		args     []string
		wantSA   string
		wantName string
	}{
		{
			name: "from a workstation the driver gets --driver-service-account and one worker",
			args: append([]string{"--project=acme", "--region=europe-west1",
				"--driver-service-account=settle-driver@acme.iam.gserviceaccount.com", "--worker-binary=/nonexistent/worker"}, params...),
			wantSA: "settle-worker@acme.iam.gserviceaccount.com", wantName: "settle-settlements",
		},
		{
			name: "under the template launcher the launch environment configures the driver",
			args: append([]string{"--project=acme", "--region=europe-west1",
				"--staging_location=gs://acme-settle-dataflow/staging", "--temp_location=gs://acme-settle-dataflow/tmp",
				"--template_location=gs://acme-settle-dataflow/staging/template_launches/1/job_object",
				"--service_account_email=settle-driver@acme.iam.gserviceaccount.com", "--max_num_workers=1",
				"--job_name=settle-settlements-driver", "--worker_binary=/template/settle"}, params...),
			wantSA: "settle-worker@acme.iam.gserviceaccount.com", wantName: "settle-settlements",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keepBeamFlags(t) // each case starts from Beam's defaults
			jobs, model := launchDryRun(t, logs, tt.args)
			if len(jobs) != 1 {
				t.Fatalf("settle launch translated %d jobs, want the run's one job", len(jobs))
			}
			env, _ := jobs[0]["environment"].(map[string]any)
			if jobs[0]["type"] != "JOB_TYPE_BATCH" || jobs[0]["name"] != tt.wantName || env["serviceAccountEmail"] != tt.wantSA {
				t.Errorf("job type, name, account = %v, %v, %v; want JOB_TYPE_BATCH, %s, %s",
					jobs[0]["type"], jobs[0]["name"], env["serviceAccountEmail"], tt.wantName, tt.wantSA)
			}
			for _, want := range []string{"planFn", "landFn", "reportFn", "readPagesFn", "projects/acme/secrets/settle-settlements-vendor-token", "gs://acme-settle-raw/raw", "firestore://acme/settle-cursors", "bigquery://acme/settlements"} {
				if !strings.Contains(model, want) {
					t.Errorf("the job's serialised run lacks %q", want)
				}
			}
			if strings.Contains(model, "tok_live_must_not_travel") {
				t.Errorf("the job's graph carries the vendor token")
			}
		})
	}
}

// offlineLaunch readies `settle launch --dry-run` in a test: Beam
// initialised, its flags restored at cleanup, GCS faked for the bucket
// acme-settle-dataflow, and Beam's log captured in the returned log.
func offlineLaunch(t *testing.T) *captureLog {
	t.Helper()
	beam.Init()
	keepBeamFlags(t)
	offlineGCS(t, "acme-settle-dataflow")
	logs := &captureLog{}
	beamlog.SetLogger(logs)
	t.Cleanup(func() { beamlog.SetLogger(&beamlog.Structural{}) })
	return logs
}

// launchDryRun runs `settle launch` with args (which must hold --dry-run)
// and returns the Dataflow jobs it translated and the pipeline model, with
// its decoded payloads (withDecodedPayloads), that Beam logged to logs.
func launchDryRun(t *testing.T, logs *captureLog, args []string) (jobs []map[string]any, model string) {
	t.Helper()
	logs.take()
	if code := cmdLaunch(t.Context(), args); code != exitOK {
		t.Fatalf("settle launch %q = exit %d, want 0", args, code)
	}
	for _, m := range logs.take() {
		if strings.HasPrefix(m, "{") {
			var j map[string]any
			if err := json.Unmarshal([]byte(m), &j); err != nil {
				t.Fatalf("job JSON: %v", err)
			}
			jobs = append(jobs, j)
		} else if strings.Contains(m, "components:") {
			model = m
		}
	}
	return jobs, withDecodedPayloads(model)
}

// withDecodedPayloads appends to a pipeline model's text the decoded form
// of its base64 payloads (the Go SDK's encoded DoFns and their
// configuration), so that a test can search them.
func withDecodedPayloads(model string) string {
	var b strings.Builder
	b.WriteString(model)
	// A payload's base64 follows escaped bytes (\x0e...), so the run of
	// base64 characters may start up to three characters early.
	for _, run := range regexp.MustCompile(`[A-Za-z0-9+/]{40,}={0,2}`).FindAllString(model, -1) {
		for off := 0; off < 4; off++ {
			s := strings.TrimRight(run[off:], "=")
			s = s[:len(s)/4*4]
			if d, err := base64.StdEncoding.DecodeString(s); err == nil {
				b.WriteString("\n")
				b.Write(d)
			}
		}
	}
	return b.String()
}
