package cursorstore

import (
	"context"
	"errors"
	"time"
)

// Spurious conflicts: a back end may refuse a write under contention even
// though the stored version is still the caller's (Firestore aborts a
// transaction whose document another transaction holds locked, and the
// lock of a process killed mid-transaction outlives it for a while). Such a
// refusal wrote nothing, so the same write may be tried again.
const (
	busyBudget   = 2 * time.Minute
	busyFirstGap = 50 * time.Millisecond
	busyMaxGap   = 5 * time.Second
)

// putCAS is s.Put, tried again while it reports ErrConflict but the stored
// version is still version, for up to busyBudget. A real conflict (the
// stored version moved) is returned at once.
func putCAS(ctx context.Context, s Store, key string, version int64, body []byte) (int64, error) {
	deadline := time.Now().Add(busyBudget)
	gap := busyFirstGap
	for {
		v, err := s.Put(ctx, key, version, body)
		if err == nil || !errors.Is(err, ErrConflict) {
			return v, err
		}
		var stored int64
		d, gerr := s.Get(ctx, key)
		switch {
		case gerr == nil:
			stored = d.Version
		case !errors.Is(gerr, ErrNotFound):
			return 0, err
		}
		if stored != version || time.Now().Add(gap).After(deadline) {
			return 0, err
		}
		t := time.NewTimer(gap)
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, errors.Join(err, ctx.Err())
		case <-t.C:
		}
		gap = min(2*gap, busyMaxGap)
	}
}
