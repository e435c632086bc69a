package cursorstore_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/marketplace/settle/io/cursorstore"
)

// busyStore refuses the first n writes with ErrConflict, writing nothing,
// as Firestore does when a dead transaction still holds the document.
type busyStore struct {
	cursorstore.Store
	n int
}

func (s *busyStore) Put(ctx context.Context, key string, version int64, body []byte) (int64, error) {
	if s.n > 0 {
		s.n--
		return 0, cursorstore.ErrConflict
	}
	return s.Store.Put(ctx, key, version, body)
}

// movingStore lets another writer win before every write of the caller.
type movingStore struct {
	cursorstore.Store
	puts int
}

func (s *movingStore) Put(ctx context.Context, key string, version int64, body []byte) (int64, error) {
	s.puts++
	if _, err := s.Store.Put(ctx, key, version, []byte(`{"status":"open","pages":9}`)); err != nil {
		return 0, err
	}
	return s.Store.Put(ctx, key, version, body)
}

func TestSaveWindowRetriesAConflictThatWroteNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fs, err := cursorstore.OpenFile(filepath.Join(t.TempDir(), "c"))
		if err != nil {
			t.Fatal(err)
		}
		s := &busyStore{Store: fs, n: 5}
		start := time.Now()
		v, err := cursorstore.SaveWindow(t.Context(), s, "window/x/a_b", 0, cursorstore.WindowState{Status: cursorstore.StatusOpen})
		if err != nil || v != 1 {
			t.Fatalf("SaveWindow after 5 busy refusals = %d, %v; want 1, nil", v, err)
		}
		if waited := time.Since(start); waited <= 0 || waited > time.Minute {
			t.Errorf("waited %v (fake clock), want a short backoff", waited)
		}
	})
}

func TestSaveWindowGivesUpOnABusyStoreAfterItsBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fs, err := cursorstore.OpenFile(filepath.Join(t.TempDir(), "c"))
		if err != nil {
			t.Fatal(err)
		}
		s := &busyStore{Store: fs, n: 1 << 30}
		start := time.Now()
		_, err = cursorstore.SaveWindow(t.Context(), s, "window/x/a_b", 0, cursorstore.WindowState{Status: cursorstore.StatusOpen})
		if !errors.Is(err, cursorstore.ErrConflict) {
			t.Fatalf("SaveWindow on a store busy forever: err = %v, want ErrConflict", err)
		}
		if waited := time.Since(start); waited < time.Minute || waited > 3*time.Minute {
			t.Errorf("gave up after %v (fake clock), want about 2m", waited)
		}
	})
}

func TestSaveWindowReturnsARealConflictAtOnce(t *testing.T) {
	fs, err := cursorstore.OpenFile(filepath.Join(t.TempDir(), "c"))
	if err != nil {
		t.Fatal(err)
	}
	s := &movingStore{Store: fs}
	_, err = cursorstore.SaveWindow(t.Context(), s, "window/x/a_b", 0, cursorstore.WindowState{Status: cursorstore.StatusOpen})
	if !errors.Is(err, cursorstore.ErrConflict) {
		t.Fatalf("SaveWindow losing to another writer: err = %v, want ErrConflict", err)
	}
	if s.puts != 1 {
		t.Errorf("tried %d writes, want 1: another writer's win is final", s.puts)
	}
}
