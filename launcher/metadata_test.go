package main

import (
	"encoding/json"
	"flag"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// templateMetadata is launcher/deploy/metadata.json, the Flex Template's
// parameter declarations.
type templateMetadata struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Streaming   bool   `json:"streaming"`
	Parameters  []struct {
		Name       string   `json:"name"`
		Label      string   `json:"label"`
		HelpText   string   `json:"helpText"`
		IsOptional bool     `json:"isOptional"`
		Regexes    []string `json:"regexes"`
	} `json:"parameters"`
}

func loadMetadata(t *testing.T) templateMetadata {
	t.Helper()
	b, err := os.ReadFile("deploy/metadata.json")
	if err != nil {
		t.Fatalf("reading metadata.json: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	var m templateMetadata
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("decoding metadata.json: %v", err)
	}
	return m
}

// notTemplateParameters are the run flags a template launch does not take,
// and why. A new run flag fails TestMetadataDeclaresEveryRunFlag until it
// is declared in metadata.json or listed here.
var notTemplateParameters = map[string]string{
	"project":                "the launch's project (Beam's --project, set by the template launcher)",
	"region":                 "the launch's region (Beam's --region, set by the template launcher)",
	"backend":                "settle launch always uses gcp",
	"runner":                 "settle launch always uses dataflow",
	"data-dir":               "local back end only",
	"quiet":                  "no progress lines on a Dataflow worker",
	"log-format":             "a worker logs through Beam's logger",
	"dry-run":                "a template launch runs; dry runs are for the CLI",
	"worker-binary":          "the image's own binary is the worker binary",
	"driver-service-account": "the launch environment's serviceAccountEmail is the driver's",
	"window":                 "the window size is part of every window key: not a per-launch choice",
	"cpuprofile":             "profiling is for a run on one machine",
	"warehouse":              "--backend=gcp derives bigquery://<project>/<dataset> from --project and --dataset",
	"process-parallelism":    "on Dataflow a process job is parallel across its workers, and two at once would share the fixed job name (Dataflow refuses the second)",
	"simulate":               "the simulator serves on one machine only",
	"sim-records":            "the simulator serves on one machine only",
	"sim-seed":               "the simulator serves on one machine only",
	"sim-faults":             "the simulator serves on one machine only",
	"sim-metadata-bytes":     "the simulator serves on one machine only",
	"sim-truth":              "the simulator serves on one machine only",
}

// requiredForScheduledRun are the parameters without which a scheduled
// launch cannot run: they must be declared and not optional.
var requiredForScheduledRun = []string{"vendor-url", "token-secret", "raw-bucket", "service-account"}

// sampleValues are valid values of parameters whose flag has no default.
var sampleValues = map[string][]string{
	"vendor-url":           {"https://api.vendor.example", "https://api.vendor.example:8443/v2"},
	"token-secret":         {"projects/acme-prod/secrets/settle-settlements-vendor-token", "projects/acme-prod/secrets/t/versions/3", "projects/acme-prod/secrets/t/versions/latest"},
	"raw-bucket":           {"acme-prod-settle-raw"},
	"service-account":      {"settle-worker@acme-prod.iam.gserviceaccount.com"},
	"staging-location":     {"gs://acme-prod-settle-dataflow/staging"},
	"temp-location":        {"gs://acme-prod-settle-dataflow/tmp"},
	"job-name":             {"settle-settlements"},
	"worker-machine-type":  {"e2-standard-2", "n2-highmem-4", "custom-4-16384"},
	"worker-network":       {"settle-vpc"},
	"worker-subnetwork":    {"regions/europe-west1/subnetworks/dataflow", "https://www.googleapis.com/compute/v1/projects/acme/regions/europe-west1/subnetworks/dataflow"},
	"no-public-ips":        {"true", "false"},
	"from":                 {"2026-11-01T00:00:00Z", "2026-11-01T00:00:00.5+01:00"},
	"to":                   {"2026-11-02T00:00:00Z"},
	"retry-budget":         {"90s", "1h30m"},
	"rate":                 {"12.5"},
	"firestore-collection": {"settle-cursors-eu"},
	"source":               {"settlements_eu"},
}

// garbage is refused by every parameter's regexes.
var garbage = []string{"", " ", "has space", "line\nbreak", "x;rm -rf /", "$(id)", "`id`"}

// garbageFor is refused by one parameter's regexes.
var garbageFor = map[string][]string{
	"vendor-url":          {"http://api.vendor.example", "api.vendor.example", "https://", "https://api.vendor.example/?token=x"},
	"token-secret":        {"vendor-token", "tok_live_abc123", "projects/p/secrets/s/versions/0", "projects/p/secrets/"},
	"raw-bucket":          {"gs://bucket", "Bucket", "b", "bucket/raw"},
	"service-account":     {"ops@example.com", "settle-worker"},
	"staging-location":    {"/tmp/staging", "s3://b/staging", "gs://B/x"},
	"job-name":            {"Settle", "settle_settlements", "-settle", "settle-"},
	"max-workers":         {"0", "-1", "1.5", "many", "99999"},
	"page-size":           {"0", "501", "1000", "-5"},
	"rate":                {"-1", "fast", "1e9"},
	"burst":               {"0", "-3"},
	"concurrency":         {"0"},
	"retry-budget":        {"5", "5 minutes", "-5m"},
	"lookback":            {"1d", "hour"},
	"currencies":          {"usd", "USD,", "USD,EURO", "US"},
	"volume-band":         {"-0.5", "half"},
	"log-level":           {"verbose", "INFO"},
	"from":                {"2026-11-01", "2026-11-01T00:00:00", "yesterday", "1762000000"},
	"no-public-ips":       {"yes", "1"},
	"worker-machine-type": {"e2", "E2-STANDARD-2"},
}

func TestMetadataIsWellFormed(t *testing.T) {
	m := loadMetadata(t)
	if m.Name == "" || m.Description == "" {
		t.Errorf("metadata name %q, description %q: want both", m.Name, m.Description)
	}
	if m.Streaming {
		t.Errorf("metadata says streaming: the run is a batch job")
	}
	seen := map[string]bool{}
	for _, p := range m.Parameters {
		if seen[p.Name] {
			t.Errorf("parameter %q declared twice", p.Name)
		}
		seen[p.Name] = true
		if p.Label == "" || len(p.HelpText) < 20 {
			t.Errorf("parameter %q: label %q, help %q: want a label and a helpful text", p.Name, p.Label, p.HelpText)
		}
		if len(p.Regexes) == 0 {
			t.Errorf("parameter %q has no validation regex", p.Name)
		}
		for _, re := range p.Regexes {
			if !strings.HasPrefix(re, "^") || !strings.HasSuffix(re, "$") {
				t.Errorf("parameter %q regex %q: want it anchored with ^ and $", p.Name, re)
			}
			if _, err := regexp.Compile(re); err != nil {
				t.Errorf("parameter %q regex %q: %v", p.Name, re, err)
			}
		}
	}
}

// TestMetadataParametersAreAcceptedByTheLauncher passes every parameter
// the way the template launcher does (--name=value, with its own Beam
// flags beside them) to the run FlagSet of `settle launch`.
func TestMetadataParametersAreAcceptedByTheLauncher(t *testing.T) {
	m := loadMetadata(t)
	fs, _ := newRunFlagSet()
	args := []string{"--template_location=gs://b/template_launches/1/job_object", "--staging_location=gs://b/staging"}
	for _, p := range m.Parameters {
		f := fs.Lookup(p.Name)
		if f == nil {
			t.Errorf("parameter %q is not a flag of settle run", p.Name)
			continue
		}
		for _, v := range valuesOf(p.Name, f) {
			args = append(args, "--"+p.Name+"="+v)
		}
	}
	ours, beam, unknown := splitLaunchArgs(fs, flag.CommandLine, args)
	if len(unknown) > 0 {
		t.Errorf("launch arguments neither settle nor Beam knows: %q", unknown)
	}
	if len(beam) != 2 {
		t.Errorf("Beam's share of the launch arguments = %v, want only the launcher's two (no parameter may be a Beam flag)", beam)
	}
	if err := parse(fs, ours); err != nil {
		t.Errorf("settle launch refuses the template's parameters: %v", err)
	}
}

func valuesOf(name string, f *flag.Flag) []string {
	var vs []string
	if f.DefValue != "" {
		vs = append(vs, f.DefValue)
	}
	return append(vs, sampleValues[name]...)
}

func TestMetadataDeclaresEveryRunFlag(t *testing.T) {
	m := loadMetadata(t)
	declared := map[string]bool{}
	optional := map[string]bool{}
	for _, p := range m.Parameters {
		declared[p.Name] = true
		optional[p.Name] = p.IsOptional
		if why, ok := notTemplateParameters[p.Name]; ok {
			t.Errorf("parameter %q is declared, but listed as not a template parameter (%s)", p.Name, why)
		}
	}
	fs, _ := newRunFlagSet()
	var missing []string
	fs.VisitAll(func(f *flag.Flag) {
		if !declared[f.Name] && notTemplateParameters[f.Name] == "" {
			missing = append(missing, f.Name)
		}
	})
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("run flags neither declared in metadata.json nor listed in notTemplateParameters: %q", missing)
	}
	for _, name := range requiredForScheduledRun {
		if !declared[name] || optional[name] {
			t.Errorf("parameter %q: declared %v, optional %v; a scheduled run needs it declared and required", name, declared[name], optional[name])
		}
	}
}

