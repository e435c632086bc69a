// Package status answers the operator's morning questions about a source:
// is the data complete, was it on time for finance, what failed, what is
// parked or held, and who runs now. Evaluate is pure (inputs and a clock
// in, a Report out); Gather reads the inputs from the back ends without
// writing anything.
package status

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/marketplace/settle/io/warehouse"
	"github.com/marketplace/settle/pipeline"
)

// Level is a check's verdict, numbered as Nagios plugins exit.
type Level int

// Levels, from good to unknown.
const (
	OK       Level = 0
	Warning  Level = 1
	Critical Level = 2
	Unknown  Level = 3
)

func (l Level) String() string {
	switch l {
	case OK:
		return "OK"
	case Warning:
		return "WARNING"
	case Critical:
		return "CRITICAL"
	}
	return "UNKNOWN"
}

// MarshalText writes the level's name.
func (l Level) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// worse orders levels for the overall verdict: CRITICAL, then UNKNOWN,
// then WARNING, then OK.
func worse(a, b Level) Level {
	rank := map[Level]int{OK: 0, Warning: 1, Unknown: 2, Critical: 3}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

// Thresholds are the documented limits of the checks (README, "Operations").
type Thresholds struct {
	Deadline Deadline
	// AtRisk: a closed day not yet complete this close to its deadline is
	// WARNING (default 2h).
	AtRisk time.Duration
	// FailureRuns is how many newest runs the failure rate counts (default
	// 10); FailureWarn and FailureCritical are its limits (0.2, 0.5).
	FailureRuns                  int
	FailureWarn, FailureCritical float64
	// ParkedCritical: a window parked longer than this is CRITICAL
	// (default 24h); any parked window is WARNING.
	ParkedCritical time.Duration
	// WebhookSilence: while the webhook channel is in use, no event
	// received for longer than this (as of the last sweep) is WARNING
	// (default 6h: twice the sweep's 3-hourly schedule). WebhookLag: a
	// webhook lag p99 above it is WARNING (default 1h).
	WebhookSilence, WebhookLag time.Duration
}

// DefaultThresholds returns the documented defaults, deadline 06:00 UTC.
func DefaultThresholds() Thresholds {
	return Thresholds{
		Deadline:    Deadline{Hour: 6, Location: time.UTC},
		AtRisk:      2 * time.Hour,
		FailureRuns: 10, FailureWarn: 0.2, FailureCritical: 0.5,
		ParkedCritical: 24 * time.Hour,
		WebhookSilence: 6 * time.Hour, WebhookLag: time.Hour,
	}
}

// ParkedWindow is a window parked on a dead letter.
type ParkedWindow struct {
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	Since     time.Time `json:"since"` // when it was parked (its state's last update)
	LastError string    `json:"last_error"`
}

// Lease is the stored run lease of the source.
type Lease struct {
	Owner     string    `json:"owner"`
	Host      string    `json:"host,omitempty"`
	PID       int       `json:"pid,omitempty"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Inputs are what Evaluate judges; Gather reads them.
type Inputs struct {
	Source    string
	Watermark time.Time // zero: no run has set one
	Parked    []ParkedWindow
	// Runs are the newest ledger rows, newest first; Metrics the newest
	// run_metrics rows (any order).
	Runs    []warehouse.Run
	Metrics []warehouse.RunMetrics
	Lease   *Lease // nil when never taken
	// LedgerError says why the runs ledger could not be read ("" when it
	// was); Snapshot that it was read from a copy while a run held it.
	LedgerError string
	Snapshot    bool
	// NoData: neither a cursor store nor a warehouse exists yet.
	NoData bool
	// Webhook is what the last sweep saved (nil: no sweep yet), and
	// WebhookWatermark the webhook source's watermark (zero: no webhook
	// run yet). With neither, the webhook channel is not in use and is
	// not judged.
	Webhook          *pipeline.WebhookStatus
	WebhookWatermark time.Time
}

// Check is one verdict of the report.
type Check struct {
	Name  string `json:"name"`
	Level Level  `json:"level"`
	Text  string `json:"text"`
}

// RunBrief is a run as the report shows it.
type RunBrief struct {
	RunID      string    `json:"run_id"`
	Kind       string    `json:"kind"`
	Outcome    string    `json:"outcome"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
	Detail     string    `json:"detail,omitempty"`
}

// Held is a batch the volume gate held, with the command that releases it.
type Held struct {
	RunID       string    `json:"run_id"`
	WindowStart time.Time `json:"window_start"`
	WindowEnd   time.Time `json:"window_end"`
	Validated   int64     `json:"validated"`
	Detail      string    `json:"detail"`
	Command     string    `json:"command"`
}

// DayVerdict is how a day fared against the deadline.
type DayVerdict struct {
	Day
	// Verdict: "met", "late" (complete, after the deadline), "pending"
	// (not complete, deadline ahead), "at risk" (pending, within AtRisk
	// of the deadline) or "missed" (not complete, deadline passed).
	Verdict     string    `json:"verdict"`
	CompletedAt time.Time `json:"completed_at,omitzero"` // zero when unknown or not complete
}

// Report is the status of one source at Now.
type Report struct {
	Source  string    `json:"source"`
	Now     time.Time `json:"now"`
	Level   Level     `json:"level"`
	Summary string    `json:"summary"`
	Checks  []Check   `json:"checks"`

	NoRuns       bool          `json:"no_runs"`
	CompleteUpTo time.Time     `json:"complete_up_to,omitzero"`
	Age          time.Duration `json:"-"`
	AgeSeconds   float64       `json:"age_seconds"`
	Watermark    time.Time     `json:"watermark,omitzero"`
	Deadline     string        `json:"deadline"`
	LastClosed   *DayVerdict   `json:"last_closed_day,omitempty"`
	LastDue      *DayVerdict   `json:"last_due_day,omitempty"`

	LastRun        *RunBrief `json:"last_run,omitempty"`
	LastSuccessful *RunBrief `json:"last_successful_run,omitempty"`
	FailedRuns     int       `json:"failed_runs"`
	CountedRuns    int       `json:"counted_runs"`
	FailureRate    float64   `json:"failure_rate"`

	Parked                 []ParkedWindow `json:"parked_windows"`
	OldestParkedAge        time.Duration  `json:"-"`
	OldestParkedAgeSeconds float64        `json:"oldest_parked_age_seconds"`
	LastError              string         `json:"last_error,omitempty"`

	Held      []Held   `json:"held"`
	Lease     *Lease   `json:"lease,omitempty"`
	LeaseLive bool     `json:"lease_live"`
	Corrupt   []string `json:"corrupt_rows,omitempty"`
	Snapshot  bool     `json:"ledger_snapshot,omitempty"`

	// Webhook is the push channel's section; nil (absent from the JSON)
	// when the channel is not in use.
	Webhook *WebhookReport `json:"webhook,omitempty"`
}

// NoRunsText is the summary of a source with no runs yet.
const NoRunsText = "no runs yet"

// Evaluate judges in against th at now.
func Evaluate(in Inputs, th Thresholds, now time.Time) Report {
	th = withDefaults(th)
	now = now.UTC()
	r := Report{Source: in.Source, Now: now, Deadline: th.Deadline.String(), Lease: in.Lease, Snapshot: in.Snapshot}
	if in.Lease != nil && in.Lease.Owner != "" && now.Before(in.Lease.ExpiresAt) {
		r.LeaseLive = true
	}
	runs, corrupt := validRuns(in.Runs)
	r.Corrupt = corrupt
	for _, m := range in.Metrics {
		if m.Unreadable != "" {
			r.Corrupt = append(r.Corrupt, fmt.Sprintf("run_metrics %s: %s", m.RunID, m.Unreadable))
		}
	}
	if in.NoData || (len(in.Runs) == 0 && in.Watermark.IsZero() && len(in.Parked) == 0 && in.LedgerError == "") {
		r.NoRuns = true
		r.Level, r.Summary = Unknown, NoRunsText
		r.add("runs", Unknown, NoRunsText+": run `settle run` first")
		return r
	}
	if in.LedgerError != "" {
		r.add("ledger", Unknown, "runs ledger unreadable: "+in.LedgerError)
	}
	if len(r.Corrupt) > 0 {
		r.add("ledger", Warning, fmt.Sprintf("%d corrupted ledger row(s) skipped: %s", len(r.Corrupt), strings.Join(r.Corrupt, "; ")))
	}

	// Freshness: the watermark, held back by the oldest parked window.
	r.Parked = slices.Clone(in.Parked)
	slices.SortFunc(r.Parked, func(a, b ParkedWindow) int { return a.Start.Compare(b.Start) })
	r.Watermark = in.Watermark
	r.CompleteUpTo = in.Watermark
	if len(r.Parked) > 0 && (r.CompleteUpTo.IsZero() || r.Parked[0].Start.Before(r.CompleteUpTo)) {
		r.CompleteUpTo = r.Parked[0].Start
	}
	if !r.CompleteUpTo.IsZero() {
		r.Age = now.Sub(r.CompleteUpTo)
		r.AgeSeconds = r.Age.Seconds()
	}
	r.judgeDeadline(th, now, in.Metrics)

	// Runs.
	if len(runs) > 0 {
		r.LastRun = brief(runs[0])
		if runs[0].Outcome == warehouse.OutcomeFailed {
			r.add("last run", Warning, fmt.Sprintf("last run %s failed: %s", runs[0].RunID, oneLine(runs[0].Detail)))
		}
	}
	for _, run := range runs {
		if run.Outcome == warehouse.OutcomePromoted || run.Outcome == warehouse.OutcomeNeedsAttention {
			r.LastSuccessful = brief(run)
			break
		}
	}
	for i, run := range runs {
		if i >= th.FailureRuns {
			break
		}
		r.CountedRuns++
		if run.Outcome == warehouse.OutcomeFailed {
			r.FailedRuns++
		}
	}
	if r.CountedRuns > 0 {
		r.FailureRate = float64(r.FailedRuns) / float64(r.CountedRuns)
		lvl := OK
		switch {
		case r.FailureRate >= th.FailureCritical:
			lvl = Critical
		case r.FailureRate >= th.FailureWarn:
			lvl = Warning
		}
		r.add("failure rate", lvl, fmt.Sprintf("%d of the last %d runs failed (%.0f%%)", r.FailedRuns, r.CountedRuns, 100*r.FailureRate))
	}

	// Dead letters.
	if n := len(r.Parked); n > 0 {
		oldest := r.Parked[0]
		since := oldest.Since
		if since.IsZero() {
			since = oldest.Start
		}
		r.OldestParkedAge = now.Sub(since)
		r.OldestParkedAgeSeconds = r.OldestParkedAge.Seconds()
		for _, p := range r.Parked {
			if p.LastError != "" {
				r.LastError = p.LastError
			}
		}
		lvl := Warning
		if r.OldestParkedAge > th.ParkedCritical {
			lvl = Critical
		}
		r.add("dead letters", lvl, fmt.Sprintf("%d window(s) parked, oldest %s parked %s ago: `settle deadletters`, then `settle redrive`",
			n, oldest.Start.Format(time.RFC3339), roundAge(r.OldestParkedAge)))
	} else {
		r.add("dead letters", OK, "no parked windows")
	}

	// Held batches: the latest ledger state of each run.
	for _, run := range runs {
		if run.Outcome == warehouse.OutcomeHeld {
			r.Held = append(r.Held, Held{RunID: run.RunID, WindowStart: run.WindowStart, WindowEnd: run.WindowEnd,
				Validated: run.Validated, Detail: run.Detail, Command: "settle promote --run-id " + run.RunID})
		}
	}
	for _, h := range r.Held {
		r.add("held batch", Warning, fmt.Sprintf("run %s held (%s): check it, then `%s`", h.RunID, oneLine(h.Detail), h.Command))
	}

	r.judgeWebhook(in, th, now)

	r.Level = OK
	for _, c := range r.Checks {
		r.Level = worse(r.Level, c.Level)
	}
	r.Summary = r.summary()
	return r
}

func (r *Report) judgeDeadline(th Thresholds, now time.Time, metrics []warehouse.RunMetrics) {
	verdict := func(d Day) *DayVerdict {
		v := &DayVerdict{Day: d}
		if !r.CompleteUpTo.IsZero() && !r.CompleteUpTo.Before(d.End) {
			v.CompletedAt = completedAt(metrics, d.End)
			v.Verdict = "met"
			if seenIncompleteAfter(metrics, d) {
				v.Verdict = "late"
			}
			return v
		}
		switch {
		case !now.Before(d.Due):
			v.Verdict = "missed"
		case d.Due.Sub(now) <= th.AtRisk:
			v.Verdict = "at risk"
		default:
			v.Verdict = "pending"
		}
		return v
	}
	// Only what had happened by now counts (--now judges the past).
	metrics = slices.DeleteFunc(slices.Clone(metrics), func(m warehouse.RunMetrics) bool { return m.FinishedAt.After(now) })
	closed, due := th.Deadline.LastClosed(now), th.Deadline.LastDue(now)
	r.LastClosed = verdict(closed)
	if due.Date != closed.Date {
		r.LastDue = verdict(due)
	}
	for _, v := range []*DayVerdict{r.LastDue, r.LastClosed} {
		if v == nil {
			continue
		}
		text := fmt.Sprintf("day %s due %s: %s", v.Date, v.Due.In(th.Deadline.loc()).Format("2006-01-02 15:04 MST"), v.Verdict)
		lvl := OK
		switch v.Verdict {
		case "missed":
			lvl = Critical
			text += fmt.Sprintf(" (complete up to %s only)", fmtTime(r.CompleteUpTo))
		case "late":
			lvl = Warning
			if v.CompletedAt.IsZero() {
				text += " (completed after the deadline)"
			} else {
				text += fmt.Sprintf(" (complete at %s, %s after the deadline)", v.CompletedAt.Format(time.RFC3339), roundAge(v.CompletedAt.Sub(v.Due)))
			}
		case "at risk":
			lvl = Warning
			text += fmt.Sprintf(" (complete up to %s; %s left)", fmtTime(r.CompleteUpTo), roundAge(v.Due.Sub(now)))
		}
		r.add("deadline", lvl, text)
	}
}

// completedAt is when the earliest recorded run saw the source complete
// past end; zero when no run_metrics row tells.
func completedAt(metrics []warehouse.RunMetrics, end time.Time) time.Time {
	var at time.Time
	for _, m := range metrics {
		if m.CompleteUpTo.IsZero() || m.CompleteUpTo.Before(end) || m.FinishedAt.IsZero() {
			continue
		}
		if at.IsZero() || m.FinishedAt.Before(at) {
			at = m.FinishedAt
		}
	}
	return at
}

// seenIncompleteAfter reports whether a run that finished after the day's
// deadline recorded the source as not complete through the day: the proof
// that the day was late. Without such a row the day counts as met.
func seenIncompleteAfter(metrics []warehouse.RunMetrics, d Day) bool {
	for _, m := range metrics {
		if m.FinishedAt.After(d.Due) && !m.CompleteUpTo.IsZero() && m.CompleteUpTo.Before(d.End) {
			return true
		}
	}
	return false
}

// validRuns drops the ledger rows that cannot be judged, naming them.
func validRuns(runs []warehouse.Run) (ok []warehouse.Run, corrupt []string) {
	known := map[string]bool{warehouse.OutcomePromoted: true, warehouse.OutcomeHeld: true,
		warehouse.OutcomeNeedsAttention: true, warehouse.OutcomeFailed: true}
	for _, r := range runs {
		var why []string
		if r.RunID == "" {
			why = append(why, "empty run id")
		}
		if !known[r.Outcome] {
			why = append(why, fmt.Sprintf("unknown outcome %q", r.Outcome))
		}
		if r.StartedAt.IsZero() {
			why = append(why, "no start time")
		}
		if !r.WindowStart.IsZero() && !r.WindowEnd.IsZero() && r.WindowEnd.Before(r.WindowStart) {
			why = append(why, "window ends before it starts")
		}
		if r.Fetched < 0 || r.Validated < 0 || r.Quarantined < 0 || r.Promoted < 0 {
			why = append(why, "negative count")
		}
		if len(why) > 0 {
			corrupt = append(corrupt, fmt.Sprintf("runs %q: %s", r.RunID, strings.Join(why, ", ")))
			continue
		}
		ok = append(ok, r)
	}
	return ok, corrupt
}

func (r *Report) add(name string, l Level, text string) {
	r.Checks = append(r.Checks, Check{Name: name, Level: l, Text: text})
}

func (r *Report) summary() string {
	var bad []string
	for _, c := range r.Checks {
		if c.Level != OK {
			bad = append(bad, c.Text)
		}
	}
	s := fmt.Sprintf("%s complete up to %s (%s ago)", r.Source, fmtTime(r.CompleteUpTo), roundAge(r.Age))
	if len(bad) > 0 {
		s += "; " + strings.Join(bad, "; ")
	}
	return s
}

func brief(r warehouse.Run) *RunBrief {
	return &RunBrief{RunID: r.RunID, Kind: r.Kind, Outcome: r.Outcome, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt, Detail: r.Detail}
}

func withDefaults(th Thresholds) Thresholds {
	d := DefaultThresholds()
	if th.Deadline.Location == nil {
		th.Deadline.Location = d.Deadline.Location
	}
	if th.AtRisk <= 0 {
		th.AtRisk = d.AtRisk
	}
	if th.FailureRuns <= 0 {
		th.FailureRuns = d.FailureRuns
	}
	if th.FailureWarn <= 0 {
		th.FailureWarn = d.FailureWarn
	}
	if th.FailureCritical <= 0 {
		th.FailureCritical = d.FailureCritical
	}
	if th.ParkedCritical <= 0 {
		th.ParkedCritical = d.ParkedCritical
	}
	if th.WebhookSilence <= 0 {
		th.WebhookSilence = d.WebhookSilence
	}
	if th.WebhookLag <= 0 {
		th.WebhookLag = d.WebhookLag
	}
	return th
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}

// Age formats a duration for people: "1d15h", "3h20m0s", "42s".
func Age(d time.Duration) string { return roundAge(d) }

func roundAge(d time.Duration) string {
	if d < 0 {
		return "-" + roundAge(-d)
	}
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
	case d >= time.Hour:
		return d.Round(time.Minute).String()
	}
	return d.Round(time.Second).String()
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}
