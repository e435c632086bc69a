package rawzone

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestGroupSyncCoversEveryCallerWithASyncStartedAfterIt checks groupSync's
// promise under concurrency: when run returns, a sync that started after
// the caller's write has finished, and its error is the one returned; and
// concurrent callers share syncs; spaced syncs start at most once per
// interval.
func TestGroupSyncCoversEveryCallerWithASyncStartedAfterIt(t *testing.T) {
	for _, interval := range []time.Duration{0, 5 * time.Millisecond} {
		t.Run(interval.String(), func(t *testing.T) { testGroupSync(t, interval) })
	}
}

func testGroupSync(t *testing.T, interval time.Duration) {
	g := newGroupSync(interval)
	var (
		writes  atomic.Int64 // writes made so far
		covered atomic.Int64 // writes covered by the last sync finished
		syncs   atomic.Int64
		running atomic.Int32
	)
	errOdd := errors.New("odd sync failed")
	syncFn := func() error {
		if running.Add(1) != 1 {
			t.Error("two syncs ran at once")
		}
		defer running.Add(-1)
		n := syncs.Add(1)
		snap := writes.Load()
		time.Sleep(200 * time.Microsecond)
		covered.Store(snap)
		if n%2 == 1 {
			return errOdd
		}
		return nil
	}
	const callers, rounds = 64, 50
	began := time.Now()
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range callers {
		wg.Go(func() {
			for range rounds {
				w := writes.Add(1)
				err := g.run(syncFn)
				if got := covered.Load(); got < w {
					t.Errorf("run returned after write %d with only writes up to %d synced", w, got)
				}
				if err != nil {
					if !errors.Is(err, errOdd) {
						t.Errorf("run returned %v", err)
					}
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if elapsed := time.Since(began); interval > 0 && syncs.Load() > int64(elapsed/interval)+1 {
		t.Errorf("%d syncs in %s: more than one per %s", syncs.Load(), elapsed, interval)
	}
	if n := syncs.Load(); n >= callers*rounds/2 {
		t.Errorf("%d syncs for %d calls: concurrent callers did not share them", n, callers*rounds)
	}
	if failed.Load() == 0 {
		t.Error("no caller saw a failed sync's error")
	}
}

// TestGroupSyncDoesNotDelayACallerAlone: the spacing only holds syncs
// back when other callers came since the last one started; a writer
// writing in sequence starts each sync at once (with an hour's interval a
// wait would show).
func TestGroupSyncDoesNotDelayACallerAlone(t *testing.T) {
	g := newGroupSync(time.Hour)
	syncs := 0
	for i := range 3 {
		done := make(chan error, 1)
		go func() { done <- g.run(func() error { syncs++; return nil }) }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("call %d waited although it was alone", i+1)
		}
	}
	if syncs != 3 {
		t.Errorf("%d syncs, want 3", syncs)
	}
}