func TestMetadataRegexesAcceptDefaultsAndRejectGarbage(t *testing.T) {
	m := loadMetadata(t)
	fs, _ := newRunFlagSet()
	for _, p := range m.Parameters {
		t.Run(p.Name, func(t *testing.T) {
			f := fs.Lookup(p.Name)
			if f == nil {
				t.Fatalf("parameter %q is not a flag of settle run", p.Name)
			}
			var res []*regexp.Regexp
			for _, re := range p.Regexes {
				c, err := regexp.Compile(re)
				if err != nil {
					t.Fatalf("regex %q: %v", re, err)
				}
				res = append(res, c)
			}
			match := func(v string) bool {
				for _, re := range res {
					if !re.MatchString(v) {
						return false
					}
				}
				return true
			}
			valid := valuesOf(p.Name, f)
			if len(valid) == 0 {
				t.Fatalf("no default and no sample value to check the regexes of %q with: add one to sampleValues", p.Name)
			}
			for _, v := range valid {
				if !match(v) {
					t.Errorf("regexes %q refuse the valid value %q", p.Regexes, v)
				}
			}
			for _, v := range append(append([]string(nil), garbage...), garbageFor[p.Name]...) {
				if match(v) {
					t.Errorf("regexes %q accept the garbage %q", p.Regexes, v)
				}
			}
		})
	}
}

