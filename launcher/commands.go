package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/marketplace/settle/io/cursorstore"
	"github.com/marketplace/settle/io/rawzone"
	"github.com/marketplace/settle/io/warehouse"
	"github.com/marketplace/settle/pipeline"
	"github.com/marketplace/settle/testing/vendorsim"
)

// simFlags start an in-process vendor simulator for `settle run --simulate`.
type simFlags struct {
	on      bool
	records int
	seed    int64
	faults  string
	meta    int
	truth   string
}

func addSim(fs *flag.FlagSet, s *simFlags) {
	fs.BoolVar(&s.on, "simulate", false, "serve the vendor simulator in-process and read from it (the embedded default of `make run`)")
	fs.IntVar(&s.records, "sim-records", 20000, "simulator: distinct settlements over [--from, --to)")
	fs.Int64Var(&s.seed, "sim-seed", 1, "simulator: seed of data and faults")
	fs.StringVar(&s.faults, "sim-faults", "default", "simulator: fault spec (default, none, all, or key=value,...)")
	fs.IntVar(&s.meta, "sim-metadata-bytes", 0, "simulator: metadata bytes per record (about 1300 makes the production 1.7 KB)")
	fs.StringVar(&s.truth, "sim-truth", "", "simulator: write the ground truth (NDJSON) to this file")
}

func cmdRun(ctx context.Context, args []string) int {
	fs, r := newRunFlagSet()
	if err := parse(fs, args); err != nil {
		return fail("run", err)
	}
	c, s, from, to := &r.common, r.sim, r.from, r.to
	cfg, err := c.config()
	if err != nil {
		return fail("run", err)
	}
	cfg.From, cfg.To = from, to
	log := c.logger()
	if done, err := useDataflow(ctx, r.dataflow, c.project, &cfg); err != nil || done {
		if err != nil {
			return fail("run", err)
		}
		return exitOK
	}
	if s.on {
		if from.IsZero() || to.IsZero() {
			return fail("run", fmt.Errorf("--simulate needs --from and --to (the simulated data's span): %w", errUsage))
		}
		url, stop, err := startSim(s, from, to)
		if err != nil {
			return fail("run", err)
		}
		defer stop()
		cfg.VendorURL = url
		log.Info("vendor simulator serving", "url", url, "records", s.records, "seed", s.seed, "faults", s.faults)
	}
	if cfg.VendorURL == "" {
		return fail("run", fmt.Errorf("--vendor-url is required (or --simulate): %w", errUsage))
	}
	stopProfile, err := c.profile()
	if err != nil {
		return fail("run", err)
	}
	defer stopProfile()
	sum, err := pipeline.Run(ctx, cfg, pipeline.Options{Logger: log, Progress: c.progress()})
	return report("run", sum, err)
}

// startSim serves a simulator on a loopback port with a token of its own,
// exported in VENDOR_API_TOKEN for the run (unless one is set already).
func startSim(s simFlags, from, to time.Time) (url string, stop func(), err error) {
	faults, err := vendorsim.ParseFaults(s.faults)
	if err != nil {
		return "", nil, fmt.Errorf("--sim-faults: %w", err)
	}
	token := os.Getenv(pipeline.DefaultTokenEnv)
	if token == "" {
		var b [16]byte
		_, _ = rand.Read(b[:])
		token = "sim_" + hex.EncodeToString(b[:])
		os.Setenv(pipeline.DefaultTokenEnv, token)
	}
	sim, url, err := vendorsim.Start(vendorsim.Config{
		Seed: s.seed, Records: s.records, From: from, To: to, Token: token,
		Faults: faults, MetadataBytes: s.meta,
	})
	if err != nil {
		return "", nil, fmt.Errorf("starting vendor simulator: %w", err)
	}
	if s.truth != "" {
		if err := writeTruth(sim, s.truth); err != nil {
			sim.Close()
			return "", nil, err
		}
	}
	return url, func() { sim.Close() }, nil
}

