// Command benchday measures the pipeline on a day at the vendor's volume
// (make bench). It serves the vendor simulator in this process and runs
// bin/settle as child processes, so each phase's peak RSS is the child's
// own (getrusage ru_maxrss), and prints the figures as a table.
//
// Phases:
//  1. ingest: settle run against the simulator, faults and rate limit off;
//  2. process: settle replay of the same day into a fresh warehouse (raw
//     zone → warehouse, the processing figure);
//  3. paced: a run against a simulator that enforces the configured rate,
//     reporting the achieved request rate and the share of 429s;
//  4. crash: a paced run killed with SIGKILL half-way, then resumed,
//     reporting the pages fetched twice.
//
// Right after phase 2 it runs the yardstick, testing/plainloop (a plain
// single-goroutine Go loop over the same raw zone), as a child process
// and prints its figures beside ours with the ratio.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/marketplace/settle/testing/vendorsim"
)

const token = "bench_token"

var from = time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)

func main() {
	bin := flag.String("bin", "bin/settle", "the settle binary")
	loop := flag.String("loop", "bin/plainloop", "the yardstick binary (testing/plainloop); empty skips it")
	out := flag.String("out", "bench-out", "work directory (wiped)")
	records := flag.Int("records", 1_925_000, "distinct settlements (about 1.56 listed records each with the default resends: 1.925 M makes ~3 M records)")
	meta := flag.Int("metadata-bytes", 1300, "metadata bytes per record (1300 makes ~1.7 KB records)")
	pacedFor := flag.Duration("paced", 60*time.Second, "length of the paced run (0 skips it)")
	rate := flag.Float64("rate", 25, "configured and enforced rate of the paced run")
	skipDay := flag.Bool("skip-day", false, "skip the full-day phases")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err := run(ctx, *bin, *loop, *out, *records, *meta, *pacedFor, *rate, *skipDay); err != nil {
		fmt.Fprintln(os.Stderr, "benchday:", err)
		os.Exit(1)
	}
}

type row struct{ name, value, note string }

func run(ctx context.Context, bin, loop, out string, records, meta int, pacedFor time.Duration, rate float64, skipDay bool) error {
	if err := os.RemoveAll(out); err != nil {
		return err
	}
	var rows []row
	os.Setenv("VENDOR_API_TOKEN", token)
	if !skipDay {
		r, err := day(ctx, bin, loop, filepath.Join(out, "day"), records, meta)
		rows = append(rows, r...)
		if err != nil {
			printRows(rows)
			return err
		}
	}
	if pacedFor > 0 {
		r, err := paced(ctx, bin, filepath.Join(out, "paced"), pacedFor, rate)
		rows = append(rows, r...)
		if err != nil {
			printRows(rows)
			return err
		}
	}
	printRows(rows)
	return nil
}

