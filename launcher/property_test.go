//go:build cgo

package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/marketplace/settle/io/warehouse"
	_ "github.com/marketplace/settle/io/warehouse/duckdb"
	"github.com/marketplace/settle/pipeline"
	"github.com/marketplace/settle/testing/settlebin"
	"github.com/marketplace/settle/testing/truthcheck"
	"github.com/marketplace/settle/testing/vendorsim"
	"github.com/marketplace/settle/testing/warehousetest"
)

// The property test's knobs: SETTLE_PROPERTY_SEEDS days are simulated
// (default 1, `make test-property` runs more), starting from
// SETTLE_PROPERTY_SEED (default: random, printed).
const (
	envPropertySeeds = "SETTLE_PROPERTY_SEEDS"
	envPropertySeed  = "SETTLE_PROPERTY_SEED"
)

// TestAnyCutAnyOrderAnyCrashGivesTheFoldOfTheRawZone is the property of
// issue 7: however a range is cut into runs and chunks, in whatever order
// they run, and wherever a run is killed (ingest, process or land), once
// every run has been rerun to completion the warehouse equals one plain
// fold over every version in the raw zone (newest wins; a newest version
// that fails the row rules is withheld, absent from settlements), and the
// simulator's ground truth.
func TestAnyCutAnyOrderAnyCrashGivesTheFoldOfTheRawZone(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary, runs it many times and kills it")
	}
	seeds := 1
	if s := os.Getenv(envPropertySeeds); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("%s=%q: want a count", envPropertySeeds, s)
		}
		seeds = n
	}
	base := rand.Uint64() >> 1
	if s := os.Getenv(envPropertySeed); s != "" {
		n, err := strconv.ParseUint(s, 10, 63)
		if err != nil {
			t.Fatalf("%s=%q: want a number", envPropertySeed, s)
		}
		base = n
	}
	bin := settlebin.Build(t)
	for i := range uint64(seeds) {
		seed := base + i
		t.Run(fmt.Sprintf("seed %d", seed), func(t *testing.T) {
			t.Logf("rerun this case with %s=%d %s=1", envPropertySeed, seed, envPropertySeeds)
			runPropertyCase(t, bin, seed)
		})
	}
}

// propertyFaults are the data faults the property is about: stale
// resends, page-boundary repeats, many records on one updated_at, two
// versions of one settlement on one updated_at, late versions, settlements
// whose newest version alone is invalid (its older versions in other
// windows), invalid and messy ones. Transport faults are off: they are
// another test's subject and only slow this one down.
func propertyFaults() vendorsim.Faults {
	f := vendorsim.NoFaults()
	f.Resend, f.Duplicate = 0.08, 0.05
	f.Ties, f.TieGroup = 0.3, 5
	f.SameInstant = 0.05
	f.NewestInvalid = 0.1
	f.Invalid, f.Messy = 0.04, 0.05
	f.Late, f.MaxLag = 0.1, 10*time.Minute
	return f
}

