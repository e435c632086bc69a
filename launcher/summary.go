package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/marketplace/settle/io/cursorstore"
	"github.com/marketplace/settle/io/warehouse"
	"github.com/marketplace/settle/pipeline"
)

// report prints the summary and maps the result to the exit status.
func report(cmd string, sum pipeline.Summary, err error) int {
	return reportTo(os.Stdout, os.Stderr, cmd, sum, err)
}

// reportTo is report, printing the summary to stdout and errors to stderr.
func reportTo(stdout, stderr io.Writer, cmd string, sum pipeline.Summary, err error) int {
	var held *cursorstore.LeaseHeldError
	if errors.As(err, &held) {
		// The run never started: no summary, only who holds the lease.
		fmt.Fprintf(stderr, "settle %s: %v\n", cmd, err)
		return exitLeaseHeld
	}
	if sum.RunID != "" {
		printSummary(stdout, sum)
	}
	if err != nil {
		code := failTo(stderr, cmd, err)
		switch {
		case sum.Outcome == warehouse.OutcomeInterrupted:
			fmt.Fprintln(stderr, "Nothing is lost: pages already in the raw zone stay there. Run the same command again to resume from the cursors.")
		case sum.Outcome == warehouse.OutcomeFailed && code == exitFailure && !errors.Is(err, pipeline.ErrRawZoneDamaged):
			// Only a run that started work: never after a flag or
			// preflight mistake.
			fmt.Fprintln(stderr, "Nothing promoted by this run is lost: pages already in the raw zone stay there and a rerun resumes from the cursors. Fix the cause above and run the same command again.")
		}
		return code
	}
	return sum.ExitCode()
}

func printSummary(w io.Writer, s pipeline.Summary) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "\n%s %s\t%s\n", s.Kind, s.RunID, strings.ToUpper(s.Outcome))
	if !s.From.IsZero() {
		fmt.Fprintf(tw, "  range\t%s .. %s (%d windows)\n", s.From.Format(time.RFC3339Nano), s.To.Format(time.RFC3339Nano), s.Windows)
	}
	if s.Kind == pipeline.KindRun || s.Kind == pipeline.KindRedrive || s.Kind == pipeline.KindRefetch {
		fmt.Fprintf(tw, "  windows\t%d done, %d parked\n", s.WindowsDone, s.WindowsParked)
		fmt.Fprintf(tw, "  fetched\t%d pages, %d records, %d requests\n", s.PagesLanded, s.RecordsLanded, s.Requests)
	}
	fmt.Fprintf(tw, "  read from raw zone\t%d pages, %d records\n", s.ObjectsRead, s.RecordsRead)
	fmt.Fprintf(tw, "  duplicates dropped\t%d\n", s.Duplicates)
	fmt.Fprintf(tw, "  validated\t%d version(s) passed the gate\n", s.Validated)
	fmt.Fprintf(tw, "  promoted (rows changed)\t%d\n", s.Promoted)
	if s.Kind == pipeline.KindReplay || s.Corrected > 0 {
		fmt.Fprintf(tw, "    of which corrected\t%d (same version, content re-derived differently)\n", s.Corrected)
	}
	fmt.Fprintf(tw, "  withdrawn from settlements\t%d (newest version failed the gate)\n", s.Withdrawn)
	fmt.Fprintf(tw, "  withheld\t%d settlement(s) newly withheld\n", s.Withheld)
	fmt.Fprintf(tw, "  stale versions ignored\t%d (older than the warehouse held)\n", s.Stale)
	fmt.Fprintf(tw, "  quarantined\t%d\n", s.Quarantined)
	reasons := make([]string, 0, len(s.QuarantinedBy))
	for r := range s.QuarantinedBy {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	for _, r := range reasons {
		fmt.Fprintf(tw, "    %s\t%d\n", r, s.QuarantinedBy[r])
	}
	fmt.Fprintf(tw, "  parked on dead letters\t%d window(s)\n", s.WindowsParked)
	for _, d := range s.DeadLetters {
		fmt.Fprintf(tw, "    %s/%s\tpage %d after %d attempts: %s\n", d.WindowStart.UTC().Format(time.RFC3339Nano), d.WindowEnd.UTC().Format(time.RFC3339Nano), d.Page, d.Attempts, oneLine(d.LastError, 120))
	}
	held := "no"
	if s.Held {
		held = "YES: " + s.HeldDetail
	}
	fmt.Fprintf(tw, "  held\t%s\n", held)
	printAccount(tw, s.Account, s.CurrencyTotals)
	if s.Detail != "" && s.Outcome != warehouse.OutcomeFailed && s.Outcome != warehouse.OutcomeInterrupted { // the cause is printed once, below
		fmt.Fprintf(tw, "  detail\t%s\n", s.Detail)
	}
	fmt.Fprintf(tw, "  took\t%s\n", s.Duration.Round(time.Millisecond))
	tw.Flush()
}

// oneLine puts s on one line of at most n bytes (plus an ellipsis). A
// longer s keeps its head and its tail, where an error's first cause is
// ("… dial tcp 127.0.0.1:1: connect: connection refused"), and drops the
// URLs of requests.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= n {
		return s
	}
	s = requestURL.ReplaceAllString(s, "")
	if len(s) <= n {
		return s
	}
	head := n / 3
	tail := n - head
	return strings.ToValidUTF8(s[:head], "") + " … " + strings.ToValidUTF8(s[len(s)-tail:], "")
}

// requestURL is the "Get "https://…": " of a failed HTTP request's error.
var requestURL = regexp.MustCompile(`(Get|Post|Put|Delete|Head) "[^"]*": `)