// TestSchedulerLaunchMatchesMetadata reads the scheduled launch's
// parameters from the Terraform and checks them against metadata.json: all
// declared, every required one present, and no window bounds (a scheduled
// run derives its range from the watermark).
func TestSchedulerLaunchMatchesMetadata(t *testing.T) {
	m := loadMetadata(t)
	b, err := os.ReadFile("deploy/terraform/scheduler.tf")
	if err != nil {
		t.Fatalf("reading scheduler.tf: %v", err)
	}
	src := string(b)
	start := strings.Index(src, "launch_parameters = merge(")
	end := strings.Index(src, "launch_environment = merge(")
	if start < 0 || end < start {
		t.Fatalf("scheduler.tf: no launch_parameters block before launch_environment")
	}
	keys := map[string]bool{}
	for _, mm := range regexp.MustCompile(`"([a-z][a-z-]*)"\s*=`).FindAllStringSubmatch(src[start:end], -1) {
		keys[mm[1]] = true
	}
	if len(keys) < len(requiredForScheduledRun) {
		t.Fatalf("scheduler.tf launch parameters %v: too few, the pattern is stale", keys)
	}
	declared := map[string]bool{}
	for _, p := range m.Parameters {
		declared[p.Name] = true
		if !p.IsOptional && !keys[p.Name] {
			t.Errorf("required parameter %q is not in the scheduled launch", p.Name)
		}
	}
	for k := range keys {
		if !declared[k] {
			t.Errorf("the scheduled launch passes %q, which metadata.json does not declare (Dataflow refuses the launch)", k)
		}
	}
	for _, window := range []string{"from", "to"} {
		if keys[window] {
			t.Errorf("the scheduled launch passes %q: a scheduled run must derive its window from the watermark", window)
		}
	}
}
