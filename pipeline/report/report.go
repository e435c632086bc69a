// Package report writes the run-history report: one self-contained HTML
// page (no scripts, no network, no external assets) with the status at the
// top and inline SVG plots of the last days of runs.
package report

import (
	"cmp"
	"fmt"
	"html/template"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/marketplace/settle/io/warehouse"
	"github.com/marketplace/settle/pipeline/status"
)

// Data is what the report shows.
type Data struct {
	Status  status.Report
	Runs    []warehouse.Run        // any order; rows older than Days are left out
	Metrics []warehouse.RunMetrics // any order, matched to runs by run id
	Now     time.Time
	// Days of history plotted (default 30).
	Days int
	// VolumeBand and VolumeHistory are the volume gate's tolerance and
	// lookback (pipeline.Config), for the band around validated rows/hour.
	VolumeBand    float64
	VolumeHistory int
}

// Plot ids, for readers of the HTML and its tests.
const (
	PlotVolume     = "plot-volume"
	PlotFreshness  = "plot-freshness"
	PlotRetries    = "plot-retries"
	PlotDeadLetter = "plot-deadletters"
	PlotQuarantine = "plot-quarantine"
)

type page struct {
	Status                                       status.Report
	Generated, From, To                          string
	Runs                                         int
	Volume, Freshness, Retries, Dead, Quarantine template.HTML
	Checks                                       []status.Check
	LevelClass                                   string
}

// Write renders the report to w.
func Write(w io.Writer, d Data) error {
	if d.Days <= 0 {
		d.Days = 30
	}
	now := d.Now.UTC()
	from := now.Add(-time.Duration(d.Days) * 24 * time.Hour)
	var runs []warehouse.Run
	for _, r := range d.Runs {
		if !r.StartedAt.Before(from) && !r.StartedAt.After(now) {
			runs = append(runs, r)
		}
	}
	slices.SortFunc(runs, func(a, b warehouse.Run) int {
		return cmp.Or(a.StartedAt.Compare(b.StartedAt), strings.Compare(a.RunID, b.RunID))
	})
	metrics := map[string]warehouse.RunMetrics{}
	for _, m := range d.Metrics {
		metrics[m.RunID] = m
	}
	p := page{
		Status: d.Status, Generated: now.Format(time.RFC3339), From: from.Format(time.DateOnly), To: now.Format(time.DateOnly),
		Runs: len(runs), Checks: d.Status.Checks, LevelClass: strings.ToLower(d.Status.Level.String()),
	}
	p.Volume = volumeChart(runs, d, from, now).svg()
	p.Freshness = freshnessChart(runs, metrics, d.Status, from, now).svg()
	p.Retries = retriesChart(runs, metrics, from, now).svg()
	p.Dead = deadLetterChart(runs, metrics, from, now).svg()
	labels, counts := quarantineTotals(runs, metrics)
	p.Quarantine = bars(PlotQuarantine, "rows quarantined by reason", labels, counts)
	if err := tmpl.Execute(w, p); err != nil {
		return fmt.Errorf("writing report: %w", err)
	}
	return nil
}

// volumeChart: validated rows per hour of window of each promoted run,
// against the band the volume gate would apply to it (the median of the
// earlier runs' rates, within VolumeHistory, ± VolumeBand; the rule of
// gate.CheckVolume).
func volumeChart(runs []warehouse.Run, d Data, from, to time.Time) chart {
	var rate, lo, hi series
	rate = series{Name: "validated/h", Color: "#2c7fb8"}
	lo = series{Name: "band low", Color: "#999", Dashed: true}
	hi = series{Name: "band high", Color: "#999", Dashed: true}
	var earlier []float64
	for _, r := range runs {
		hours := r.WindowEnd.Sub(r.WindowStart).Hours()
		if hours <= 0 || (r.Kind != "run" && r.Kind != "replay") {
			continue
		}
		v := float64(r.Validated) / hours
		if r.Outcome == warehouse.OutcomeHeld || r.Outcome == warehouse.OutcomePromoted || r.Outcome == warehouse.OutcomeNeedsAttention {
			rate.Points = append(rate.Points, point{r.StartedAt, v})
			if n := len(earlier); n > 0 && d.VolumeBand > 0 {
				look := earlier[max(0, n-max(d.VolumeHistory, 1)):]
				base := median(look)
				lo.Points = append(lo.Points, point{r.StartedAt, base * (1 - d.VolumeBand)})
				hi.Points = append(hi.Points, point{r.StartedAt, base * (1 + d.VolumeBand)})
			}
		}
		if r.Outcome == warehouse.OutcomePromoted || r.Outcome == warehouse.OutcomeNeedsAttention {
			earlier = append(earlier, v)
		}
	}
	return chart{ID: PlotVolume, Title: "validated rows per hour of window, against the volume band", YLabel: "rows / hour",
		From: from, To: to, Series: []series{rate, lo, hi}}
}