func writeTruth(sim *vendorsim.Sim, p string) error {
	f, err := os.Create(p)
	if err != nil {
		return fmt.Errorf("creating truth file: %w", err)
	}
	if err := sim.WriteTruth(f); err != nil {
		f.Close()
		return fmt.Errorf("writing truth file %s: %w", p, err)
	}
	return f.Close()
}

func cmdReplay(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("settle replay", flag.ContinueOnError)
	var c commonFlags
	var d dataflowFlags
	addDataflow(fs, &d)
	var from, to time.Time
	addCommon(fs, &c)
	fs.Var(timeFlag{&from}, "from", "replay windows that start at or after this time, RFC 3339 (required)")
	fs.Var(timeFlag{&to}, "to", "and before this time, RFC 3339 (required)")
	if err := parse(fs, args); err != nil {
		return fail("replay", err)
	}
	if from.IsZero() || to.IsZero() {
		return fail("replay", fmt.Errorf("--from and --to are required: %w", errUsage))
	}
	cfg, err := c.config()
	if err != nil {
		return fail("replay", err)
	}
	if done, err := useDataflow(ctx, d, c.project, &cfg); err != nil || done {
		if err != nil {
			return fail("replay", err)
		}
		return exitOK
	}
	stopProfile, err := c.profile()
	if err != nil {
		return fail("replay", err)
	}
	defer stopProfile()
	sum, err := pipeline.Replay(ctx, cfg, pipeline.Options{Logger: c.logger(), Progress: c.progress()}, from, to)
	return report("replay", sum, err)
}

func cmdRefetch(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("settle refetch", flag.ContinueOnError)
	var c commonFlags
	var from, to time.Time
	var ro pipeline.RefetchOptions
	addCommon(fs, &c)
	fs.Var(timeFlag{&from}, "from", "refetch damaged windows that overlap [--from, --to), RFC 3339 (required)")
	fs.Var(timeFlag{&to}, "to", "end of the range, RFC 3339 (required)")
	fs.BoolVar(&ro.All, "all", false, "re-read every window of the range, not only the damaged ones")
	fs.BoolVar(&ro.DryRun, "dry-run", false, "print what it would do and do nothing")
	if err := parse(fs, args); err != nil {
		return fail("refetch", err)
	}
	if from.IsZero() || to.IsZero() {
		return fail("refetch", fmt.Errorf("--from and --to are required: %w", errUsage))
	}
	cfg, err := c.config()
	if err != nil {
		return fail("refetch", err)
	}
	if cfg.VendorURL == "" && !ro.DryRun {
		return fail("refetch", fmt.Errorf("--vendor-url is required: %w", errUsage))
	}
	ro.Plan = os.Stdout
	sum, err := pipeline.Refetch(ctx, cfg, pipeline.Options{Logger: c.logger(), Progress: c.progress()}, from, to, ro)
	if err == nil && sum.RunID == "" {
		return exitOK // a dry run, or nothing to refetch: the plan said so
	}
	return report("refetch", sum, err)
}

func cmdRedrive(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("settle redrive", flag.ContinueOnError)
	var c commonFlags
	var d dataflowFlags
	addDataflow(fs, &d)
	addCommon(fs, &c)
	if err := parse(fs, args); err != nil {
		return fail("redrive", err)
	}
	cfg, err := c.config()
	if err != nil {
		return fail("redrive", err)
	}
	if done, err := useDataflow(ctx, d, c.project, &cfg); err != nil || done {
		if err != nil {
			return fail("redrive", err)
		}
		return exitOK
	}
	if cfg.VendorURL == "" {
		return fail("redrive", fmt.Errorf("--vendor-url is required: %w", errUsage))
	}
	sum, err := pipeline.Redrive(ctx, cfg, pipeline.Options{Logger: c.logger(), Progress: c.progress()})
	return report("redrive", sum, err)
}

