package status_test

import (
	"strings"
	"testing"
	"time"

	"github.com/marketplace/settle/io/warehouse"
	"github.com/marketplace/settle/pipeline/status"
)

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func run(id, outcome, started string) warehouse.Run {
	s := at(started)
	return warehouse.Run{RunID: id, Kind: "run", Outcome: outcome, StartedAt: s, FinishedAt: s.Add(10 * time.Minute),
		WindowStart: s.Add(-time.Hour), WindowEnd: s, Validated: 100, Detail: "detail of " + id}
}

func runs(outcomes ...string) []warehouse.Run {
	var out []warehouse.Run
	t := at("2026-11-02T02:00:00Z")
	for i, o := range outcomes {
		out = append(out, run("r"+string(rune('a'+i)), o, t.Add(-time.Duration(i)*time.Hour).Format(time.RFC3339)))
	}
	return out
}

func TestEvaluate(t *testing.T) {
	berlin, err := status.ParseDeadline("06:00 Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	th := status.DefaultThresholds()
	th.Deadline = berlin
	// Day 2026-11-01 in Berlin (CET, UTC+1) is [2026-10-31T23:00Z,
	// 2026-11-01T23:00Z), due 2026-11-02T05:00Z.
	endOfDay := at("2026-11-01T23:00:00Z")
	ok := runs("promoted", "promoted", "promoted")
	tests := []struct {
		name        string
		in          status.Inputs
		now         string
		wantLevel   status.Level
		wantVerdict string // of the last closed day
		wantText    string // in some check's text
	}{
		{
			name: "a day complete before its deadline is on time",
			in: status.Inputs{Watermark: endOfDay.Add(time.Hour), Runs: ok,
				Metrics: []warehouse.RunMetrics{{RunID: "ra", FinishedAt: at("2026-11-02T00:30:00Z"), CompleteUpTo: endOfDay}}},
			now: "2026-11-02T03:00:00Z", wantLevel: status.OK, wantVerdict: "met", wantText: "day 2026-11-01 due 2026-11-02 06:00 CET: met",
		},
		{
			name: "a closed day not complete an hour before its deadline is at risk",
			in:   status.Inputs{Watermark: at("2026-11-01T20:00:00Z"), Runs: ok},
			now:  "2026-11-02T04:00:00Z", wantLevel: status.Warning, wantVerdict: "at risk", wantText: "1h0m0s left",
		},
		{
			name: "a closed day not complete with hours to go is pending",
			in:   status.Inputs{Watermark: at("2026-11-01T20:00:00Z"), Runs: ok},
			now:  "2026-11-02T01:00:00Z", wantLevel: status.OK, wantVerdict: "pending", wantText: "pending",
		},
		{
			name: "a day not complete after its deadline is missed",
			in:   status.Inputs{Watermark: at("2026-11-01T20:00:00Z"), Runs: ok},
			now:  "2026-11-02T06:00:00Z", wantLevel: status.Critical, wantVerdict: "missed", wantText: "missed (complete up to 2026-11-01T20:00:00Z only)",
		},
		{
			name: "a day completed after its deadline was late",
			in: status.Inputs{Watermark: endOfDay.Add(2 * time.Hour), Runs: ok,
				Metrics: []warehouse.RunMetrics{
					{RunID: "ra", FinishedAt: at("2026-11-02T06:30:00Z"), CompleteUpTo: endOfDay.Add(2 * time.Hour)},
					{RunID: "rb", FinishedAt: at("2026-11-02T05:30:00Z"), CompleteUpTo: endOfDay.Add(-time.Hour)},
				}},
			now: "2026-11-02T08:00:00Z", wantLevel: status.Warning, wantVerdict: "late", wantText: "1h30m0s after the deadline",
		},
		{
			name: "a run after now (judging the past with --now) does not make a day late",
			in: status.Inputs{Watermark: endOfDay, Runs: ok,
				Metrics: []warehouse.RunMetrics{{RunID: "future", FinishedAt: at("2026-12-01T00:00:00Z"), CompleteUpTo: endOfDay.Add(-time.Hour)}}},
			now: "2026-11-02T08:00:00Z", wantLevel: status.OK, wantVerdict: "met", wantText: "2026-11-01 due 2026-11-02 06:00 CET: met",
		},
		{
			name: "a parked window holds complete-up-to back and warns",
			in: status.Inputs{Watermark: endOfDay, Runs: ok, Parked: []status.ParkedWindow{
				{Start: at("2026-11-01T12:00:00Z"), End: at("2026-11-01T13:00:00Z"), Since: at("2026-11-01T13:05:00Z"), LastError: "503 forever"},
				{Start: at("2026-11-01T10:00:00Z"), End: at("2026-11-01T11:00:00Z"), Since: at("2026-11-01T11:05:00Z"), LastError: "429 forever"},
			}},
			now: "2026-11-02T01:00:00Z", wantLevel: status.Warning, wantVerdict: "pending", wantText: "2 window(s) parked, oldest 2026-11-01T10:00:00Z",
		},
		{
			name: "a window parked over a day is critical",
			in: status.Inputs{Watermark: endOfDay, Runs: ok, Parked: []status.ParkedWindow{
				{Start: at("2026-10-30T10:00:00Z"), End: at("2026-10-30T11:00:00Z"), Since: at("2026-10-30T11:00:00Z")},
			}},
			now: "2026-11-01T02:00:00Z", wantLevel: status.Critical, wantVerdict: "pending", wantText: "parked 39h0m0s ago",
		},
		{
			name: "a held batch warns and names the command that releases it",
			in:   status.Inputs{Watermark: endOfDay, Runs: runs("held", "promoted", "promoted")},
			now:  "2026-11-02T03:00:00Z", wantLevel: status.Warning, wantVerdict: "met", wantText: "`settle promote --run-id ra`",
		},
		{
			name: "two failed of the last ten runs warns",
			in:   status.Inputs{Watermark: endOfDay, Runs: runs("promoted", "failed", "promoted", "failed", "promoted", "promoted", "promoted", "promoted", "promoted", "promoted")},
			now:  "2026-11-02T03:00:00Z", wantLevel: status.Warning, wantVerdict: "met", wantText: "2 of the last 10 runs failed (20%)",
		},
		{
			name: "half the last runs failed is critical",
			in:   status.Inputs{Watermark: endOfDay, Runs: runs("failed", "promoted")},
			now:  "2026-11-02T03:00:00Z", wantLevel: status.Critical, wantVerdict: "met", wantText: "last run ra failed",
		},
		{
			name: "a corrupted ledger row is reported and the others judged",
			in: status.Inputs{Watermark: endOfDay, Runs: append(runs("promoted"),
				warehouse.Run{RunID: "bad", Outcome: "", Fetched: -1})},
			now: "2026-11-02T03:00:00Z", wantLevel: status.Warning, wantVerdict: "met", wantText: `runs "bad": unknown outcome "", no start time, negative count`,
		},
		{
			name: "an unreadable ledger is unknown",
			in:   status.Inputs{Watermark: endOfDay, LedgerError: "reading row: converting NULL to int64"},
			now:  "2026-11-02T03:00:00Z", wantLevel: status.Unknown, wantVerdict: "met", wantText: "runs ledger unreadable",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.in.Source = "settlements"
			r := status.Evaluate(tt.in, th, at(tt.now))
			if r.Level != tt.wantLevel {
				t.Errorf("Level = %v, want %v; checks: %+v", r.Level, tt.wantLevel, r.Checks)
			}
			if r.LastClosed == nil || r.LastClosed.Verdict != tt.wantVerdict {
				t.Errorf("LastClosed = %+v, want verdict %q", r.LastClosed, tt.wantVerdict)
			}
			var texts []string
			for _, c := range r.Checks {
				texts = append(texts, c.Text)
			}
			if all := strings.Join(texts, "\n"); !strings.Contains(all, tt.wantText) {
				t.Errorf("checks do not say %q:\n%s", tt.wantText, all)
			}
		})
	}
}