// freshnessChart: how far behind its end each run left the data (hours
// from complete-up-to to the run's end), against what the deadline allows
// (the deadline's hours after the end of a day).
func freshnessChart(runs []warehouse.Run, metrics map[string]warehouse.RunMetrics, st status.Report, from, to time.Time) chart {
	lag := series{Name: "hours behind", Color: "#8e44ad"}
	for _, r := range runs {
		m, ok := metrics[r.RunID]
		if !ok || m.CompleteUpTo.IsZero() || m.FinishedAt.IsZero() {
			continue
		}
		lag.Points = append(lag.Points, point{m.FinishedAt, m.FinishedAt.Sub(m.CompleteUpTo).Hours()})
	}
	c := chart{ID: PlotFreshness, Title: "freshness: hours from complete-up-to to each run's end, against the deadline", YLabel: "hours behind",
		From: from, To: to, Series: []series{lag}}
	if d := st.LastClosed; d != nil {
		c.Refs = append(c.Refs, ref{Name: "deadline " + st.Deadline, Y: d.Due.Sub(d.End).Hours(), Color: "#c0392b"})
	}
	return c
}

func retriesChart(runs []warehouse.Run, metrics map[string]warehouse.RunMetrics, from, to time.Time) chart {
	limited := series{Name: "429 share", Color: "#e67e22"}
	retried := series{Name: "retry share", Color: "#16a085"}
	for _, r := range runs {
		m, ok := metrics[r.RunID]
		if !ok || m.Requests <= 0 {
			continue
		}
		limited.Points = append(limited.Points, point{m.FinishedAt, float64(m.RateLimited) / float64(m.Requests)})
		retried.Points = append(retried.Points, point{m.FinishedAt, float64(m.Retries) / float64(m.Requests)})
	}
	return chart{ID: PlotRetries, Title: "share of vendor requests answered 429, and retried", YLabel: "share of requests",
		From: from, To: to, Series: []series{limited, retried}}
}

func deadLetterChart(runs []warehouse.Run, metrics map[string]warehouse.RunMetrics, from, to time.Time) chart {
	depth := series{Name: "parked windows", Color: "#c0392b"}
	for _, r := range runs {
		if m, ok := metrics[r.RunID]; ok && !m.FinishedAt.IsZero() {
			depth.Points = append(depth.Points, point{m.FinishedAt, float64(m.ParkedTotal)})
		}
	}
	return chart{ID: PlotDeadLetter, Title: "dead-letter depth: parked windows after each run", YLabel: "windows",
		From: from, To: to, Series: []series{depth}}
}

func quarantineTotals(runs []warehouse.Run, metrics map[string]warehouse.RunMetrics) ([]string, []int64) {
	total := map[string]int64{}
	for _, r := range runs {
		for reason, n := range metrics[r.RunID].QuarantinedBy {
			total[reason] += n
		}
	}
	labels := make([]string, 0, len(total))
	for l := range total {
		labels = append(labels, l)
	}
	sort.Slice(labels, func(i, j int) bool {
		return cmp.Or(cmp.Compare(total[labels[j]], total[labels[i]]), strings.Compare(labels[i], labels[j])) < 0
	})
	counts := make([]int64, len(labels))
	for i, l := range labels {
		counts[i] = total[l]
	}
	return labels, counts
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}

var tmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"stamp":  stamp,
	"lower":  strings.ToLower,
	"upper":  strings.ToUpper,
	"hours":  func(d time.Duration) string { return d.Round(time.Minute).String() },
	"pct":    func(f float64) string { return fmt.Sprintf("%.0f%%", 100*f) },
	"age":    status.Age,
	"missed": func(ids []string) string { return status.MissedSampleText(ids, 5) },
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8"/>
<title>settle: {{.Status.Source}} {{.Status.Level}}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; max-width: 800px; }
h1 { font-size: 20px; } h2 { font-size: 16px; margin-top: 28px; }
.level { padding: 2px 8px; border-radius: 4px; color: #fff; font-weight: bold; }
.ok { background: #27ae60; } .warning { background: #e67e22; } .critical { background: #c0392b; } .unknown { background: #7f8c8d; }
table { border-collapse: collapse; } td, th { padding: 2px 10px 2px 0; text-align: left; vertical-align: top; }
code { background: #f4f4f4; padding: 0 3px; }
</style>
</head>
<body>
<h1>settle: <span id="source">{{.Status.Source}}</span> <span id="level" class="level {{.LevelClass}}">{{.Status.Level}}</span></h1>
<p id="summary">{{.Status.Summary}}</p>
{{if .Status.NoRuns}}<p id="no-runs">No runs yet: run <code>settle run</code> first.</p>{{end}}
<table id="status">
<tr><th>complete up to</th><td id="complete-up-to">{{stamp .Status.CompleteUpTo}}</td></tr>
<tr><th>deadline</th><td>{{.Status.Deadline}}{{with .Status.LastClosed}}: day {{.Date}} <span id="verdict">{{upper .Verdict}}</span>{{end}}</td></tr>
<tr><th>last run</th><td>{{with .Status.LastRun}}{{.Kind}} {{.RunID}} {{upper .Outcome}} at {{stamp .StartedAt}}{{else}}none{{end}}</td></tr>
<tr><th>last successful run</th><td>{{with .Status.LastSuccessful}}{{.RunID}} at {{stamp .StartedAt}}{{else}}none{{end}}</td></tr>
<tr><th>failure rate</th><td id="failure-rate">{{.Status.FailedRuns}} of {{.Status.CountedRuns}} ({{pct .Status.FailureRate}})</td></tr>
<tr><th>parked windows</th><td id="parked">{{len .Status.Parked}}{{if .Status.Parked}}, oldest parked {{hours .Status.OldestParkedAge}} ago: {{.Status.LastError}}{{end}}</td></tr>
<tr><th>held batches</th><td id="held">{{range .Status.Held}}<div><code>{{.Command}}</code> {{.Detail}}</div>{{else}}none{{end}}</td></tr>
<tr><th>lease</th><td>{{if .Status.LeaseLive}}held by {{.Status.Lease.Owner}} until {{stamp .Status.Lease.ExpiresAt}}{{else}}free{{end}}</td></tr>
</table>
{{with .Status.Webhook}}<h2>Webhook channel</h2>
<table id="webhook">
{{if .Swept}}<tr><th>last event received</th><td id="webhook-last-received">{{stamp .LastReceived}}{{if not .LastReceived.IsZero}} ({{age .LastReceivedAge}} ago, as of the last sweep){{end}}</td></tr>
<tr><th>lag</th><td id="webhook-lag">p50 {{age .LagP50}}, p99 {{age .LagP99}}, max {{age .LagMax}}</td></tr>
<tr><th>last sweep</th><td id="webhook-sweep">{{stamp .SweptAt}} ({{age .SweepAge}} ago), updated_at {{stamp .SweepFrom}}..{{stamp .SweepTo}}: <span id="webhook-versions">{{.SweepVersions}}</span> versions listed, {{.WebhookEvents}} webhook events received for the range</td></tr>
<tr><th>missed by webhooks</th><td id="webhook-missed">{{.MissedByWebhook}}{{if .MissedSample}} ({{missed .MissedSample}}){{end}}</td></tr>
{{else}}<tr><th>last sweep</th><td id="webhook-sweep">no sweep yet</td></tr>
{{end}}</table>{{end}}
{{if .Checks}}<h2>Checks</h2>
<table id="checks">{{range .Checks}}<tr><td><span class="level {{lower .Level.String}}">{{.Level}}</span></td><td>{{.Name}}</td><td>{{.Text}}</td></tr>{{end}}</table>{{end}}
<h2>Runs {{.From}} to {{.To}} (<span id="run-count">{{.Runs}}</span> runs)</h2>
<h2>Validated rows per hour of window, against the volume band</h2>
{{.Volume}}
<h2>Freshness against the deadline</h2>
{{.Freshness}}
<h2>Share of 429s and retries</h2>
{{.Retries}}
<h2>Dead-letter depth</h2>
{{.Dead}}
<h2>Quarantine by reason</h2>
{{.Quarantine}}
<p><small>Generated {{.Generated}} by <code>settle report</code>.</small></p>
</body>
</html>
`))