func cmdDeadLetters(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("settle deadletters", flag.ContinueOnError)
	var c commonFlags
	addCommon(fs, &c)
	if err := parse(fs, args); err != nil {
		return fail("deadletters", err)
	}
	cfg, err := c.config()
	if err != nil {
		return fail("deadletters", err)
	}
	cursors, err := cursorstore.Open(ctx, cfg.CursorStore)
	if err != nil {
		return fail("deadletters", err)
	}
	defer cursors.Close()
	raw, err := rawzone.Open(ctx, cfg.RawZone)
	if err != nil {
		return fail("deadletters", err)
	}
	defer raw.Close()
	parked, err := pipeline.ParkedWindows(ctx, cfg, cursors)
	if err != nil {
		return fail("deadletters", err)
	}
	dls, err := rawzone.ListDeadLetters(ctx, raw, cfg.Source)
	if err != nil {
		return fail("deadletters", err)
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "WINDOW\tSTATE\tPAGE\tATTEMPTS\tLAST FAILURE\tLAST ERROR")
	isParked := map[string]bool{}
	for _, p := range parked {
		isParked[p.Start.Format(time.RFC3339Nano)+p.End.Format(time.RFC3339Nano)] = true
	}
	for _, d := range dls {
		state := "redriven"
		if isParked[d.WindowStart.UTC().Format(time.RFC3339Nano)+d.WindowEnd.UTC().Format(time.RFC3339Nano)] {
			state = "PARKED"
		} else if st, _, err := cursorstore.LoadWindow(ctx, cursors, cursorstore.WindowKey(cfg.Source, d.WindowStart, d.WindowEnd)); err == nil && st.Status == cursorstore.StatusSuperseded {
			state = "superseded (range read since)"
		}
		fmt.Fprintf(w, "%s/%s\t%s\t%d\t%d\t%s\t%s\n", d.WindowStart.UTC().Format(time.RFC3339Nano), d.WindowEnd.UTC().Format(time.RFC3339Nano),
			state, d.Page, d.Attempts, d.LastFailure.UTC().Format(time.RFC3339), oneLine(d.LastError, 120))
	}
	w.Flush()
	fmt.Printf("\n%d parked window(s), %d dead letter(s) in all. Retry parked windows with `settle redrive --vendor-url ...`.\n", len(parked), len(dls))
	if len(parked) > 0 {
		return exitAttention
	}
	return exitOK
}

func cmdPromote(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("settle promote", flag.ContinueOnError)
	var c commonFlags
	var runID string
	addCommon(fs, &c)
	fs.StringVar(&runID, "run-id", "", "the held run to promote (see `settle runs`)")
	if err := parse(fs, args); err != nil {
		return fail("promote", err)
	}
	if runID == "" {
		return fail("promote", fmt.Errorf("--run-id is required: %w", errUsage))
	}
	cfg, err := c.config()
	if err != nil {
		return fail("promote", err)
	}
	sum, err := pipeline.PromoteHeld(ctx, cfg, pipeline.Options{Logger: c.logger()}, runID)
	return report("promote", sum, err)
}

func cmdRuns(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("settle runs", flag.ContinueOnError)
	var c commonFlags
	var n int
	addCommon(fs, &c)
	fs.IntVar(&n, "n", 20, "newest runs to print")
	if err := parse(fs, args); err != nil {
		return fail("runs", err)
	}
	cfg, err := c.config()
	if err != nil {
		return fail("runs", err)
	}
	wh, err := warehouse.Open(ctx, cfg.Warehouse)
	if err != nil {
		return fail("runs", err)
	}
	defer wh.Close()
	runs, err := wh.Runs(ctx, n)
	if err != nil {
		return fail("runs", err)
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "RUN ID\tKIND\tWINDOW\tFETCHED\tDUPLICATES\tVALIDATED\tQUARANTINED\tPROMOTED\tCORRECTED\tWITHDRAWN\tPARKED\tOUTCOME\tDETAIL")
	for _, r := range runs {
		fmt.Fprintf(w, "%s\t%s\t%s/%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n", r.RunID, r.Kind,
			r.WindowStart.UTC().Format(time.RFC3339Nano), r.WindowEnd.UTC().Format(time.RFC3339Nano),
			r.Fetched, r.Duplicates, r.Validated, r.Quarantined, r.Promoted, r.Corrected, r.Withdrawn,
			r.DeadLettered, r.Outcome, oneLine(r.Detail, 100))
	}
	w.Flush()
	return exitOK
}