func TestEvaluateNoRunsYetIsUnknown(t *testing.T) {
	for _, in := range []status.Inputs{{NoData: true}, {}} {
		r := status.Evaluate(in, status.DefaultThresholds(), at("2026-11-02T03:00:00Z"))
		if r.Level != status.Unknown || !r.NoRuns || r.Summary != status.NoRunsText {
			t.Errorf("Evaluate(%+v) = level %v, no runs %v, summary %q; want UNKNOWN, true, %q", in, r.Level, r.NoRuns, r.Summary, status.NoRunsText)
		}
	}
}

func TestCompleteUpToIsTheOlderOfWatermarkAndOldestParked(t *testing.T) {
	tests := []struct {
		name      string
		watermark time.Time
		parked    []time.Time
		want      time.Time
	}{
		{"no parked window: the watermark", at("2026-11-01T12:00:00Z"), nil, at("2026-11-01T12:00:00Z")},
		{"an older parked window: its start", at("2026-11-01T12:00:00Z"), []time.Time{at("2026-11-01T09:00:00Z"), at("2026-11-01T07:00:00Z")}, at("2026-11-01T07:00:00Z")},
		{"a parked window past the watermark: the watermark", at("2026-11-01T12:00:00Z"), []time.Time{at("2026-11-01T13:00:00Z")}, at("2026-11-01T12:00:00Z")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := status.Inputs{Watermark: tt.watermark, Runs: runs("promoted")}
			for _, p := range tt.parked {
				in.Parked = append(in.Parked, status.ParkedWindow{Start: p, End: p.Add(time.Hour), Since: p})
			}
			if got := status.Evaluate(in, status.DefaultThresholds(), at("2026-11-01T14:00:00Z")).CompleteUpTo; !got.Equal(tt.want) {
				t.Errorf("CompleteUpTo = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseDeadline(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{"06:00 Europe/Berlin", "06:00 Europe/Berlin", false},
		{"6:30", "06:30 UTC", false},
		{"25:00 UTC", "", true},
		{"06:00 Mars/Olympus", "", true},
		{"", "", true},
	}
	for _, tt := range tests {
		got, err := status.ParseDeadline(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseDeadline(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if err == nil && got.String() != tt.want {
			t.Errorf("ParseDeadline(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
