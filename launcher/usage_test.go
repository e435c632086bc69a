package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/marketplace/settle/pipeline"
)

// runCaptured runs the CLI in-process and returns its exit status, stdout
// and stderr.
func runCaptured(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	dir := t.TempDir()
	out, err := os.Create(filepath.Join(dir, "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	errf, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	oldOut, oldErr, oldLog := os.Stdout, os.Stderr, slog.Default()
	os.Stdout, os.Stderr = out, errf
	func() {
		defer func() { os.Stdout, os.Stderr = oldOut, oldErr; slog.SetDefault(oldLog) }()
		code = run(t.Context(), args)
	}()
	out.Close()
	errf.Close()
	o, _ := os.ReadFile(out.Name())
	e, _ := os.ReadFile(errf.Name())
	return code, string(o), string(e)
}

// TestUsageMistakesExit64WithOneLineNamingTheFlag: every command, every
// kind of mistake (unknown flag, value of the wrong type, value out of
// range, bad enum, bad time, missing required flag, stray argument): exit
// 64 and one line on stderr that names the flag, and nothing created.
func TestUsageMistakesExit64WithOneLineNamingTheFlag(t *testing.T) {
	const from, to = "--from=2026-11-25T00:00:00Z", "--to=2026-11-25T02:00:00Z"
	const lateFrom, earlyTo = "--from=2026-11-25T02:00:00Z", "--to=2026-11-25T00:00:00Z"
	cases := []struct {
		args []string
		want string // in the one line
	}{
		{[]string{"run", "--rate=abc"}, "--rate=abc: want a number"},
		{[]string{"run", "--rate=0", "--vendor-url=http://x"}, "--rate=0"},
		{[]string{"run", "--burst=x"}, "--burst=x: want a whole number"},
		{[]string{"run", "--burst=0"}, "--burst=0"},
		{[]string{"run", "--page-size=501"}, "--page-size=501"},
		{[]string{"run", "--concurrency=0"}, "--concurrency=0"},
		{[]string{"run", "--window=48h"}, "--window=48h0m0s"},
		{[]string{"run", "--window=1 hour"}, "--window=1 hour: want a duration"},
		{[]string{"run", "--window"}, "--window needs a value"},
		{[]string{"run", "--lookback=-1h"}, "--lookback"},
		{[]string{"run", "--retry-budget=0s"}, "--retry-budget"},
		{[]string{"run", "--max-attempts=0"}, "--max-attempts=0"},
		{[]string{"run", "--lease-ttl=0s"}, "--lease-ttl"},
		{[]string{"run", "--backend=x"}, "--backend=x: want local or gcp"},
		{[]string{"run", "--backend=gcp"}, "--project"},
		{[]string{"run", "--log-level=x"}, "--log-level=x: want debug, info, warn or error"},
		{[]string{"run", "--log-format=xml"}, "--log-format=xml"},
		{[]string{"run", "--runner=spark"}, "--runner=spark: want prism or dataflow"},
		{[]string{"run", "--from=yesterday"}, "--from=yesterday: want an RFC 3339 time"},
		{[]string{"run", "--to=2026-13-01"}, "--to=2026-13-01"},
		{[]string{"run", lateFrom, earlyTo}, "--from=2026-11-25T02:00:00Z is not before --to"},
		{[]string{"run", lateFrom, to}, "is not before --to"},
		{[]string{"replay", lateFrom, earlyTo}, "is not before --to"},
		{[]string{"refetch", lateFrom, earlyTo, "--vendor-url=http://x"}, "is not before --to"},
		{[]string{"run", "--currencies=US"}, "--currencies"},
		{[]string{"run", "--currencies="}, "--currencies"},
		{[]string{"run", "--chunk-windows=0"}, "--chunk-windows=0"},
		{[]string{"run", "--process-parallelism=-1"}, "--process-parallelism=-1"},
		{[]string{"run", "--volume-band=0"}, "--volume-band"},
		{[]string{"run", "--volume-history=0"}, "--volume-history"},
		{[]string{"run", "--vendor-url=ftp://x"}, "--vendor-url=ftp://x"},
		{[]string{"run", "--source=a/b"}, "--source"},
		{[]string{"run", "--warehouse=warehouse.duckdb"}, "--warehouse"},
		{[]string{"run"}, "--vendor-url is required"},
		{[]string{"run", "--simulate"}, "--simulate needs --from and --to"},
		{[]string{"run", "--simulate", "--sim-faults=bogus", from, to}, "--sim-faults"},
		{[]string{"run", "--dry-run", "--vendor-url=http://x"}, "--dry-run"},
		{[]string{"run", "--max-workers=0", "--runner=dataflow", "--project=p", "--region=r", "--staging-location=gs://bucket/s"}, "--max-workers"},
		{[]string{"run", "--no-such-flag"}, "unknown flag --no-such-flag"},
		{[]string{"run", "stray"}, `unexpected argument "stray"`},
		{[]string{"launch", "--rate=abc"}, "--rate=abc"},
		{[]string{"launch", "--project=p", "--region=r", "--raw-bucket=b", "--staging-location=gs://bkt/s", "--vendor-url=http://v", "--source=webhook"}, "--service-account is required"},
		{[]string{"launch", "--project=p", "--region=r", "--raw-bucket=b", "--staging-location=gs://bkt/s", "--service-account=settle-worker@p.iam.gserviceaccount.com", "--source=sweep"}, "--vendor-url and --token-secret are required"},
		{[]string{"replay"}, "--from and --to are required"},
		{[]string{"replay", from}, "--from and --to are required"},
		{[]string{"replay", from, "--to=tomorrow"}, "--to=tomorrow"},
		{[]string{"replay", from, to, "--vendor-url=http://x"}, "unknown flag --vendor-url"},
		{[]string{"replay", from, to, "--chunk-windows=0"}, "--chunk-windows=0"},
		{[]string{"redrive"}, "--vendor-url is required"},
		{[]string{"redrive", "--max-attempts=-1"}, "--max-attempts=-1"},
		{[]string{"redrive", "--sim-records=5"}, "unknown flag --sim-records"},
		{[]string{"refetch", "--vendor-url=http://x"}, "--from and --to are required"},
		{[]string{"refetch", from, to}, "--vendor-url is required"},
		{[]string{"refetch", from, to, "--retry-budget=abc"}, "--retry-budget=abc"},
		{[]string{"refetch", from, to, "--runner=dataflow"}, "unknown flag --runner"},
		{[]string{"deadletters", "--rate=1"}, "unknown flag --rate"},
		{[]string{"deadletters", "--backend=gcp", "--raw-bucket=b"}, "--project"},
		{[]string{"deadletters", "--log-level=loud"}, "--log-level=loud"},
		{[]string{"deadletters", "x"}, `unexpected argument "x"`},
		{[]string{"promote"}, "--run-id is required"},
		{[]string{"promote", "--run-id"}, "--run-id needs a value"},
		{[]string{"promote", "--run-id=r", "--quiet"}, "unknown flag --quiet"},
		{[]string{"runs", "-n", "-5"}, "-n=-5: want at least 1"},
		{[]string{"runs", "-n", "0"}, "-n=0"},
		{[]string{"runs", "-n", "abc"}, "-n=abc: want a whole number"},
		{[]string{"runs", "--wait=-1s"}, "--wait"},
		{[]string{"runs", "--wait=soon"}, "--wait=soon"},
		{[]string{"runs", "--burst=3"}, "unknown flag --burst"},
		{[]string{"runs", "extra"}, `unexpected argument "extra"`},
		{[]string{"vendorsim", "--records=-1"}, "--records=-1"},
		{[]string{"vendorsim", "--seed=x"}, "--seed=x"},
		{[]string{"vendorsim", "--faults=bogus"}, "--faults=bogus"},
		{[]string{"vendorsim", "--rate-limit=-2"}, "--rate-limit"},
		{[]string{"vendorsim", lateFrom, earlyTo}, "is not before --to"},
		{[]string{"status", "--rate=1"}, "unknown flag --rate"},
		{[]string{"status", "--now=noon"}, "--now=noon: want an RFC 3339 time"},
		{[]string{"status", "--history=x"}, "--history=x: want a whole number"},
		{[]string{"report", "--vendor-url=http://x"}, "unknown flag --vendor-url"},
		{[]string{"report", "--log-level=x"}, "--log-level=x"},
		{[]string{"reconcile"}, "--date is required"},
		{[]string{"reconcile", "--date=2026-11-31"}, "--date=2026-11-31"},
		{[]string{"reconcile", "--date=2026-11-01", "--quiet"}, "unknown flag --quiet"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"help", "frobnicate"}, `unknown command "frobnicate"`},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			dir := t.TempDir()
			t.Chdir(dir) // a default ./data must not appear either
			args := c.args
			if args[0] != "frobnicate" && args[0] != "help" && args[0] != "vendorsim" {
				args = append([]string{args[0], "--data-dir=" + filepath.Join(dir, "data")}, args[1:]...)
			}
			code, stdout, stderr := runCaptured(t, args...)
			if code != exitUsage {
				t.Errorf("exit %d, want %d (usage); stderr: %s", code, exitUsage, stderr)
			}
			line := strings.TrimSuffix(stderr, "\n")
			if line == "" || strings.Contains(line, "\n") {
				t.Errorf("stderr is not one line:\n%s", stderr)
			}
			if !strings.Contains(line, c.want) {
				t.Errorf("stderr %q does not say %q", line, c.want)
			}
			for _, noise := range []string{"Usage of", "flag provided", "Binder Error", ": usage", "Nothing promoted"} {
				if strings.Contains(stderr, noise) {
					t.Errorf("stderr has %q: %s", noise, stderr)
				}
			}
			if stdout != "" {
				t.Errorf("stdout is not empty: %q", stdout)
			}
			if entries, _ := os.ReadDir(dir); len(entries) > 0 {
				t.Errorf("a usage mistake created %v in the working directory", entries)
			}
		})
	}
}

