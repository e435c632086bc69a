package report_test

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/net/html"

	"github.com/marketplace/settle/io/warehouse"
	"github.com/marketplace/settle/pipeline"
	"github.com/marketplace/settle/pipeline/report"
	"github.com/marketplace/settle/pipeline/status"
)

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// fabricated is four runs over three days: two promoted, one held, one
// failed, with their metrics; and one run older than the 30 days.
func fabricated(t *testing.T) report.Data {
	t.Helper()
	run := func(id, outcome, start string, validated int64) warehouse.Run {
		s := at(start)
		return warehouse.Run{RunID: id, Kind: "run", Outcome: outcome, StartedAt: s, FinishedAt: s.Add(10 * time.Minute),
			WindowStart: s.Add(-2 * time.Hour), WindowEnd: s, Validated: validated}
	}
	runs := []warehouse.Run{
		run("old", "promoted", "2026-09-01T01:00:00Z", 999),
		run("r1", "promoted", "2026-11-01T01:00:00Z", 2000),
		run("r2", "promoted", "2026-11-02T01:00:00Z", 3000),
		run("r3", "held", "2026-11-03T01:00:00Z", 9000),
		run("r4", "failed", "2026-11-03T02:00:00Z", 0),
	}
	m := func(id string, finished string, req, limited, retries, parked int64, behind time.Duration, q map[string]int64) warehouse.RunMetrics {
		f := at(finished)
		return warehouse.RunMetrics{RunID: id, FinishedAt: f, Requests: req, RateLimited: limited, Retries: retries,
			ParkedTotal: parked, CompleteUpTo: f.Add(-behind), QuarantinedBy: q}
	}
	metrics := []warehouse.RunMetrics{
		m("old", "2026-09-01T01:10:00Z", 10, 10, 10, 9, time.Hour, map[string]int64{"ancient": 7}),
		m("r1", "2026-11-01T01:10:00Z", 100, 10, 20, 0, 90*time.Minute, map[string]int64{"currency_unknown": 4, "amount_missing": 1}),
		m("r2", "2026-11-02T01:10:00Z", 200, 0, 50, 2, 3*time.Hour, map[string]int64{"currency_unknown": 2}),
		m("r3", "2026-11-03T01:10:00Z", 50, 25, 25, 1, 2*time.Hour, nil),
	}
	th := status.DefaultThresholds()
	var err error
	if th.Deadline, err = status.ParseDeadline("06:00 Europe/Berlin"); err != nil {
		t.Fatal(err)
	}
	now := at("2026-11-03T03:00:00Z")
	in := status.Inputs{Source: "settlements", Watermark: at("2026-11-02T23:00:00Z"), Runs: runs, Metrics: metrics}
	return report.Data{Status: status.Evaluate(in, th, now), Runs: runs, Metrics: metrics, Now: now,
		VolumeBand: 0.5, VolumeHistory: 7}
}

