package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"
	_ "time/tzdata" // --deadline zones on machines without a zoneinfo database

	"github.com/marketplace/settle/pipeline/status"
)

// statusFlags are the thresholds of `settle status` and `settle report`
// (README, "Operations").
type statusFlags struct {
	deadline       string
	atRisk         time.Duration
	failureRuns    int
	failureWarn    float64
	failureCrit    float64
	parkedCritical time.Duration
	webhookSilence time.Duration
	webhookLag     time.Duration
	history        int
	now            time.Time
}

func addStatusFlags(fs *flagSet, s *statusFlags) {
	d := status.DefaultThresholds()
	fs.StringVar(&s.deadline, "deadline", "06:00 Europe/Berlin", "finance's deadline: day D (in that zone) is complete by this time on D+1, `\"HH:MM Zone\"`")
	fs.DurationVar(&s.atRisk, "at-risk", d.AtRisk, "a closed day not complete this close to its deadline is WARNING")
	fs.IntVar(&s.failureRuns, "failure-runs", d.FailureRuns, "newest runs the failure rate counts")
	fs.Float64Var(&s.failureWarn, "failure-warn", d.FailureWarn, "failure rate at or above which status is WARNING")
	fs.Float64Var(&s.failureCrit, "failure-critical", d.FailureCritical, "failure rate at or above which status is CRITICAL")
	fs.DurationVar(&s.parkedCritical, "parked-critical", d.ParkedCritical, "a window parked longer than this is CRITICAL (any parked window is WARNING)")
	fs.DurationVar(&s.webhookSilence, "webhook-silence", d.WebhookSilence, "while webhooks are in use, no event received for longer than this (as of the last sweep) is WARNING")
	fs.DurationVar(&s.webhookLag, "webhook-lag", d.WebhookLag, "while webhooks are in use, a webhook lag p99 above this is WARNING")
	fs.IntVar(&s.history, "history", 1000, "newest ledger rows read")
	fs.Var(timeFlag{&s.now}, "now", "judge as if it were this time, RFC 3339 (drills, simulated data; default: now)")
}

func (s *statusFlags) thresholds() (status.Thresholds, error) {
	dl, err := status.ParseDeadline(s.deadline)
	if err != nil {
		return status.Thresholds{}, usageErr("--deadline: %v", err)
	}
	if s.failureRuns < 1 || s.history < 1 {
		return status.Thresholds{}, usageErr("--failure-runs and --history want at least 1")
	}
	if s.failureWarn <= 0 || s.failureCrit < s.failureWarn || s.failureCrit > 1 {
		return status.Thresholds{}, usageErr("want 0 < --failure-warn <= --failure-critical <= 1")
	}
	if s.webhookSilence <= 0 || s.webhookLag <= 0 {
		return status.Thresholds{}, usageErr("--webhook-silence and --webhook-lag want a positive duration")
	}
	return status.Thresholds{Deadline: dl, AtRisk: s.atRisk, FailureRuns: s.failureRuns,
		FailureWarn: s.failureWarn, FailureCritical: s.failureCrit, ParkedCritical: s.parkedCritical,
		WebhookSilence: s.webhookSilence, WebhookLag: s.webhookLag}, nil
}

// clock is --now, or the time now.
func (s *statusFlags) clock() time.Time {
	if s.now.IsZero() {
		return time.Now()
	}
	return s.now
}

// cmdStatus prints the source's status and exits as a Nagios plugin: 0 OK,
// 1 WARNING, 2 CRITICAL, 3 UNKNOWN (no runs yet, or the state could not be
// read); 64 on a usage mistake.
func cmdStatus(ctx context.Context, args []string) int {
	fs := newFlagSet("status", "[--deadline \"06:00 Europe/Berlin\"] [--json] [flags]",
		"Print whether the source is complete and on time for finance, what failed, what is parked or held, and who runs now; exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.")
	var (
		b      backendFlags
		o      outputFlags
		s      statusFlags
		asJSON bool
	)
	fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
	addStatusFlags(fs, &s)
	addBackendFlags(fs, &b)
	addLogFlags(fs, &o)
	if err := parse(fs, args); err != nil {
		return fail("status", err)
	}
	th, err := s.thresholds()
	if err != nil {
		return fail("status", err)
	}
	cfg, err := b.config(&o)
	if err != nil {
		return fail("status", err)
	}
	o.logger()
	in, err := status.Gather(ctx, cfg, openWarehouseReadOnly, s.history)
	if err != nil {
		fmt.Fprintf(os.Stdout, "UNKNOWN: %s: %v\n", cfg.Source, err)
		return int(status.Unknown)
	}
	r := status.Evaluate(in, th, s.clock())
	if asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r); err != nil {
			return fail("status", err)
		}
	} else {
		printStatus(os.Stdout, r)
	}
	return int(r.Level)
}

