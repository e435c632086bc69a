package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/marketplace/settle/io/cursorstore"
	"github.com/marketplace/settle/io/vendorapi"
	"github.com/marketplace/settle/io/warehouse"
)

// countingWarehouse counts promotions; the rest of the contract is unused.
type countingWarehouse struct {
	warehouse.Warehouse
	promoted atomic.Int64
}

func (w *countingWarehouse) Promote(context.Context, string) (warehouse.PromoteStats, error) {
	w.promoted.Add(1)
	return warehouse.PromoteStats{Inserted: 1}, nil
}

// flakyStore fails every Put while fail is set, as an unreachable back end.
type flakyStore struct {
	cursorstore.Store
	fail atomic.Bool
}

func (s *flakyStore) Put(ctx context.Context, key string, version int64, body []byte) (int64, error) {
	if s.fail.Load() {
		return 0, errors.New("cursor store unavailable")
	}
	return s.Store.Put(ctx, key, version, body)
}

func leaseTestConfig(t *testing.T, ttl time.Duration) Config {
	t.Helper()
	cfg := DefaultConfig(t.TempDir())
	cfg.LeaseTTL = ttl
	return cfg
}

func openLeaseTestStore(t *testing.T) cursorstore.Store {
	t.Helper()
	s, err := cursorstore.OpenFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// startLeasedRun takes the lease as begin does and returns the run's
// context and back ends (a counting warehouse).
func startLeasedRun(t *testing.T, cfg Config, s cursorstore.Store) (context.Context, *backends, *countingWarehouse) {
	t.Helper()
	ctx, cancel := context.WithCancelCause(t.Context())
	l, err := takeLease(ctx, cancel, cfg, s, "run-1", Options{}.withDefaults())
	if err != nil {
		t.Fatalf("takeLease: %v", err)
	}
	wh := &countingWarehouse{}
	b := &backends{cursors: s, wh: wh, lease: l}
	t.Cleanup(func() { l.end() })
	return ctx, b, wh
}

// stealLease takes the source's lease over as another run would once the
// first one's had expired (its renewals stalled).
func stealLease(t *testing.T, cfg Config, s cursorstore.Store) {
	t.Helper()
	future := time.Now().Add(cfg.LeaseTTL + time.Second)
	if _, err := cursorstore.AcquireLease(context.WithoutCancel(t.Context()), s, cfg.Source, "the run that took over", time.Hour, future); err != nil {
		t.Fatalf("taking the lease over: %v", err)
	}
}

// TestARefusedRenewalCancelsTheRunAndRefusesPromote: when another run took
// the lease over, the next renewal is refused; the run's context is then
// cancelled with a cause saying the lease was lost (ingest stops: its
// cursor writes run under that context), and promote and the watermark
// are refused, even under a context that was not cancelled.
func TestARefusedRenewalCancelsTheRunAndRefusesPromote(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := leaseTestConfig(t, 3*time.Second)
		s := openLeaseTestStore(t)
		ctx, b, wh := startLeasedRun(t, cfg, s)
		stealLease(t, cfg, s)

		time.Sleep(cfg.LeaseTTL/3 + time.Millisecond) // the first renewal
		synctest.Wait()
		if ctx.Err() == nil {
			t.Fatal("the run's context is not cancelled after its renewal was refused")
		}
		if cause := context.Cause(ctx); !errors.Is(cause, cursorstore.ErrLeaseLost) {
			t.Fatalf("context.Cause = %v, want ErrLeaseLost", cause)
		}

		if _, err := b.promote(t.Context(), "run-1"); !errors.Is(err, cursorstore.ErrLeaseLost) {
			t.Errorf("promote after the lease was lost: error = %v, want ErrLeaseLost", err)
		}
		if n := wh.promoted.Load(); n != 0 {
			t.Errorf("the warehouse was promoted %d times after the lease was lost, want 0", n)
		}
		assertWatermarkRefused(t, cfg, b)

		err := leaseLost(ctx, fmt.Errorf("ingesting from the vendor: %w", context.Canceled))
		if !errors.Is(err, cursorstore.ErrLeaseLost) || !strings.Contains(err.Error(), "lost the lease") || !strings.Contains(err.Error(), "run the same command again") {
			t.Errorf("the run's final error = %q, want it to say the lease was lost and what to do", err)
		}
	})
}

