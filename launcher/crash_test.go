//go:build cgo

package main

import (
	"context"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/marketplace/settle/io/cursorstore"
	"github.com/marketplace/settle/testing/settlebin"
	"github.com/marketplace/settle/testing/truthcheck"
	"github.com/marketplace/settle/testing/vendorsim"
)

// countFiles counts regular files under dir (0 when it does not exist).
func countFiles(dir string) int {
	n := 0
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			n++
		}
		return nil
	})
	return n
}

// windowTotals sums the pages landed by every window's final chain, and
// counts the windows that are open (a chain in progress).
func windowTotals(t *testing.T, dataDir string) (pages int64, open int) {
	t.Helper()
	ctx := t.Context()
	s, err := cursorstore.Open(ctx, "file://"+filepath.Join(dataDir, "cursors"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	keys, err := s.List(ctx, "window/")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		st, _, err := cursorstore.LoadWindow(ctx, s, k)
		if err != nil {
			t.Fatal(err)
		}
		pages += st.Pages
		if st.Status == cursorstore.StatusOpen {
			open++
		}
	}
	return pages, open
}

func TestSIGKILLDuringIngestionThenRerunLosesNothingAndDoublesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and kills it")
	}
	bin := settlebin.Build(t)
	from := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	const token = "sim_crash_token"
	for _, killAfter := range []int{2, 15, 40} {
		t.Run(fmt.Sprintf("killed after %d raw pages", killAfter), func(t *testing.T) {
			f := vendorsim.NoFaults()
			f.Duplicate, f.Resend = 0.05, 0.05
			sim, err := vendorsim.New(vendorsim.Config{Seed: int64(killAfter), Records: 1500, From: from, To: from.Add(4 * time.Hour), Token: token, Faults: f})
			if err != nil {
				t.Fatal(err)
			}
			// Each run's preflight asks for one page of one record: those
			// pages are no chain's, so they are not counted as refetched.
			var preflights atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
				sim.Handler().ServeHTTP(sw, r)
				if r.URL.Query().Get("limit") == "1" && sw.code == http.StatusOK {
					preflights.Add(1)
				}
			}))
			defer srv.Close()
			dataDir := t.TempDir()
			args := []string{"run", "--vendor-url", srv.URL, "--from", from.Format(time.RFC3339), "--to", from.Add(4 * time.Hour).Format(time.RFC3339),
				"--data-dir", dataDir, "--page-size", "20", "--rate", "25", "--burst", "1", "--concurrency", "2", "--quiet"}
			env := append(os.Environ(), "VENDOR_API_TOKEN="+token)

			cmd := exec.Command(bin, args...)
			cmd.Env = env
			var out strings.Builder
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(60 * time.Second)
			for countFiles(filepath.Join(dataDir, "raw", "pages")) < killAfter {
				if time.Now().After(deadline) {
					cmd.Process.Kill()
					t.Fatalf("fewer than %d pages landed in 60s:\n%s", killAfter, out.String())
				}
				time.Sleep(5 * time.Millisecond)
			}
			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Wait()
			_, open := windowTotals(t, dataDir)
			servedBefore := sim.Stats().Pages
			landedBefore := countFiles(filepath.Join(dataDir, "raw", "pages"))
			if landedBefore >= 4*1500*16/10/20 {
				t.Fatalf("the run finished (%d pages) before it was killed: the test proves nothing", landedBefore)
			}

			// No wait for the killed run's lease (default TTL, a minute) to
			// expire: its holder process on this host is gone, so the rerun
			// takes the lease over at once.
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			rerun := exec.CommandContext(ctx, bin, args...)
			rerun.Env = env
			if b, err := rerun.CombinedOutput(); err != nil {
				t.Fatalf("rerun after SIGKILL: %v\n%s", err, b)
			}
			truthcheck.Compare(t, truthcheck.ReadDuckDB(t, "duckdb", filepath.Join(dataDir, "warehouse.duckdb")), sim.Truth())

			final, _ := windowTotals(t, dataDir)
			refetched := sim.Stats().Pages - final - preflights.Load()
			t.Logf("killed with %d pages landed and %d served, %d windows open; %d pages fetched again", landedBefore, servedBefore, open, refetched)
			if refetched > int64(open) {
				t.Errorf("%d pages fetched again after the crash, want at most one per open window (%d)", refetched, open)
			}
		})
	}
}

// statusWriter records the status of an answer.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}