// TestHelpExits0AndListsOnlyTheCommandsOwnFlags: -h, --help and `settle
// help <cmd>` print the command's usage on stdout, by section, and exit 0.
func TestHelpExits0AndListsOnlyTheCommandsOwnFlags(t *testing.T) {
	cases := []struct {
		cmd      string
		sections []string
		has      []string
		hasNot   []string
	}{
		{"run", []string{"Vendor:", "Back end:", "Processing:", "Dataflow:", "Simulator:", "Output:"},
			[]string{"--from", "--vendor-url", "--data-dir", "--chunk-windows", "--runner", "--region", "--sim-seed", "--quiet", "--lease-ttl"}, []string{"--wait", "--run-id"}},
		{"replay", []string{"Back end:", "Processing:", "Dataflow:", "Output:"},
			[]string{"--from", "--to", "--data-dir", "--runner"}, []string{"--vendor-url", "--rate", "--burst", "--sim-seed"}},
		{"redrive", []string{"Vendor:", "Back end:", "Processing:", "Dataflow:", "Output:"},
			[]string{"--vendor-url", "--runner"}, []string{"--from", "--sim-seed"}},
		{"refetch", []string{"Vendor:", "Back end:", "Processing:", "Output:"},
			[]string{"--all", "--dry-run", "--vendor-url"}, []string{"--runner", "--region", "--sim-seed"}},
		{"deadletters", []string{"Back end:", "Output:"},
			[]string{"--data-dir", "--log-level"}, []string{"--vendor-url", "--burst", "--sim-seed", "--quiet", "--runner", "--chunk-windows", "--lease-ttl"}},
		{"promote", []string{"Back end:", "Output:"},
			[]string{"--run-id", "--data-dir", "--lease-ttl"}, []string{"--vendor-url", "--burst", "--sim-seed", "--runner"}},
		{"runs", []string{"Flags:", "Back end:", "Output:"},
			[]string{"-n", "--data-dir", "--wait"}, []string{"--vendor-url", "--burst", "--sim-", "--quiet", "--runner", "--chunk-windows", "--region"}},
		{"launch", []string{"Vendor:", "Back end:", "Dataflow:"},
			[]string{"--vendor-url", "--token-secret", "--region"}, []string{"--wait", "--run-id"}},
		{"vendorsim", []string{"Flags:"},
			[]string{"--addr", "--faults"}, []string{"--data-dir", "--vendor-url"}},
	}
	for _, c := range cases {
		for _, args := range [][]string{{c.cmd, "-h"}, {c.cmd, "--help"}, {"help", c.cmd}} {
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				t.Chdir(t.TempDir())
				code, stdout, stderr := runCaptured(t, args...)
				if code != exitOK {
					t.Errorf("exit %d, want 0; stderr: %s", code, stderr)
				}
				if stderr != "" {
					t.Errorf("stderr not empty: %q", stderr)
				}
				if !strings.HasPrefix(stdout, "Usage: settle "+c.cmd+" ") {
					t.Errorf("stdout does not start with the command's usage:\n%s", stdout)
				}
				at := -1
				for _, s := range c.sections {
					i := strings.Index(stdout, "\n"+s+"\n")
					if i < 0 {
						t.Errorf("no section %q:\n%s", s, stdout)
					} else if i < at {
						t.Errorf("section %q out of order:\n%s", s, stdout)
					}
					at = i
				}
				for _, f := range c.has {
					if !strings.Contains(stdout, "  "+f+" ") && !strings.Contains(stdout, "  "+f+"\n") {
						t.Errorf("usage lacks %s:\n%s", f, stdout)
					}
				}
				for _, f := range c.hasNot {
					if strings.Contains(stdout, "  "+f) {
						t.Errorf("usage lists %s, which is no flag of %s:\n%s", f, c.cmd, stdout)
					}
				}
			})
		}
	}
	for _, args := range [][]string{{"-h"}, {"--help"}, {"help"}} {
		code, stdout, _ := runCaptured(t, args...)
		if code != exitOK || !strings.Contains(stdout, "settle runs") {
			t.Errorf("settle %s: exit %d, stdout %q; want 0 and the command list", args[0], code, stdout)
		}
	}
	if code, _, stderr := runCaptured(t); code != exitUsage || stderr == "" {
		t.Errorf("settle with no command: exit %d, stderr %q; want 64 and the usage", code, stderr)
	}
}