// TestAStalledRunFindsItsLostLeaseBeforePromoting: a run that stalled past
// its TTL (no renewal ran) and was taken over must not promote: promote
// checks the lease first.
func TestAStalledRunFindsItsLostLeaseBeforePromoting(t *testing.T) {
	cfg := leaseTestConfig(t, time.Hour) // no renewal tick during the test
	s := openLeaseTestStore(t)
	ctx, b, wh := startLeasedRun(t, cfg, s)
	if _, err := b.promote(t.Context(), "run-1"); err != nil {
		t.Fatalf("promote while the lease is held: %v", err)
	}
	stealLease(t, cfg, s)
	if _, err := b.promote(t.Context(), "run-1"); !errors.Is(err, cursorstore.ErrLeaseLost) {
		t.Errorf("promote after a takeover: error = %v, want ErrLeaseLost", err)
	}
	if n := wh.promoted.Load(); n != 1 {
		t.Errorf("promoted %d times, want only the one before the takeover", n)
	}
	if !errors.Is(context.Cause(ctx), cursorstore.ErrLeaseLost) {
		t.Errorf("context.Cause = %v, want the run cancelled with ErrLeaseLost", context.Cause(ctx))
	}
	assertWatermarkRefused(t, cfg, b)
}

// TestALeaseThatCannotBeRenewedIsLostWhenItExpires: renewals failing for
// another reason (the store is unreachable) are retried while the lease
// lasts; once it has expired another run may take it, so the run stops.
func TestALeaseThatCannotBeRenewedIsLostWhenItExpires(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := leaseTestConfig(t, 3*time.Second)
		s := &flakyStore{Store: openLeaseTestStore(t)}
		ctx, cancel := context.WithCancelCause(t.Context())
		opts := Options{Logger: slog.New(slog.DiscardHandler)}.withDefaults()
		l, err := takeLease(ctx, cancel, cfg, s, "run-1", opts)
		if err != nil {
			t.Fatal(err)
		}
		defer l.end()
		s.fail.Store(true)
		time.Sleep(2*cfg.LeaseTTL/3 + time.Millisecond) // two failed renewals
		synctest.Wait()
		if ctx.Err() != nil {
			t.Fatalf("run cancelled at %v, before its lease expired: %v", 2*cfg.LeaseTTL/3, context.Cause(ctx))
		}
		time.Sleep(cfg.LeaseTTL / 3) // the renewal at expiry fails too
		synctest.Wait()
		if !errors.Is(context.Cause(ctx), cursorstore.ErrLeaseLost) {
			t.Errorf("context.Cause after the lease expired unrenewed = %v, want ErrLeaseLost", context.Cause(ctx))
		}
	})
}

// assertWatermarkRefused: a run whose windows are done, but whose lease is
// lost, must not move the watermark.
func assertWatermarkRefused(t *testing.T, cfg Config, b *backends) {
	t.Helper()
	ctx := t.Context()
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	w := vendorapi.Window{Start: start, End: start.Add(time.Hour)}
	key := cursorstore.WindowKey(cfg.Source, w.Start, w.End)
	if _, err := cursorstore.SaveWindow(ctx, b.cursors, key, 0, cursorstore.WindowState{Status: cursorstore.StatusDone}); err != nil {
		t.Fatal(err)
	}
	tasks := []vendorapi.Task{vendorapi.NewTask(cfg.Source, w, "epoch")}
	if err := advanceWatermark(ctx, cfg, b, tasks); !errors.Is(err, cursorstore.ErrLeaseLost) {
		t.Errorf("advanceWatermark after the lease was lost: error = %v, want ErrLeaseLost", err)
	}
	if wm, _, err := cursorstore.LoadWatermark(ctx, b.cursors, cfg.Source); err != nil || !wm.IsZero() {
		t.Errorf("watermark = %v, %v; want it unmoved (zero)", wm, err)
	}
}
