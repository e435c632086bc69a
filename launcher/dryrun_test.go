package main

import (
	"context"
	"encoding/json"
	"flag"
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
		beamNoPublicIPs, beamLabels, beamDryRun, beamTemplate} {
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

// TestDryRunTranslatesEveryJobAsBatch runs Beam's Dataflow runner with
// --dry_run over the ingest, process and driver jobs of a run, offline:
// each must translate into a batch job (a ProcessContinuation anywhere
// would make one streaming), and the graphs must hold the splittable DoFn
// of the ingest and the CombinePerKey of the dedup.
func TestDryRunTranslatesEveryJobAsBatch(t *testing.T) {
	beam.Init()
	keepBeamFlags(t)
	offlineGCS(t, "settle-test-dataflow")
	logs := &captureLog{}
	beamlog.SetLogger(logs)
	t.Cleanup(func() { beamlog.SetLogger(&beamlog.Structural{}) })

	d := dataflowFlags{
		Region:               "europe-west1",
		StagingLocation:      "gs://settle-test-dataflow/staging",
		MaxWorkers:           4,
		ServiceAccount:       "settle-worker@settle-test.iam.gserviceaccount.com",
		DriverServiceAccount: "settle-driver@settle-test.iam.gserviceaccount.com",
		TokenSecret:          "projects/settle-test/secrets/vendor-token",
		WorkerBinary:         "/nonexistent/worker", // a dry run stages nothing
		DryRun:               true,
	}
	cfg := pipeline.DefaultConfig(t.TempDir())
	cfg.Runner = "dataflow"
	cfg.VendorURL = "https://api.vendor.example"
	cfg.RawZone = "gs://settle-test-raw/raw"
	cfg.Staging = "gs://settle-test-raw/staging"
	cfg.CursorStore = "firestore://settle-test/settle-cursors"
	cfg.Warehouse = "bigquery://settle-test/settlements"
	cfg.From = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	cfg.To = time.Date(2026, 11, 1, 3, 0, 0, 0, time.UTC)

	done, err := useDataflow(t.Context(), d, "settle-test", &cfg)
	if err != nil {
		t.Fatalf("useDataflow with --dry-run: %v", err)
	}
	if !done {
		t.Fatalf("useDataflow with --dry-run = not done, want the jobs translated and the run skipped")
	}
	if cfg.TokenSecret != d.TokenSecret {
		t.Errorf("cfg.TokenSecret = %q, want %q", cfg.TokenSecret, d.TokenSecret)
	}

	// dryRun translated ingest, process, driver in this order; split the
	// log at each "Dry-run: not submitting job!".
	var jobs [][]string
	for _, m := range logs.take() {
		if strings.HasPrefix(m, "Dry-run: not submitting job") {
			jobs = append(jobs, nil)
			continue
		}
		if len(jobs) > 0 {
			jobs[len(jobs)-1] = append(jobs[len(jobs)-1], m)
		}
	}
	names := []string{"ingest", "process", "driver"}
	if len(jobs) != len(names) {
		t.Fatalf("dry run translated %d jobs, want %d (%v)", len(jobs), len(names), names)
	}
	for i, name := range names {
		t.Run(name, func(t *testing.T) {
			var job struct {
				Name        string `json:"name"`
				Type        string `json:"type"`
				ProjectID   string `json:"projectId"`
				Environment struct {
					ServiceAccountEmail string `json:"serviceAccountEmail"`
					WorkerPools         []struct {
						NumWorkers          int `json:"numWorkers"`
						AutoscalingSettings struct {
							MaxNumWorkers int `json:"maxNumWorkers"`
						} `json:"autoscalingSettings"`
					} `json:"workerPools"`
				} `json:"environment"`
			}
			var model string
			for _, m := range jobs[i] {
				if strings.HasPrefix(m, "{") {
					if err := json.Unmarshal([]byte(m), &job); err != nil {
						t.Fatalf("job JSON: %v", err)
					}
				} else if strings.Contains(m, "components:") {
					model = m
				}
			}
			if job.Type != "JOB_TYPE_BATCH" {
				t.Errorf("job type = %q, want JOB_TYPE_BATCH", job.Type)
			}
			wantName, wantSA, wantMax := "settle-settlements", d.ServiceAccount, d.MaxWorkers
			if name == "driver" {
				wantName, wantSA, wantMax = "settle-settlements-driver", d.DriverServiceAccount, 1
			}
			if job.Name != wantName || job.ProjectID != "settle-test" {
				t.Errorf("job name, project = %q, %q; want %q, settle-test", job.Name, job.ProjectID, wantName)
			}
			if got := job.Environment.ServiceAccountEmail; got != wantSA {
				t.Errorf("service account = %q, want %q", got, wantSA)
			}
			if len(job.Environment.WorkerPools) != 1 || job.Environment.WorkerPools[0].AutoscalingSettings.MaxNumWorkers != wantMax {
				t.Errorf("worker pools = %+v, want one with at most %d workers", job.Environment.WorkerPools, wantMax)
			}
			if model == "" {
				t.Fatalf("no pipeline model in the dry run's log")
			}
			var want []string
			switch name {
			case "ingest":
				want = []string{"beam:requirement:pardo:splittable_dofn:v1", "vendorapi.readPagesFn", "vendorapi.ReadPages"}
			case "process":
				want = []string{"beam:transform:combine_per_key:v1", "pipeline.Process"}
			case "driver":
				want = []string{"driveRunFn", "settle.Drive", "beam:transform:impulse:v1"}
			}
			for _, w := range want {
				if !strings.Contains(model, w) {
					t.Errorf("the %s job's graph lacks %q", name, w)
				}
			}
			if strings.Contains(model, "beam:requirement:pardo:splittable_dofn") != (name == "ingest") {
				t.Errorf("the %s job's graph has a splittable DoFn: %v, want %v", name, !(name == "ingest"), name == "ingest")
			}
		})
	}
}

func TestDryRunNeedsTheDataflowRunner(t *testing.T) {
	cfg := pipeline.DefaultConfig(t.TempDir())
	_, err := useDataflow(t.Context(), dataflowFlags{DryRun: true}, "p", &cfg)
	if err == nil || !strings.Contains(err.Error(), "--runner=dataflow") {
		t.Errorf("useDataflow(--dry-run, runner %s) = %v, want a usage error naming --runner=dataflow", cfg.Runner, err)
	}
	if done, err := useDataflow(t.Context(), dataflowFlags{}, "p", &cfg); done || err != nil {
		t.Errorf("useDataflow(runner %s) = %v, %v; want nothing done", cfg.Runner, done, err)
	}
}
