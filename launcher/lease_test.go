//go:build cgo

package main

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/marketplace/settle/testing/settlebin"
	"github.com/marketplace/settle/testing/vendorsim"
)

type exited struct {
	run  int
	code int
	out  string
}

// TestTwoRunsAtOnceOnOneDataDirOneWorksTheOtherExits3 starts two runs of
// the real binary at once on one data dir (the embedded default: prism,
// file cursor store, DuckDB). The vendor holds every request until the
// test lets it go, so the run that won the lease is still running when the
// other one decides: that one must exit 3 by itself with the lease
// message, without a panic, and the first must then finish with 0.
func TestTwoRunsAtOnceOnOneDataDirOneWorksTheOtherExits3(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs it twice")
	}
	bin := settlebin.Build(t)
	from := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	to := from.Add(2 * time.Hour)
	const token = "sim_lease_token"
	sim, err := vendorsim.New(vendorsim.Config{Seed: 7, Records: 200, From: from, To: to, Token: token, Faults: vendorsim.NoFaults()})
	if err != nil {
		t.Fatal(err)
	}
	gate := make(chan struct{})
	var openGate sync.Once
	defer openGate.Do(func() { close(gate) })
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		}
		sim.Handler().ServeHTTP(w, r)
	}))
	defer srv.Close()
	defer openGate.Do(func() { close(gate) }) // before srv.Close waits for held requests

	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	dataDir := t.TempDir()
	args := []string{"run", "--vendor-url", srv.URL, "--from", from.Format(time.RFC3339), "--to", to.Format(time.RFC3339),
		"--data-dir", dataDir, "--page-size", "100", "--quiet"}
	done := make(chan exited, 2)
	for i := range 2 {
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = append(os.Environ(), "VENDOR_API_TOKEN="+token)
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() {
			err := cmd.Wait()
			code := 0
			if ee, ok := errors.AsType[*exec.ExitError](err); ok {
				code = ee.ExitCode()
			} else if err != nil {
				code = -1
			}
			done <- exited{run: i, code: code, out: out.String()}
		}()
	}

	var loser exited
	select {
	case loser = <-done:
	case <-time.After(90 * time.Second):
		t.Fatal("neither run ended while the vendor held the other's requests: did both take the lease?")
	}
	if loser.code != exitLeaseHeld || !strings.Contains(loser.out, "another run is in progress") || strings.Contains(loser.out, "panic") {
		t.Errorf("the run that lost the race exited %d, want %d with the lease message and no panic:\n%s", loser.code, exitLeaseHeld, loser.out)
	}

	openGate.Do(func() { close(gate) })
	winner := <-done
	if winner.code != exitOK {
		t.Errorf("the run that holds the lease exited %d, want 0:\n%s", winner.code, winner.out)
	}
	t.Logf("run %d exited %d:\n%s", loser.run, loser.code, loser.out)
}
