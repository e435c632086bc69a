package cursorstore_test

import (
	"errors"
	"testing"
	"time"

	"github.com/marketplace/settle/io/cursorstore"
)

func TestResumeLease(t *testing.T) {
	ctx := t.Context()
	s, err := cursorstore.Open(ctx, "file://"+t.TempDir()+"/cursors.json")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	const ttl = time.Hour

	first, err := cursorstore.ResumeLease(ctx, s, "src", "job run-1", ttl, now)
	if err != nil {
		t.Fatalf("ResumeLease(free) = %v", err)
	}
	again, err := cursorstore.ResumeLease(ctx, s, "src", "job run-1", ttl, now.Add(time.Minute))
	if err != nil {
		t.Fatalf("ResumeLease by the same owner (a retried step) = %v, want it resumed", err)
	}
	if got, want := again.ExpiresAt(), now.Add(time.Minute+ttl); !got.Equal(want) {
		t.Errorf("resumed lease expires at %v, want %v", got, want)
	}
	var held *cursorstore.LeaseHeldError
	if _, err := cursorstore.ResumeLease(ctx, s, "src", "job run-2", ttl, now.Add(2*time.Minute)); !errors.As(err, &held) || held.Owner != "job run-1" {
		t.Fatalf("ResumeLease by another owner while held = %v, want a *LeaseHeldError naming job run-1", err)
	}
	if _, err := cursorstore.AcquireLease(ctx, s, "src", "local run", ttl, now.Add(3*time.Minute)); !errors.As(err, &held) {
		t.Fatalf("AcquireLease while a job holds the lease = %v, want a *LeaseHeldError", err)
	}
	if err := again.Release(ctx); err != nil {
		t.Fatalf("Release() = %v", err)
	}
	if err := first.Renew(ctx, now.Add(4*time.Minute)); !errors.Is(err, cursorstore.ErrLeaseLost) {
		t.Errorf("Renew of the first handle after the resumed one released = %v, want ErrLeaseLost", err)
	}
	next, err := cursorstore.ResumeLease(ctx, s, "src", "job run-2", ttl, now.Add(5*time.Minute))
	if err != nil {
		t.Fatalf("ResumeLease after release = %v", err)
	}
	if _, err := cursorstore.ResumeLease(ctx, s, "src", "job run-1", ttl, now.Add(ttl+6*time.Minute)); err != nil {
		t.Fatalf("ResumeLease after %s's lease expired = %v, want it taken over", next.Owner, err)
	}
}
