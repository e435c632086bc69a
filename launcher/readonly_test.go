//go:build cgo

package main

import (
	"context"
	"github.com/marketplace/settle/testing/duckdbhold"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/marketplace/settle/testing/settlebin"
	"github.com/marketplace/settle/testing/vendorsim"
)

// TestReadOnlyCommandsRefuseAMissingDataDir: deadletters and runs pointed
// at a folder that does not exist exit 64 with one line saying so, and
// create nothing.
func TestReadOnlyCommandsRefuseAMissingDataDir(t *testing.T) {
	for _, cmd := range []string{"deadletters", "runs"} {
		t.Run(cmd, func(t *testing.T) {
			parent := t.TempDir()
			t.Chdir(parent)
			for _, args := range [][]string{{cmd, "--data-dir", filepath.Join(parent, "nope")}, {cmd}} {
				code, stdout, stderr := runCaptured(t, args...)
				if code != exitUsage {
					t.Errorf("settle %s: exit %d, want %d; stderr: %s", strings.Join(args, " "), code, exitUsage, stderr)
				}
				line := strings.TrimSuffix(stderr, "\n")
				if strings.Contains(line, "\n") || !strings.Contains(line, "no data dir at ") || !strings.Contains(line, "settle run") {
					t.Errorf("settle %s: stderr %q, want one line: no data dir at ..., run `settle run` first", strings.Join(args, " "), stderr)
				}
				if stdout != "" {
					t.Errorf("stdout %q, want none", stdout)
				}
			}
			if entries, _ := os.ReadDir(parent); len(entries) > 0 {
				t.Errorf("settle %s created %v", cmd, entries)
			}
		})
	}
}

// TestReadOnlyCommandsLeaveAnEmptyFolderEmpty: in an existing empty data
// dir, deadletters and runs report nothing and create nothing (no cursor
// or raw directory, no lock file, no warehouse).
func TestReadOnlyCommandsLeaveAnEmptyFolderEmpty(t *testing.T) {
	for _, cmd := range []string{"deadletters", "runs"} {
		t.Run(cmd, func(t *testing.T) {
			dir := t.TempDir()
			code, stdout, stderr := runCaptured(t, cmd, "--data-dir", dir)
			if code != exitOK {
				t.Errorf("settle %s in an empty dir: exit %d, want 0; stderr: %s", cmd, code, stderr)
			}
			if cmd == "deadletters" && !strings.Contains(stdout, "0 parked window(s), 0 dead letter(s)") {
				t.Errorf("deadletters: stdout %q, want 0 parked", stdout)
			}
			if cmd == "runs" && !strings.Contains(stderr, "no runs recorded yet") {
				t.Errorf("runs: stderr %q, want: no runs recorded yet", stderr)
			}
			if entries, _ := os.ReadDir(dir); len(entries) > 0 {
				t.Errorf("settle %s left %v in the empty data dir", cmd, entries)
			}
		})
	}
}

func TestHoldDuckDBForAParent(t *testing.T) { duckdbhold.Child(t) }

// holdWarehouse starts a child process holding the warehouse file open
// read-write; release closes it and waits for the child to exit.
func holdWarehouse(t *testing.T, path string) (pid int, release func()) {
	t.Helper()
	return duckdbhold.Hold(t, "TestHoldDuckDBForAParent", path)
}

// TestRunsWaitsForAHeldWarehouseThenExits3NamingTheHolder: while another
// process has the DuckDB warehouse open read-write, `settle runs` waits
// --wait, then exits 3 naming that process; once it lets go within the
// wait, runs reads the ledger and exits 0.
func TestRunsWaitsForAHeldWarehouseThenExits3NamingTheHolder(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "warehouse.duckdb")
	pid, release := holdWarehouse(t, path)

	began := time.Now()
	code, _, stderr := runCaptured(t, "runs", "--data-dir", dir, "--wait", "600ms")
	if code != exitLeaseHeld {
		t.Errorf("runs while another process holds the warehouse: exit %d, want %d; stderr: %s", code, exitLeaseHeld, stderr)
	}
	if !strings.Contains(stderr, "process "+strconv.Itoa(pid)) {
		t.Errorf("stderr does not name the holder, process %d:\n%s", pid, stderr)
	}
	if waited := time.Since(began); waited < 600*time.Millisecond {
		t.Errorf("runs gave up after %s, before --wait 600ms", waited)
	}

	go func() {
		time.Sleep(500 * time.Millisecond)
		release()
	}()
	code, stdout, stderr := runCaptured(t, "runs", "--data-dir", dir, "--wait", "30s")
	if code != exitOK || !strings.HasPrefix(stdout, "RUN ID") {
		t.Errorf("runs once the holder let go within --wait: exit %d, stdout %q, stderr %s; want 0 and the ledger", code, stdout, stderr)
	}
}

// TestRunsReadsTheLedgerWhileARunIngests: a run whose vendor holds every
// request is ingesting; `settle runs` must read the ledger at once
// (--wait 0): the run holds the DuckDB warehouse only while it stages,
// promotes and records.
func TestRunsReadsTheLedgerWhileARunIngests(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs it")
	}
	bin := settlebin.Build(t)
	from := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	to := from.Add(2 * time.Hour)
	const token = "sim_ro_token"
	sim, err := vendorsim.New(vendorsim.Config{Seed: 7, Records: 200, From: from, To: to, Token: token, Faults: vendorsim.NoFaults()})
	if err != nil {
		t.Fatal(err)
	}
	gate := make(chan struct{})
	var openGate sync.Once
	requested := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case requested <- struct{}{}:
		default:
		}
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		}
		sim.Handler().ServeHTTP(w, r)
	}))
	defer srv.Close()
	defer openGate.Do(func() { close(gate) })

	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	dataDir := t.TempDir()
	run := func(args ...string) (int, string) {
		cmd := exec.CommandContext(ctx, bin, append(args, "--data-dir", dataDir)...)
		cmd.Env = append(os.Environ(), "VENDOR_API_TOKEN="+token)
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), string(out)
		} else if err != nil {
			t.Fatal(err)
		}
		return 0, string(out)
	}
	done := make(chan string, 1)
	go func() {
		code, out := run("run", "--vendor-url", srv.URL, "--from", from.Format(time.RFC3339), "--to", to.Format(time.RFC3339), "--page-size", "100", "--quiet")
		done <- "exit " + strconv.Itoa(code) + "\n" + out
	}()
	select {
	case <-requested:
	case out := <-done:
		t.Fatalf("the run ended before asking the vendor: %s", out)
	case <-ctx.Done():
		t.Fatal("the run never asked the vendor")
	}
	code, out := run("runs", "--wait", "0s")
	if code != exitOK {
		t.Errorf("settle runs while a run ingests: exit %d, want 0:\n%s", code, out)
	}
	openGate.Do(func() { close(gate) })
	if out := <-done; !strings.HasPrefix(out, "exit 0\n") {
		t.Errorf("the run: %s", out)
	}
	if code, out := run("runs", "--wait", "0s"); code != exitOK || strings.Count(out, "\n") < 2 {
		t.Errorf("settle runs after the run: exit %d, want 0 and its row:\n%s", code, out)
	}
}
