package e2egcp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/marketplace/settle/io/cursorstore"
	"github.com/marketplace/settle/pipeline"
	"github.com/marketplace/settle/testing/settlebin"
	"github.com/marketplace/settle/testing/vendorsim"
)

// child is a `settle` process in a process group of its own.
type child struct {
	cmd    *exec.Cmd
	log    *bytes.Buffer
	exited chan struct{}
	err    error // of Wait, once exited is closed
}

func startSettle(t *testing.T, bin string, args []string) *child {
	t.Helper()
	c := &child{log: &bytes.Buffer{}, exited: make(chan struct{})}
	c.cmd = exec.Command(bin, args...)
	c.cmd.Env = os.Environ() // the emulator variables and the token, set by t.Setenv
	c.cmd.Stdout, c.cmd.Stderr = c.log, c.log
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c.cmd.WaitDelay = 5 * time.Second
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	go func() {
		c.err = c.cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(func() {
		c.kill()
		<-c.exited
	})
	return c
}

// kill sends SIGKILL to the child's process group.
func (c *child) kill() {
	_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
}

func (c *child) done() bool {
	select {
	case <-c.exited:
		return true
	default:
		return false
	}
}

// wait waits for the child to exit, at most d, and returns its exit code.
func (c *child) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-c.exited:
	case <-time.After(d):
		c.kill()
		<-c.exited
		t.Fatalf("settle did not finish within %s; its output:\n%s", d, c.output())
	}
	var ee *exec.ExitError
	if errors.As(c.err, &ee) {
		return ee.ExitCode()
	}
	if c.err != nil {
		t.Fatalf("waiting for settle: %v", c.err)
	}
	return 0
}

// output is the child's combined output; read it only after it exited.
func (c *child) output() string {
	<-c.exited
	return c.log.String()
}