func cmdVendorSim(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("settle vendorsim", flag.ContinueOnError)
	var addr, faults, truth string
	var records, meta int
	var seed int64
	var from, to time.Time
	var rateLimit float64
	fs.StringVar(&addr, "addr", "127.0.0.1:8089", "listen address")
	fs.IntVar(&records, "records", 20000, "distinct settlements")
	fs.Int64Var(&seed, "seed", 1, "seed of data and faults")
	fs.StringVar(&faults, "faults", "default", "fault spec: default, none, all, or key=value,... (keys: "+strings.Join(vendorsim.FaultKeys(), ", ")+")")
	fs.IntVar(&meta, "metadata-bytes", 0, "metadata bytes per record")
	fs.Float64Var(&rateLimit, "rate-limit", 0, "enforced requests per second (0: the fault spec's)")
	fs.StringVar(&truth, "truth", "", "write the ground truth (NDJSON) to this file")
	fs.Var(timeFlag{&from}, "from", "first updated_at, RFC 3339 (default: 24 h before now)")
	fs.Var(timeFlag{&to}, "to", "end of updated_at, RFC 3339")
	if err := parse(fs, args); err != nil {
		return fail("vendorsim", err)
	}
	f, err := vendorsim.ParseFaults(faults)
	if err != nil {
		return fail("vendorsim", fmt.Errorf("--faults: %w", err))
	}
	sim, err := vendorsim.New(vendorsim.Config{Seed: seed, Records: records, From: from, To: to,
		Token: os.Getenv(pipeline.DefaultTokenEnv), Faults: f, MetadataBytes: meta, RateLimit: rateLimit})
	if err != nil {
		return fail("vendorsim", err)
	}
	if truth != "" {
		if err := writeTruth(sim, truth); err != nil {
			return fail("vendorsim", err)
		}
	}
	fmt.Fprintf(os.Stderr, "vendor simulator on http://%s (token: the value of %s, or any when unset)\n", addr, pipeline.DefaultTokenEnv)
	if err := sim.Serve(ctx, addr); err != nil && !errors.Is(err, context.Canceled) {
		return fail("vendorsim", err)
	}
	return exitOK
}

// report prints the summary and maps the result to the exit status.
func report(cmd string, sum pipeline.Summary, err error) int {
	var held *cursorstore.LeaseHeldError
	if errors.As(err, &held) {
		// The run never started: no summary, only who holds the lease.
		fmt.Fprintf(os.Stderr, "settle %s: %v\n", cmd, err)
		return exitLeaseHeld
	}
	if sum.RunID != "" {
		printSummary(os.Stdout, sum)
	}
	if err != nil {
		code := fail(cmd, err)
		if code == exitFailure && !errors.Is(err, pipeline.ErrRawZoneDamaged) {
			fmt.Fprintln(os.Stderr, "Nothing promoted by this run is lost: pages already in the raw zone stay there and a rerun resumes from the cursors. Fix the cause above and run the same command again.")
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
	fmt.Fprintf(tw, "  validated\t%d\n", s.Validated)
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
	fmt.Fprintf(tw, "  dead-lettered\t%d window(s)\n", len(s.DeadLetters))
	for _, d := range s.DeadLetters {
		fmt.Fprintf(tw, "    %s/%s\tpage %d after %d attempts: %s\n", d.WindowStart.UTC().Format(time.RFC3339Nano), d.WindowEnd.UTC().Format(time.RFC3339Nano), d.Page, d.Attempts, oneLine(d.LastError, 100))
	}
	held := "no"
	if s.Held {
		held = "YES: " + s.HeldDetail
	}
	fmt.Fprintf(tw, "  held\t%s\n", held)
	if s.Detail != "" {
		fmt.Fprintf(tw, "  detail\t%s\n", s.Detail)
	}
	fmt.Fprintf(tw, "  took\t%s\n", s.Duration.Round(time.Millisecond))
	tw.Flush()
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}