// TestLaunchBuildsTheJobOfTheWebhookRunAndTheSweep: what the Cloud
// Scheduler jobs settle-webhook and settle-sweep launch (webhook.tf: the
// scheduled run's parameters with source, job-name and, for the sweep,
// rate and burst) is, translated offline with --dry-run, the one batch
// job of `settle run --source=webhook` (no vendor stage, no vendor URL or
// token needed) and of `settle sweep` (the pull under source sweep at the
// list endpoint's 5 requests per second, then the webhook check).
func TestLaunchBuildsTheJobOfTheWebhookRunAndTheSweep(t *testing.T) {
	logs := offlineLaunch(t)

	base := []string{
		"--project=acme", "--region=europe-west1",
		"--raw-bucket=acme-settle-raw",
		"--service-account=settle-worker@acme.iam.gserviceaccount.com",
		"--staging-location=gs://acme-settle-dataflow/staging",
		"--worker-binary=/nonexistent/worker",
		"--dry-run",
	}
	vendor := []string{"--vendor-url=https://api.vendor.example", "--token-secret=projects/acme/secrets/settle-settlements-vendor-token"}
	tests := []struct {
		name    string
		args    []string
		job     string
		has     []string
		hasNot  []string
		channel string
	}{
		{
			name:    "source webhook is the webhook run's job, without a vendor",
			args:    []string{"--source=webhook", "--job-name=settle-webhook"},
			job:     "settle-webhook",
			channel: pipeline.ChannelWebhook,
			has:     []string{"planFn", "objectsFn", "landFn", "reportFn", `"source":"webhook"`},
			hasNot:  []string{"readPagesFn", "tasksFn", "checkWebhooksFn"},
		},
		{
			name:    "source webhook from the scheduled parameters, vendor ones included",
			args:    append([]string{"--source=webhook", "--job-name=settle-webhook"}, vendor...),
			job:     "settle-webhook",
			channel: pipeline.ChannelWebhook,
			has:     []string{"planFn", "objectsFn", "landFn", "reportFn"},
			hasNot:  []string{"readPagesFn", "checkWebhooksFn"},
		},
		{
			name:    "source sweep is the sweep's job at 5 requests per second, checking the webhook source",
			args:    append([]string{"--source=sweep", "--job-name=settle-sweep", "--rate=25", "--burst=50"}, vendor...),
			job:     "settle-sweep",
			channel: pipeline.ChannelSweep,
			has: []string{"planFn", "readPagesFn", "objectsFn", "landFn", "checkWebhooksFn", "reportFn",
				`"source":"sweep"`, `"webhook_source":"webhook"`, `"rate":5,`, `"burst":5,`},
		},
		{
			name:   "the pull's launch is unchanged",
			args:   append([]string{"--job-name=settle-settlements"}, vendor...),
			job:    "settle-settlements",
			has:    []string{"planFn", "readPagesFn", "landFn", "reportFn", `"channel":""`},
			hasNot: []string{"checkWebhooksFn"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keepBeamFlags(t)
			jobs, model := launchDryRun(t, logs, append(append([]string(nil), base...), tt.args...))
			if len(jobs) != 1 {
				t.Fatalf("settle launch translated %d jobs, want one", len(jobs))
			}
			if jobs[0]["type"] != "JOB_TYPE_BATCH" || jobs[0]["name"] != tt.job {
				t.Errorf("job type, name = %v, %v; want JOB_TYPE_BATCH, %s", jobs[0]["type"], jobs[0]["name"], tt.job)
			}
			if tt.channel != "" {
				tt.has = append(tt.has, `"channel":"`+tt.channel+`"`)
			}
			for _, want := range tt.has {
				if !strings.Contains(model, want) {
					t.Errorf("the launched job lacks %s", want)
				}
			}
			for _, not := range tt.hasNot {
				if strings.Contains(model, not) {
					t.Errorf("the launched job has %s", not)
				}
			}
		})
	}
}