func runPropertyCase(t *testing.T, bin string, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 0x5e771e))
	from := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	to := from.Add(6 * time.Hour)
	const token = "sim_property_token"
	sim, err := vendorsim.New(vendorsim.Config{Seed: int64(seed), Records: 700, From: from, To: to, Token: token, Faults: propertyFaults()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim.Handler())
	defer srv.Close()
	dataDir := t.TempDir()
	env := append(os.Environ(), "VENDOR_API_TOKEN="+token)

	// Cut [from, to) into 1..4 runs at random instants (to the
	// millisecond: bounds are exact), in a random order.
	cuts := []time.Time{from, to}
	for range r.IntN(4) {
		cuts = append(cuts, from.Add(time.Duration(1+r.Int64N(int64(6*time.Hour/time.Millisecond)-1))*time.Millisecond))
	}
	slices.SortFunc(cuts, func(a, b time.Time) int { return a.Compare(b) })
	cuts = slices.Compact(cuts)
	var ranges [][2]time.Time
	for i := 1; i < len(cuts); i++ {
		ranges = append(ranges, [2]time.Time{cuts[i-1], cuts[i]})
	}
	r.Shuffle(len(ranges), func(i, j int) { ranges[i], ranges[j] = ranges[j], ranges[i] })

	common := func(kind string, rg [2]time.Time) []string {
		args := []string{kind, "--from", rg[0].Format(time.RFC3339Nano), "--to", rg[1].Format(time.RFC3339Nano),
			"--data-dir", dataDir, "--chunk-windows", strconv.Itoa(1 + r.IntN(4)),
			"--process-parallelism", strconv.Itoa(1 + r.IntN(2)), "--lease-ttl", "2s",
			"--volume-band", "1000", "--quiet"}
		if kind == "run" {
			args = append(args, "--vendor-url", srv.URL, "--page-size", strconv.Itoa(20+r.IntN(40)),
				"--rate", "500", "--burst", "50", "--concurrency", strconv.Itoa(1+r.IntN(3)))
		}
		return args
	}
	for _, rg := range ranges {
		runToCompletion(t, bin, env, common("run", rg), r)
	}
	// Replays of random ranges, cut into chunks of another size, killed too.
	for range 1 + r.IntN(2) {
		a := from.Add(time.Duration(r.Int64N(int64(5 * time.Hour))))
		b := a.Add(time.Duration(r.Int64N(int64(4*time.Hour))) + time.Minute)
		if b.After(to) {
			b = to
		}
		runToCompletion(t, bin, env, common("replay", [2]time.Time{a, b}), r)
	}

	fold := truthcheck.FoldRawZone(t, "file://"+filepath.Join(dataDir, "raw"), pipeline.DefaultSource, pipeline.DefaultConfig(dataDir).Rules())
	settlements, withheld := readDuckDB(t, filepath.Join(dataDir, "warehouse.duckdb"))
	t.Logf("%d runs over %v; raw zone: %d records, %d versions, %d settlements, %d withheld, %d unkeyed",
		len(ranges), cuts, fold.Records, fold.Versions, len(fold.Settlements), len(fold.Withheld), fold.Unkeyed)
	if len(fold.Withheld) == 0 || len(fold.Settlements) == 0 {
		t.Errorf("the fold has %d settlements and %d withheld: the case needs both", len(fold.Settlements), len(fold.Withheld))
	}
	truthcheck.CompareFold(t, fold, settlements, withheld)
	truthcheck.Compare(t, truthcheck.ReadDuckDB(t, "duckdb", filepath.Join(dataDir, "warehouse.duckdb")), sim.Truth())
	// Every run that reached a verdict, killed ones' reruns included,
	// balanced its account.
	w, err := warehouse.Open(t.Context(), "duckdb://"+filepath.Join(dataDir, "warehouse.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	warehousetest.CheckRunAccounts(t, w)
}

// runToCompletion runs settle with args. With odds of three in four it
// first starts it and kills it with SIGKILL in a phase drawn at random:
// ingest (a random delay after the start), process (after the log says
// ingest finished) or land (after it says processing finished), each plus
// a random delay. It then reruns until the command exits 0, waiting out a
// lease the killed run left (exit 3).
func runToCompletion(t *testing.T, bin string, env, args []string, r *rand.Rand) {
	t.Helper()
	if phase := r.IntN(4); phase < 3 {
		killIn(t, bin, env, args, []string{"", "phase=ingest", "phase=process"}[phase],
			time.Duration(r.IntN(400))*time.Millisecond)
	}
	for attempt := 0; ; attempt++ {
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		cancel()
		code := cmd.ProcessState.ExitCode()
		switch {
		case err == nil:
			return
		case code == 3 && attempt < 30:
			time.Sleep(500 * time.Millisecond) // the killed run's lease
		default:
			t.Fatalf("settle %s: %v (exit %d)\n%s", strings.Join(args, " "), err, code, out)
		}
	}
}

// killIn starts settle and kills it delay after its output first contains
// after ("" means the start). It logs where the kill landed.
func killIn(t *testing.T, bin string, env, args []string, after string, delay time.Duration) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { err := cmd.Wait(); pw.Close(); done <- err }()
	seen := make(chan struct{})
	var out strings.Builder
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		signalled := after == ""
		if signalled {
			close(seen)
		}
		for sc.Scan() {
			out.WriteString(sc.Text() + "\n")
			if !signalled && strings.Contains(sc.Text(), after) {
				signalled = true
				close(seen)
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	what := fmt.Sprintf("%s %s", args[0], strings.Join(args[1:5], " "))
	select {
	case <-seen:
		select {
		case err := <-done:
			<-scanned
			t.Logf("%s finished before the kill (%s + %s): %v", what, orStart(after), delay, err)
			return
		case <-time.After(delay):
		}
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-done
		<-scanned
		t.Logf("%s killed at %s + %s, in phase %s", what, orStart(after), delay, phaseReached(out.String()))
	case err := <-done:
		<-scanned
		t.Logf("%s finished before %q showed: %v", what, after, err)
	}
}

func orStart(after string) string {
	if after == "" {
		return "start"
	}
	return after
}

// phaseReached names the phase a killed run was in, from the phases its
// log says it finished.
func phaseReached(log string) string {
	switch {
	case strings.Contains(log, "phase=process"):
		return "land"
	case strings.Contains(log, "phase=ingest"):
		return "process"
	default:
		return "ingest"
	}
}

// readDuckDB reads settlements and settlements_withheld of a warehouse file.
func readDuckDB(t *testing.T, path string) ([]warehouse.Settlement, []warehouse.Withheld) {
	t.Helper()
	w, err := warehouse.Open(t.Context(), "duckdb://"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	rd, ok := w.(interface {
		Settlements(context.Context) ([]warehouse.Settlement, error)
		Withheld(context.Context) ([]warehouse.Withheld, error)
	})
	if !ok {
		t.Fatalf("%T has no readers", w)
	}
	s, err := rd.Settlements(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	h, err := rd.Withheld(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return s, h
}