// TestSIGKILLMidRunThenRerunOnTheEmulatorsLosesNothingAndRefetchesOnlyOpenWindows
// runs the built launcher as `settle run --backend=gcp` against the
// emulators, kills it with SIGKILL once pages have landed, waits out its
// lease and runs it again: the warehouse equals the ground truth, the
// pages fetched twice are at most one per window open at the kill, and a
// third run fetches and changes nothing.
func TestSIGKILLMidRunThenRerunOnTheEmulatorsLosesNothingAndRefetchesOnlyOpenWindows(t *testing.T) {
	e := newGCPEnv(t)
	bin := settlebin.Build(t)

	const (
		hours       = 4
		records     = 4000
		concurrency = 4
		leaseTTL    = 2 * time.Second
		killAfter   = 25 // page objects in the raw zone
	)
	t.Setenv(envToken, simToken)
	sim, err := vendorsim.New(vendorsim.Config{
		Seed: 5, Records: records, From: simFrom, To: simFrom.Add(hours * time.Hour),
		Token: simToken, Faults: testFaults(),
	})
	if err != nil {
		t.Fatalf("creating simulator: %v", err)
	}
	// Each run's preflight asks for one page of one record (limit=1),
	// before any chain fetches: such a page is no window's, so the pages
	// the simulator counted while serving it are not fetched again.
	var preflightPages atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("limit") != "1" {
			sim.Handler().ServeHTTP(w, r)
			return
		}
		before := sim.Stats().Pages
		sim.Handler().ServeHTTP(w, r)
		preflightPages.Add(sim.Stats().Pages - before)
	}))
	t.Cleanup(srv.Close)

	args := append([]string{"run"}, e.flags()...)
	args = append(args,
		"--vendor-url="+srv.URL,
		"--from="+simFrom.Format(time.RFC3339), "--to="+simFrom.Add(hours*time.Hour).Format(time.RFC3339),
		"--lease-ttl="+leaseTTL.String(), "--page-size=50", "--concurrency="+strconv.Itoa(concurrency),
		// Slow enough that the kill lands in the middle of ingesting.
		"--rate=20", "--burst=5", "--retry-budget=90s", "--quiet",
	)

	// First run: killed once some pages have landed.
	first := startSettle(t, bin, args)
	for e.rawPages(t) < killAfter {
		if first.done() {
			t.Fatalf("settle exited before %d pages landed, so it could not be killed mid-run; its output:\n%s", killAfter, first.output())
		}
		time.Sleep(20 * time.Millisecond) // polling another process: no clock to fake
	}
	first.kill()
	<-first.exited
	if ws, ok := first.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("first run ended with %v, want killed by SIGKILL; its output:\n%s", first.cmd.ProcessState, first.output())
	}

	store := e.cursors(t)
	atKill := windows(t, store, pipeline.DefaultSource)
	var open, done int
	var committed int64
	for _, st := range atKill {
		committed += st.Pages
		switch st.Status {
		case cursorstore.StatusOpen:
			open++
		case cursorstore.StatusDone:
			done++
		}
	}
	pagesAtKill := sim.Stats().Pages
	t.Logf("at the kill: %d raw page objects, %d pages committed in the cursor store, %d sent by the vendor; windows: %d open, %d done, %d not started",
		e.rawPages(t), committed, pagesAtKill, open, done, hours-len(atKill))
	if done == hours {
		t.Fatalf("every window was done at the kill: the kill came too late to test a crash mid-ingest")
	}

	// The killed run still holds its lease: a hard kill releases nothing.
	lease := loadLease(t, store, pipeline.DefaultSource)
	if lease.Owner == "" {
		t.Fatalf("the lease was released by a run killed with SIGKILL: %+v", lease)
	}
	if wait := time.Until(lease.ExpiresAt); wait > 0 {
		time.Sleep(wait + 250*time.Millisecond) // a real lease on a real clock in another process
	}

	// Second run: completes, taking over the expired lease.
	second := startSettle(t, bin, args)
	if code := second.wait(t, 10*time.Minute); code != 0 {
		t.Fatalf("second run exited %d, want 0 (promoted); its output:\n%s", code, second.output())
	}
	t.Logf("second run:\n%s", second.output())

	before := e.rows(t)
	checkAgainstTruth(t, before, sim.Truth())

	final := windows(t, store, pipeline.DefaultSource)
	var landed int64
	for k, st := range final {
		if st.Status != cursorstore.StatusDone {
			t.Errorf("window %s is %s after the second run, want done", k, st.Status)
		}
		landed += st.Pages
	}
	refetched := sim.Stats().Pages - preflightPages.Load() - landed
	t.Logf("vendor sent %d whole pages; %d are in the windows' chains; %d fetched again; %d windows open at the kill, concurrency %d",
		sim.Stats().Pages, landed, refetched, open, concurrency)
	if refetched < 0 {
		t.Errorf("the windows' chains hold %d pages, more than the %d the vendor sent", landed, sim.Stats().Pages)
	}
	if refetched > int64(open) || refetched > concurrency {
		t.Errorf("%d pages fetched again after the kill, want at most one per window open at the kill (%d) and at most --concurrency (%d)",
			refetched, open, concurrency)
	}

	// A third run of the same range fetches nothing and changes nothing.
	pages := sim.Stats().Pages - preflightPages.Load()
	third := startSettle(t, bin, args)
	if code := third.wait(t, 10*time.Minute); code != 0 {
		t.Fatalf("third run exited %d, want 0 (promoted); its output:\n%s", code, third.output())
	}
	if got := sim.Stats().Pages - preflightPages.Load() - pages; got != 0 {
		t.Errorf("third run fetched %d pages, want 0 (every window is done)", got)
	}
	if out := third.output(); !rowsChangedZero.MatchString(out) {
		t.Errorf("third run's summary does not say 0 rows changed:\n%s", out)
	}
	if diff := cmp.Diff(before, e.rows(t), cmp.AllowUnexported(warehouseRows{})); diff != "" {
		t.Errorf("the warehouse changed by the third run (-before +after):\n%s", diff)
	}
}

// rowsChangedZero matches the launcher summary's line for a run that
// changed no settlements row.
var rowsChangedZero = regexp.MustCompile(`(?m)^\s*promoted \(rows changed\)\s+0$`)

// leaseDoc is the stored lease's JSON (io/cursorstore/lease.go).
type leaseDoc struct {
	Owner     string    `json:"owner"`
	ExpiresAt time.Time `json:"expires_at"`
}

func loadLease(t *testing.T, s cursorstore.Store, source string) leaseDoc {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	d, err := s.Get(ctx, cursorstore.LeaseKey(source))
	if err != nil {
		t.Fatalf("reading lease of %s: %v", source, err)
	}
	var l leaseDoc
	if err := json.Unmarshal(d.Body, &l); err != nil {
		t.Fatalf("decoding lease %s: %v", d.Body, err)
	}
	return l
}