// TestLaunchSpecOfTheSweepCoversItsSpan: the sweep's launch reads the
// last pipeline.SweepSpan up to the vendor's visibility lag, as `settle
// sweep` does, under source sweep.
func TestLaunchSpecOfTheSweepCoversItsSpan(t *testing.T) {
	cfg := pipeline.DefaultConfig(t.TempDir())
	cfg.Source = pipeline.SweepSource
	now := time.Date(2026, 11, 25, 14, 3, 7, 0, time.UTC)
	spec := launchSpec(cfg, now)
	wantFrom := now.Add(-cfg.VisibilityLag - pipeline.SweepSpan).Truncate(time.Minute)
	if spec.Channel != pipeline.ChannelSweep || spec.Config.Source != pipeline.SweepSource || spec.WebhookSource != pipeline.WebhookSource ||
		!spec.Config.From.Equal(wantFrom) || spec.Config.Rate != pipeline.SweepRate || spec.Kind != pipeline.KindRun {
		t.Errorf("launchSpec(source sweep) = channel %q, source %q checking %q, from %s, rate %v, kind %s; want %q, %q checking %q, from %s, rate %v, kind %s",
			spec.Channel, spec.Config.Source, spec.WebhookSource, spec.Config.From, spec.Config.Rate, spec.Kind,
			pipeline.ChannelSweep, pipeline.SweepSource, pipeline.WebhookSource, wantFrom, float64(pipeline.SweepRate), pipeline.KindRun)
	}
	cfg.Source = pipeline.WebhookSource
	if spec := launchSpec(cfg, now); spec.Channel != pipeline.ChannelWebhook || spec.Config.Source != pipeline.WebhookSource || !spec.Config.From.IsZero() {
		t.Errorf("launchSpec(source webhook) = channel %q, source %q, from %s; want %q, %q, from the watermark", spec.Channel, spec.Config.Source, spec.Config.From, pipeline.ChannelWebhook, pipeline.WebhookSource)
	}
}