func day(ctx context.Context, bin, loop, dir string, records, meta int) ([]row, error) {
	var rows []row
	t0 := time.Now()
	sim, url, err := vendorsim.Start(vendorsim.Config{Seed: 1, Records: records, From: from, To: from.Add(24 * time.Hour),
		Token: token, Faults: resendsOnly(), MetadataBytes: meta})
	if err != nil {
		return nil, err
	}
	defer sim.Close()
	rows = append(rows, row{"simulator index", time.Since(t0).Round(time.Millisecond).String(), fmt.Sprintf("%d versions", sim.Versions())})

	args := []string{"run", "--vendor-url", url, "--from", from.Format(time.RFC3339), "--to", from.Add(24 * time.Hour).Format(time.RFC3339),
		"--data-dir", dir, "--rate", "100000", "--burst", "1000", "--page-size", "500", "--concurrency", "4", "--quiet", "--volume-min-runs", "1000"}
	res, err := child(ctx, bin, args...)
	if err != nil {
		return rows, fmt.Errorf("ingest run: %w\n%s", err, res.tail)
	}
	st := sim.Stats()
	rows = append(rows,
		row{"run (ingest+process) wall", res.wall.Round(time.Millisecond).String(), fmt.Sprintf("exit %d", res.exit)},
		row{"run peak RSS", mib(res.maxRSS), ""},
		row{"records listed by vendor", fmt.Sprint(st.Records), fmt.Sprintf("%d pages, %d requests", st.Pages, st.Requests)},
		row{"ingest phase", res.phase("ingest"), "from the run's log"},
		row{"ingest records/s", perSecond(st.Records, res.phaseDur("ingest")), ""},
	)
	// Processing alone: the raw zone into a fresh warehouse.
	if err := os.Remove(filepath.Join(dir, "warehouse.duckdb")); err != nil {
		return rows, err
	}
	res, err = child(ctx, bin, "replay", "--from", from.Format(time.RFC3339), "--to", from.Add(24*time.Hour).Format(time.RFC3339),
		"--data-dir", dir, "--quiet")
	if err != nil {
		return rows, fmt.Errorf("replay: %w\n%s", err, res.tail)
	}
	rows = append(rows,
		row{"process (raw zone → warehouse) wall", res.wall.Round(time.Millisecond).String(), "target < the plain loop's"},
		row{"process peak RSS", mib(res.maxRSS), "target ≤ 3 GiB"},
		row{"process records/s", perSecond(st.Records, res.wall), ""},
		row{"process summary", strings.Join(res.summary(), "; "), ""},
	)
	if loop == "" {
		return rows, nil
	}
	// The yardstick, right after, on the same raw zone.
	lres, err := child(ctx, loop, "-raw", filepath.Join(dir, "raw"), "-db", filepath.Join(dir, "plainloop.duckdb"))
	if err != nil {
		return rows, fmt.Errorf("plain loop: %w\n%s", err, lres.tail)
	}
	rows = append(rows,
		row{"plain loop (yardstick) wall", lres.wall.Round(time.Millisecond).String(), strings.TrimSpace(lres.tail)},
		row{"plain loop peak RSS", mib(lres.maxRSS), ""},
		row{"process / plain loop, wall", fmt.Sprintf("%.2f×", res.wall.Seconds()/lres.wall.Seconds()), "target < 1"},
	)
	return rows, nil
}

// resendsOnly keeps the simulator's default share of duplicates and
// resends and turns every failure and the rate limit off.
func resendsOnly() vendorsim.Faults {
	d := vendorsim.DefaultFaults()
	f := vendorsim.NoFaults()
	f.Duplicate, f.Resend = d.Duplicate, d.Resend
	return f
}

func paced(ctx context.Context, bin, dir string, length time.Duration, rate float64) ([]row, error) {
	// Enough data that the run cannot finish before `length` at `rate`:
	// rate × length pages of 100.
	pages := int(rate * length.Seconds())
	records := pages * 100 * 10 / 16
	f := vendorsim.NoFaults()
	sim, url, err := vendorsim.Start(vendorsim.Config{Seed: 2, Records: records, From: from, To: from.Add(24 * time.Hour),
		Token: token, Faults: f, RateLimit: rate, Burst: int(rate)})
	if err != nil {
		return nil, err
	}
	defer sim.Close()
	args := []string{"run", "--vendor-url", url, "--from", from.Format(time.RFC3339), "--to", from.Add(24 * time.Hour).Format(time.RFC3339),
		"--data-dir", dir, "--rate", fmt.Sprint(rate), "--burst", fmt.Sprint(int(rate)), "--page-size", "100", "--concurrency", "8", "--quiet"}
	res, err := child(ctx, bin, args...)
	if err != nil {
		return nil, fmt.Errorf("paced run: %w\n%s", err, res.tail)
	}
	st := sim.Stats()
	ingest := res.phaseDur("ingest")
	achieved := float64(st.Requests) / ingest.Seconds()
	rows := []row{
		{"paced: requests", fmt.Sprint(st.Requests), fmt.Sprintf("in %s of ingest", ingest.Round(time.Millisecond))},
		{"paced: achieved rate", fmt.Sprintf("%.2f/s", achieved), fmt.Sprintf("%.1f%% of the allowed %.0f/s (target ≥ 95%%)", 100*achieved/rate, rate)},
		{"paced: 429 share", fmt.Sprintf("%.2f%%", 100*float64(st.RateLimited)/float64(max(st.Requests, 1))), fmt.Sprintf("%d of %d (target ≤ 1%%)", st.RateLimited, st.Requests)},
	}

	// Crash and resume: SIGKILL half-way through a second copy, then rerun.
	dir2 := dir + "-crash"
	sim2, url2, err := vendorsim.Start(vendorsim.Config{Seed: 2, Records: records, From: from, To: from.Add(24 * time.Hour),
		Token: token, Faults: f, RateLimit: rate, Burst: int(rate)})
	if err != nil {
		return rows, err
	}
	defer sim2.Close()
	args2 := append([]string(nil), args...)
	for i, a := range args2 {
		if a == url {
			args2[i] = url2
		}
		if a == dir {
			args2[i] = dir2
		}
	}
	args2 = append(args2, "--lease-ttl", "2s")
	if _, err := childKilledAfter(ctx, bin, ingest/2, args2...); err != nil {
		return rows, err
	}
	before := sim2.Stats().Pages
	time.Sleep(3 * time.Second) // the killed run's lease expires
	res2, err := child(ctx, bin, args2...)
	if err != nil {
		return rows, fmt.Errorf("resumed run: %w\n%s", err, res2.tail)
	}
	extra := sim2.Stats().Pages - st.Pages
	rows = append(rows, row{"crash: pages fetched twice", fmt.Sprint(extra),
		fmt.Sprintf("killed after %d pages; resumed run fetched %d; %d windows, concurrency 8", before, sim2.Stats().Pages-before, 24)})
	return rows, nil
}

