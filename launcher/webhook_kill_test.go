//go:build cgo

package main

import (
	"bufio"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/marketplace/settle/io/rawzone"
	"github.com/marketplace/settle/io/webhook"
	"github.com/marketplace/settle/pipeline"
	"github.com/marketplace/settle/testing/settlebin"
	"github.com/marketplace/settle/testing/truthcheck"
	"github.com/marketplace/settle/testing/vendorsim"
)

const killSecret = "whsec_kill_test_do_not_log"

// startReceiver starts `settle webhook serve` on addr and waits until it
// listens.
func startReceiver(t *testing.T, bin, addr, dataDir string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, "webhook", "serve", "--addr", addr, "--data-dir", dataDir)
	cmd.Env = append(os.Environ(), "VENDOR_WEBHOOK_SECRET="+killSecret)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the receiver: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "listening on ") {
		t.Fatalf("receiver said %q, %v; want listening on", line, err)
	}
	return cmd
}

// landedIDs returns the event ids in the raw zone under dataDir.
func landedIDs(t *testing.T, dataDir string) map[string]bool {
	t.Helper()
	s, err := rawzone.NewFileStore(filepath.Join(dataDir, "raw"))
	if err != nil {
		t.Fatal(err)
	}
	names, err := s.List(t.Context(), "events/")
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, n := range names {
		data, err := s.Get(t.Context(), n)
		if err != nil {
			t.Fatal(err)
		}
		e, err := rawzone.DecodeEvent(data)
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		ids[e.EventID] = true
	}
	return ids
}

// TestWebhookReceiverSIGKILLMidBurst kills the receiver with SIGKILL in the
// middle of a burst: every event it acknowledged is in the raw zone; once
// the simulator's retries reach the restarted receiver, the warehouse
// equals the ground truth.
func TestWebhookReceiverSIGKILLMidBurst(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the launcher and pushes through a child receiver")
	}
	bin := settlebin.Build(t)
	dataDir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	first := startReceiver(t, bin, addr, dataDir)

	sim, err := vendorsim.New(vendorsim.Config{Seed: 5, Records: 400, From: simFrom(), To: simFrom().Add(2 * time.Hour), Faults: vendorsim.AllFaults()})
	if err != nil {
		t.Fatal(err)
	}
	events := sim.Events()
	var mu sync.Mutex
	acked := map[string]bool{}
	killAt := len(events) / 3
	killed := make(chan struct{})
	var once sync.Once
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	var st vendorsim.PushStats
	var pushErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		st, pushErr = sim.Push(ctx, events, vendorsim.PushConfig{
			URL: "http://" + addr + "/", Secrets: []webhook.Secret{webhook.Secret(killSecret)}, Faults: vendorsim.AllPushFaults(),
			Concurrency: 32, BackoffUnit: 20 * time.Millisecond, MaxElapsed: 2 * time.Minute,
			OnAck: func(id string) {
				mu.Lock()
				acked[id] = true
				n := len(acked)
				mu.Unlock()
				if n >= killAt {
					once.Do(func() { close(killed) })
				}
			},
		})
	}()
	select {
	case <-killed:
	case <-done:
		t.Fatalf("the push ended before the kill point (%v, %+v)", pushErr, st)
	}
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	// Every answer the client has seen came from the killed receiver.
	mu.Lock()
	before := make([]string, 0, len(acked))
	for id := range acked {
		before = append(before, id)
	}
	mu.Unlock()
	landed := landedIDs(t, dataDir)
	for _, id := range before {
		if !landed[id] {
			t.Errorf("event %s was acknowledged but is not in the raw zone", id)
		}
	}
	t.Logf("killed after %d acknowledged events; %d events in the raw zone", len(before), len(landed))

	time.Sleep(200 * time.Millisecond) // some retries meet a closed port
	startReceiver(t, bin, addr, dataDir)
	<-done
	if pushErr != nil || st.GaveUp > 0 {
		t.Fatalf("Push = %v, gave up on %d (%+v)", pushErr, st.GaveUp, st)
	}
	if st.Failures == 0 {
		t.Errorf("no delivery failed while the receiver was down: the kill came too late to test anything")
	}

	now := time.Now().UTC()
	cmd := exec.Command(bin, "replay", "--source", pipeline.WebhookSource, "--data-dir", dataDir, "--quiet",
		"--from", now.Add(-2*time.Hour).Format(time.RFC3339), "--to", now.Add(time.Hour).Format(time.RFC3339))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("settle replay --source=webhook: %v\n%s", err, out)
	}
	cfg := pipeline.DefaultConfig(dataDir)
	truthcheck.Compare(t, truthcheck.ReadDuckDB(t, "duckdb", truthcheck.DuckDBPath(cfg.Warehouse)), sim.Truth())
}

func simFrom() time.Time { return time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC) }