func render(t *testing.T, d report.Data) *html.Node {
	t.Helper()
	var buf bytes.Buffer
	if err := report.Write(&buf, d); err != nil {
		t.Fatalf("Write() = %v", err)
	}
	doc, err := html.Parse(&buf)
	if err != nil {
		t.Fatalf("parsing the report: %v", err)
	}
	return doc
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func find(n *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if match(n) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

func byID(t *testing.T, doc *html.Node, id string) *html.Node {
	t.Helper()
	got := find(doc, func(n *html.Node) bool { return n.Type == html.ElementNode && attr(n, "id") == id })
	if len(got) != 1 {
		t.Fatalf("elements with id %q: %d, want 1", id, len(got))
	}
	return got[0]
}

func text(n *html.Node) string {
	var b strings.Builder
	for _, t := range find(n, func(n *html.Node) bool { return n.Type == html.TextNode }) {
		b.WriteString(t.Data)
	}
	return b.String()
}

// values returns "series@time=value" of every point of the plot.
func values(t *testing.T, doc *html.Node, id string) []string {
	t.Helper()
	var out []string
	for _, c := range find(byID(t, doc, id), func(n *html.Node) bool { return n.Data == "circle" }) {
		out = append(out, attr(c, "data-series")+"@"+attr(c, "data-t")+"="+attr(c, "data-v"))
	}
	return out
}

func TestReportPlotsTheLast30DaysOfRuns(t *testing.T) {
	doc := render(t, fabricated(t))
	tests := []struct {
		plot string
		want []string
	}{
		{report.PlotVolume, []string{
			// 2000 and 3000 rows in 2 h windows; the held run at 4500/h
			// sits far above the band [0.5, 1.5] × median(1000, 1500).
			"validated/h@2026-11-01T01:00:00Z=1000", "validated/h@2026-11-02T01:00:00Z=1500", "validated/h@2026-11-03T01:00:00Z=4500",
			"band low@2026-11-02T01:00:00Z=500", "band low@2026-11-03T01:00:00Z=625",
			"band high@2026-11-02T01:00:00Z=1500", "band high@2026-11-03T01:00:00Z=1875",
		}},
		{report.PlotFreshness, []string{
			"hours behind@2026-11-01T01:10:00Z=1.5", "hours behind@2026-11-02T01:10:00Z=3", "hours behind@2026-11-03T01:10:00Z=2",
		}},
		{report.PlotRetries, []string{
			"429 share@2026-11-01T01:10:00Z=0.1", "429 share@2026-11-02T01:10:00Z=0", "429 share@2026-11-03T01:10:00Z=0.5",
			"retry share@2026-11-01T01:10:00Z=0.2", "retry share@2026-11-02T01:10:00Z=0.25", "retry share@2026-11-03T01:10:00Z=0.5",
		}},
		{report.PlotDeadLetter, []string{
			"parked windows@2026-11-01T01:10:00Z=0", "parked windows@2026-11-02T01:10:00Z=2", "parked windows@2026-11-03T01:10:00Z=1",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.plot, func(t *testing.T) {
			got := values(t, doc, tt.plot)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("points of %s (-want +got):\n%s", tt.plot, diff)
			}
			if n := attr(byID(t, doc, tt.plot), "data-points"); n != strconv.Itoa(len(tt.want)) {
				t.Errorf("data-points of %s = %s, want %d", tt.plot, n, len(tt.want))
			}
		})
	}
	t.Run("the deadline line allows six hours after a Berlin day ends", func(t *testing.T) {
		refs := find(byID(t, doc, report.PlotFreshness), func(n *html.Node) bool { return n.Data == "line" && attr(n, "class") == "ref" })
		if len(refs) != 1 || attr(refs[0], "data-v") != "6" {
			t.Errorf("reference lines of the freshness plot: %d, first value %q; want one at 6", len(refs), attr(refs[0], "data-v"))
		}
	})
	t.Run("quarantine totals by reason, largest first, old runs left out", func(t *testing.T) {
		var got []string
		for _, b := range find(byID(t, doc, report.PlotQuarantine), func(n *html.Node) bool { return n.Data == "rect" && attr(n, "class") == "bar" }) {
			got = append(got, attr(b, "data-label")+"="+attr(b, "data-v"))
		}
		if diff := cmp.Diff([]string{"currency_unknown=6", "amount_missing=1"}, got); diff != "" {
			t.Errorf("quarantine bars (-want +got):\n%s", diff)
		}
	})
	t.Run("the status is at the top", func(t *testing.T) {
		if got := text(byID(t, doc, "level")); got != "WARNING" {
			t.Errorf("level = %q, want WARNING (a held batch and a failed run)", got)
		}
		if got := text(byID(t, doc, "held")); !strings.Contains(got, "settle promote --run-id r3") {
			t.Errorf("held = %q, want the command that releases r3", got)
		}
		if got := text(byID(t, doc, "run-count")); got != "4" {
			t.Errorf("run count = %q, want 4 (the run of September is older than 30 days)", got)
		}
		if got := text(byID(t, doc, "complete-up-to")); got != "2026-11-02T23:00:00Z" {
			t.Errorf("complete up to = %q, want 2026-11-02T23:00:00Z", got)
		}
	})
}

func TestReportIsSelfContained(t *testing.T) {
	doc := render(t, fabricated(t))
	for _, n := range find(doc, func(n *html.Node) bool { return n.Type == html.ElementNode }) {
		switch n.Data {
		case "script", "link", "img", "iframe", "object", "embed":
			t.Errorf("report has a <%s> element: want no scripts and no external assets", n.Data)
		}
		for _, a := range n.Attr {
			if (a.Key == "src" || a.Key == "href") || strings.Contains(a.Val, "url(") {
				t.Errorf("<%s %s=%q>: want no references to other resources", n.Data, a.Key, a.Val)
			}
		}
	}
}

func TestReportOnNoRunsSaysSo(t *testing.T) {
	d := report.Data{Status: status.Evaluate(status.Inputs{Source: "settlements", NoData: true}, status.DefaultThresholds(), at("2026-11-03T03:00:00Z")),
		Now: at("2026-11-03T03:00:00Z")}
	doc := render(t, d)
	if got := text(byID(t, doc, "no-runs")); !strings.Contains(got, "No runs yet") {
		t.Errorf("no-runs = %q", got)
	}
	for _, id := range []string{report.PlotVolume, report.PlotFreshness, report.PlotRetries, report.PlotDeadLetter, report.PlotQuarantine} {
		if n := attr(byID(t, doc, id), "data-points"); n != "0" {
			t.Errorf("data-points of %s = %s, want 0", id, n)
		}
	}
}

// TestReportShowsTheWebhookChannel: with a sweep's status the report has
// the webhook section and its checks; without one (the fabricated pull-only
// data of the other tests) it has none.
func TestReportShowsTheWebhookChannel(t *testing.T) {
	d := fabricated(t)
	if doc := render(t, d); len(find(doc, func(n *html.Node) bool { return attr(n, "id") == "webhook" })) != 0 {
		t.Error("a pull-only report has a webhook section")
	}
	in := status.Inputs{Source: "settlements", Watermark: at("2026-11-02T23:00:00Z"), Runs: d.Runs, Metrics: d.Metrics,
		Webhook: &pipeline.WebhookStatus{
			CheckedAt: at("2026-11-03T02:35:00Z"), From: at("2026-11-02T20:00:00Z"), To: at("2026-11-03T02:30:00Z"),
			SweepVersions: 400, MissedByWebhook: 3, MissedSample: []string{"st_a", "st_b", "st_c"}, WebhookEvents: 410,
			LastReceived: at("2026-11-03T02:50:00Z"), LagP50: 2 * time.Second, LagP99: 90 * time.Second, LagMax: 5 * time.Minute,
		}}
	d.Status = status.Evaluate(in, status.DefaultThresholds(), d.Now)
	doc := render(t, d)
	for id, want := range map[string]string{
		"webhook-last-received": "2026-11-03T02:50:00Z (10m0s ago, as of the last sweep)",
		"webhook-lag":           "p50 2s, p99 1m30s, max 5m0s",
		"webhook-sweep":         "2026-11-03T02:35:00Z (25m0s ago), updated_at 2026-11-02T20:00:00Z..2026-11-03T02:30:00Z: 400 versions listed, 410 webhook events received for the range",
		"webhook-missed":        "3 (e.g. st_a, st_b, st_c)",
	} {
		if got := text(byID(t, doc, id)); got != want {
			t.Errorf("%s = %q, want %q", id, got, want)
		}
	}
	var checks []string
	for _, row := range find(byID(t, doc, "checks"), func(n *html.Node) bool { return n.Data == "tr" }) {
		checks = append(checks, text(row))
	}
	if all := strings.Join(checks, "\n"); !strings.Contains(all, "WARNINGwebhookthe sweep at 2026-11-03T02:35:00Z found 3 of 400 versions the webhooks missed") {
		t.Errorf("checks do not list the webhook WARNING:\n%s", all)
	}

	d.Status = status.Evaluate(status.Inputs{Source: "settlements", Watermark: in.Watermark, Runs: d.Runs, Metrics: d.Metrics,
		WebhookWatermark: at("2026-11-03T02:00:00Z")}, status.DefaultThresholds(), d.Now)
	if got := text(byID(t, render(t, d), "webhook-sweep")); got != "no sweep yet" {
		t.Errorf("webhook in use without a sweep: last sweep = %q, want no sweep yet", got)
	}
}