func printRows(rows []row) {
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "FIGURE\tVALUE\tNOTE")
	for _, r := range rows {
		fmt.Fprintf(w, "%s\t%s\t%s\n", r.name, r.value, r.note)
	}
	w.Flush()
}

// result is one child run.
type result struct {
	exit   int
	wall   time.Duration
	maxRSS int64 // bytes
	log    string
	tail   string
}

func child(ctx context.Context, bin string, args ...string) (result, error) {
	return childKilledAfter(ctx, bin, 0, args...)
}

func childKilledAfter(ctx context.Context, bin string, killAfter time.Duration, args ...string) (result, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	var buf strings.Builder
	cmd.Stdout, cmd.Stderr = &buf, &buf
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return result{}, err
	}
	if killAfter > 0 {
		timer := time.AfterFunc(killAfter, func() { cmd.Process.Signal(syscall.SIGKILL) })
		defer timer.Stop()
	}
	err := cmd.Wait()
	r := result{wall: time.Since(start), log: buf.String()}
	if ps := cmd.ProcessState; ps != nil {
		r.exit = ps.ExitCode()
		if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
			r.maxRSS = ru.Maxrss * 1024
		}
	}
	lines := strings.Split(strings.TrimSpace(r.log), "\n")
	r.tail = strings.Join(lines[max(0, len(lines)-25):], "\n")
	if killAfter > 0 {
		return r, nil
	}
	if err != nil && r.exit != 2 {
		return r, err
	}
	return r, nil
}

// phase returns the duration of a phase from the run's "phase finished"
// log lines.
func (r result) phase(name string) string {
	d := r.phaseDur(name)
	if d == 0 {
		return "n/a"
	}
	return d.Round(time.Millisecond).String()
}

func (r result) phaseDur(name string) time.Duration {
	for _, l := range strings.Split(r.log, "\n") {
		if !strings.Contains(l, "phase finished") || !strings.Contains(l, "phase="+name) {
			continue
		}
		for _, f := range strings.Fields(l) {
			if v, ok := strings.CutPrefix(f, "took="); ok {
				d, err := time.ParseDuration(v)
				if err == nil {
					return d
				}
			}
		}
	}
	return 0
}

func (r result) summary() []string {
	var out []string
	for _, l := range strings.Split(r.log, "\n") {
		l = strings.TrimSpace(l)
		for _, k := range []string{"read from raw zone", "duplicates dropped", "validated", "promoted", "quarantined"} {
			if strings.HasPrefix(l, k) {
				out = append(out, strings.Join(strings.Fields(l), " "))
			}
		}
	}
	return out
}

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

func perSecond(n int64, d time.Duration) string {
	if d <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.0f", float64(n)/d.Seconds())
}