// printStatus writes the report for people: the verdict line first (what a
// Nagios-style checker shows), then one line per fact.
func printStatus(w io.Writer, r status.Report) {
	fmt.Fprintf(w, "%s: %s\n", r.Level, r.Summary)
	if r.NoRuns {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "\nsource\t%s\n", r.Source)
	fmt.Fprintf(tw, "complete up to\t%s (%s ago; watermark %s)\n", stamp(r.CompleteUpTo), status.Age(r.Age), stamp(r.Watermark))
	fmt.Fprintf(tw, "deadline\t%s\n", r.Deadline)
	for _, v := range []*status.DayVerdict{r.LastDue, r.LastClosed} {
		if v != nil {
			fmt.Fprintf(tw, "  day %s\tdue %s: %s\n", v.Date, stamp(v.Due), strings.ToUpper(v.Verdict))
		}
	}
	fmt.Fprintf(tw, "last run\t%s\n", runLine(r.LastRun))
	fmt.Fprintf(tw, "last successful run\t%s\n", runLine(r.LastSuccessful))
	fmt.Fprintf(tw, "failure rate\t%d of the last %d runs (%.0f%%)\n", r.FailedRuns, r.CountedRuns, 100*r.FailureRate)
	if len(r.Parked) == 0 {
		fmt.Fprintf(tw, "dead letters\tnone parked\n")
	} else {
		fmt.Fprintf(tw, "dead letters\t%d window(s) parked, oldest %s (parked %s ago)\n", len(r.Parked), stamp(r.Parked[0].Start), status.Age(r.OldestParkedAge))
		fmt.Fprintf(tw, "  last error\t%s\n", oneLine(r.LastError, 120))
		fmt.Fprintf(tw, "  to do\t`settle deadletters`, then `settle redrive --vendor-url ...`\n")
	}
	if len(r.Held) == 0 {
		fmt.Fprintf(tw, "held batches\tnone\n")
	}
	for _, h := range r.Held {
		fmt.Fprintf(tw, "held batch\t%s, windows %s..%s, %d validated: %s\n", h.RunID, stamp(h.WindowStart), stamp(h.WindowEnd), h.Validated, oneLine(h.Detail, 100))
		fmt.Fprintf(tw, "  release with\t%s\n", h.Command)
	}
	switch {
	case r.Lease == nil || r.Lease.Owner == "":
		fmt.Fprintf(tw, "lease\tfree\n")
	case r.LeaseLive:
		fmt.Fprintf(tw, "lease\theld by %s (host %s, pid %d) until %s: a run is in progress\n", r.Lease.Owner, r.Lease.Host, r.Lease.PID, stamp(r.Lease.ExpiresAt))
	default:
		fmt.Fprintf(tw, "lease\tfree (last holder %s, expired %s)\n", r.Lease.Owner, stamp(r.Lease.ExpiresAt))
	}
	if r.Snapshot {
		fmt.Fprintf(tw, "ledger\tread from a snapshot copy: a run holds the warehouse\n")
	}
	printWebhook(tw, r)
	tw.Flush()
	if r.Level != status.OK {
		fmt.Fprintln(w, "\nchecks:")
		for _, c := range r.Checks {
			if c.Level != status.OK {
				fmt.Fprintf(w, "  %-8s %-13s %s\n", c.Level, c.Name, c.Text)
			}
		}
	}
}

// printWebhook writes the webhook section, when the channel is in use.
func printWebhook(tw io.Writer, r status.Report) {
	w := r.Webhook
	switch {
	case w == nil:
		return
	case !w.Swept:
		fmt.Fprintf(tw, "webhook\tin use, no sweep yet: `settle sweep` records what the webhooks missed\n")
		return
	case w.LastReceived.IsZero():
		fmt.Fprintf(tw, "webhook\tno event received (as of the last sweep)\n")
	default:
		fmt.Fprintf(tw, "webhook\tlast event received %s (%s ago, as of the last sweep)\n", stamp(w.LastReceived), status.Age(w.LastReceivedAge))
	}
	fmt.Fprintf(tw, "  lag\tp50 %s, p99 %s, max %s\n", status.Age(w.LagP50), status.Age(w.LagP99), status.Age(w.LagMax))
	fmt.Fprintf(tw, "  last sweep\t%s (%s ago), updated_at %s..%s\n", stamp(w.SweptAt), status.Age(w.SweepAge), stamp(w.SweepFrom), stamp(w.SweepTo))
	fmt.Fprintf(tw, "  swept versions\t%d listed; %d webhook event(s) received for the range\n", w.SweepVersions, w.WebhookEvents)
	if w.MissedByWebhook == 0 {
		fmt.Fprintf(tw, "  missed by webhooks\tnone\n")
	} else {
		fmt.Fprintf(tw, "  missed by webhooks\t%d (%s)\n", w.MissedByWebhook, status.MissedSampleText(w.MissedSample, 5))
	}
}

func runLine(r *status.RunBrief) string {
	if r == nil {
		return "none"
	}
	s := fmt.Sprintf("%s %s %s, started %s", r.Kind, r.RunID, strings.ToUpper(r.Outcome), stamp(r.StartedAt))
	if !r.FinishedAt.IsZero() {
		s += fmt.Sprintf(", took %s", r.FinishedAt.Sub(r.StartedAt).Round(time.Second))
	}
	return s
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}
