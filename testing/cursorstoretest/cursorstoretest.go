// Package cursorstoretest is the contract suite every cursorstore.Store back
// end must pass: compare-and-set semantics, listing, odd keys, large bodies,
// no lost update under concurrency, the typed window, lease and watermark
// documents built on top, and the optional Deleter capability.
//
// A back end's test calls Run with a function that opens a fresh, empty
// store for each subtest (a new directory, a new Firestore collection).
package cursorstoretest

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/marketplace/settle/io/cursorstore"
)

// Opener opens a fresh, empty store for one subtest; it closes the store in
// t.Cleanup and fails t if it cannot open one.
type Opener func(t *testing.T) cursorstore.Store

// Run runs the contract suite against the stores open returns. Subtests run
// one after another; the concurrency subtests use goroutines and should be
// run under -race.
func Run(t *testing.T, open Opener) {
	t.Helper()
	t.Run("compare-and-set", func(t *testing.T) { runCAS(t, open) })
	t.Run("keys and bodies", func(t *testing.T) { runKeys(t, open) })
	t.Run("concurrency", func(t *testing.T) { runConcurrency(t, open) })
	t.Run("window", func(t *testing.T) { runWindow(t, open) })
	t.Run("lease", func(t *testing.T) { runLease(t, open) })
	t.Run("watermark", func(t *testing.T) { runWatermark(t, open) })
	t.Run("delete", func(t *testing.T) { runDelete(t, open) })
}

func runCAS(t *testing.T, open Opener) {
	t.Run("Get of an absent key returns ErrNotFound", func(t *testing.T) {
		s := open(t)
		_, err := s.Get(t.Context(), "absent")
		if !errors.Is(err, cursorstore.ErrNotFound) {
			t.Errorf("Get(absent) error = %v, want ErrNotFound", err)
		}
	})
	t.Run("Put at version 0 creates the document at version 1", func(t *testing.T) {
		s := open(t)
		mustPut(t, s, "k", 0, "one", 1)
		wantDoc(t, s, "k", cursorstore.Doc{Version: 1, Body: []byte("one")})
	})
	t.Run("Put at the stored version replaces the body and adds one to the version", func(t *testing.T) {
		s := open(t)
		mustPut(t, s, "k", 0, "one", 1)
		mustPut(t, s, "k", 1, "two", 2)
		mustPut(t, s, "k", 2, "three", 3)
		wantDoc(t, s, "k", cursorstore.Doc{Version: 3, Body: []byte("three")})
	})
	conflicts := []struct {
		name    string
		setup   int // documents written before the Put under test
		version int64
	}{
		{"Put at version 0 over an existing document returns ErrConflict and writes nothing", 2, 0},
		{"Put at a stale version returns ErrConflict and writes nothing", 2, 1},
		{"Put at a version ahead of the stored one returns ErrConflict and writes nothing", 2, 5},
		{"Put at a nonzero version on an absent key returns ErrConflict and writes nothing", 0, 1},
	}
	for _, tt := range conflicts {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			for i := range tt.setup {
				mustPut(t, s, "k", int64(i), "body-"+strconv.Itoa(i), int64(i+1))
			}
			_, err := s.Put(t.Context(), "k", tt.version, []byte("intruder"))
			if !errors.Is(err, cursorstore.ErrConflict) {
				t.Fatalf("Put(k, %d) error = %v, want ErrConflict", tt.version, err)
			}
			if tt.setup == 0 {
				if _, err := s.Get(t.Context(), "k"); !errors.Is(err, cursorstore.ErrNotFound) {
					t.Errorf("Get(k) after a conflicting create: error = %v, want ErrNotFound", err)
				}
				return
			}
			wantDoc(t, s, "k", cursorstore.Doc{Version: int64(tt.setup), Body: []byte("body-" + strconv.Itoa(tt.setup-1))})
		})
	}
	t.Run("Documents under different keys have their own versions", func(t *testing.T) {
		s := open(t)
		mustPut(t, s, "a", 0, "a1", 1)
		mustPut(t, s, "a", 1, "a2", 2)
		mustPut(t, s, "b", 0, "b1", 1)
		wantDoc(t, s, "a", cursorstore.Doc{Version: 2, Body: []byte("a2")})
		wantDoc(t, s, "b", cursorstore.Doc{Version: 1, Body: []byte("b1")})
	})
}

// oddKeys are keys a file name or a Firestore document id could not hold
// verbatim.
var oddKeys = []string{
	"window/src-1/2024-01-01T00:00:00Z_2024-01-01T01:00:00Z",
	"a:b",
	"with space",
	"percent%2Fescaped",
	"../../etc/passwd",
	".",
	"..",
	".hidden",
	"__reserved__",
	"_under",
	"unicode/日本語/é",
	`back\slash`,
	"tab\tand\nnewline",
	"a//b",
	"trailing/",
	"/leading",
	"q?x=1&y=#frag",
}

func runKeys(t *testing.T, open Opener) {
	t.Run("Keys with odd characters round-trip through Put, Get and List", func(t *testing.T) {
		s := open(t)
		for i, k := range oddKeys {
			mustPut(t, s, k, 0, "body of "+strconv.Itoa(i), 1)
		}
		for i, k := range oddKeys {
			wantDoc(t, s, k, cursorstore.Doc{Version: 1, Body: []byte("body of " + strconv.Itoa(i))})
		}
		want := slices.Clone(oddKeys)
		slices.Sort(want)
		got, err := s.List(t.Context(), "")
		if err != nil {
			t.Fatalf("List(\"\") error = %v", err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("List(\"\") mismatch (-want +got):\n%s", diff)
		}
	})
	t.Run("List returns only the keys that start with the prefix, sorted", func(t *testing.T) {
		s := open(t)
		keys := []string{
			"window/b/2", "window/a/2", "window/a/10", "window/a/1", "window/ab/1",
			"lease/a", "watermark/a", "window", "windows/a", "window/a/日",
		}
		for _, k := range keys {
			mustPut(t, s, k, 0, k, 1)
		}
		tests := []struct {
			prefix string
			want   []string
		}{
			{"window/a/", []string{"window/a/1", "window/a/10", "window/a/2", "window/a/日"}},
			{"window/a", []string{"window/a/1", "window/a/10", "window/a/2", "window/a/日", "window/ab/1"}},
			{"window/", []string{"window/a/1", "window/a/10", "window/a/2", "window/a/日", "window/ab/1", "window/b/2"}},
			{"lease/", []string{"lease/a"}},
			{"nothing/", []string{}},
			{"", sorted(keys)},
		}
		for _, tt := range tests {
			got, err := s.List(t.Context(), tt.prefix)
			if err != nil {
				t.Fatalf("List(%q) error = %v", tt.prefix, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("List(%q) mismatch (-want +got):\n%s", tt.prefix, diff)
			}
		}
	})
	t.Run("An empty key is rejected with ErrInvalidKey", func(t *testing.T) {
		s := open(t)
		if _, err := s.Put(t.Context(), "", 0, []byte("x")); !errors.Is(err, cursorstore.ErrInvalidKey) {
			t.Errorf("Put(\"\") error = %v, want ErrInvalidKey", err)
		}
		if _, err := s.Get(t.Context(), ""); !errors.Is(err, cursorstore.ErrInvalidKey) {
			t.Errorf("Get(\"\") error = %v, want ErrInvalidKey", err)
		}
	})
	t.Run("A key that is not valid UTF-8 is rejected with ErrInvalidKey", func(t *testing.T) {
		s := open(t)
		if _, err := s.Put(t.Context(), "bad\xff", 0, []byte("x")); !errors.Is(err, cursorstore.ErrInvalidKey) {
			t.Errorf("Put(bad UTF-8) error = %v, want ErrInvalidKey", err)
		}
	})
	t.Run("A 100 KB binary body round-trips unchanged", func(t *testing.T) {
		s := open(t)
		body := make([]byte, 100<<10)
		r := rand.New(rand.NewPCG(1, 2))
		for i := range body {
			body[i] = byte(r.Uint32())
		}
		mustPutBytes(t, s, "big", 0, body, 1)
		body2 := bytes.Repeat([]byte("0123456789\n"), 10<<10)
		mustPutBytes(t, s, "big", 1, body2, 2)
		got, err := s.Get(t.Context(), "big")
		if err != nil {
			t.Fatalf("Get(big) error = %v", err)
		}
		if got.Version != 2 || !bytes.Equal(got.Body, body2) {
			t.Errorf("Get(big) = version %d, %d bytes (equal %v), want version 2, %d equal bytes",
				got.Version, len(got.Body), bytes.Equal(got.Body, body2), len(body2))
		}
	})
	t.Run("An empty body round-trips", func(t *testing.T) {
		s := open(t)
		mustPut(t, s, "empty", 0, "", 1)
		got, err := s.Get(t.Context(), "empty")
		if err != nil {
			t.Fatalf("Get(empty) error = %v", err)
		}
		if got.Version != 1 || len(got.Body) != 0 {
			t.Errorf("Get(empty) = %+v, want version 1 and no body", got)
		}
	})
}

func runConcurrency(t *testing.T, open Opener) {
	t.Run("Concurrent compare-and-set increments lose no update", func(t *testing.T) {
		s := open(t)
		const goroutines, increments = 4, 5
		var (
			wg        sync.WaitGroup
			mu        sync.Mutex
			successes int
			conflicts int
			errs      []error
		)
		for g := range goroutines {
			wg.Go(func() {
				for done := 0; done < increments; {
					n, version, err := readCounter(t, s, "counter")
					if err != nil {
						mu.Lock()
						errs = append(errs, fmt.Errorf("goroutine %d: %w", g, err))
						mu.Unlock()
						return
					}
					_, err = s.Put(t.Context(), "counter", version, []byte(strconv.Itoa(n+1)))
					mu.Lock()
					switch {
					case err == nil:
						successes++
						done++
					case errors.Is(err, cursorstore.ErrConflict):
						conflicts++
					default:
						errs = append(errs, fmt.Errorf("goroutine %d: %w", g, err))
					}
					mu.Unlock()
					if err != nil && !errors.Is(err, cursorstore.ErrConflict) {
						return
					}
				}
			})
		}
		wg.Wait()
		if len(errs) > 0 {
			t.Fatalf("increments failed: %v", errors.Join(errs...))
		}
		n, version, err := readCounter(t, s, "counter")
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%d successful increments, %d conflicts", successes, conflicts)
		if want := goroutines * increments; successes != want || version != int64(want) || n != want {
			t.Errorf("after %d goroutines x %d increments: successes %d, version %d, counter %d; want all %d",
				goroutines, increments, successes, version, n, want)
		}
	})
	t.Run("Of racing creates of one key exactly one wins", func(t *testing.T) {
		s := open(t)
		const racers = 6
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			winners []string
			errs    []error
		)
		start := make(chan struct{})
		for g := range racers {
			wg.Go(func() {
				<-start
				id := "racer-" + strconv.Itoa(g)
				_, err := s.Put(t.Context(), "once", 0, []byte(id))
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					winners = append(winners, id)
				case !errors.Is(err, cursorstore.ErrConflict):
					errs = append(errs, err)
				}
			})
		}
		close(start)
		wg.Wait()
		if len(errs) > 0 {
			t.Fatalf("racing creates failed: %v", errors.Join(errs...))
		}
		if len(winners) != 1 {
			t.Fatalf("winners = %v, want exactly one", winners)
		}
		wantDoc(t, s, "once", cursorstore.Doc{Version: 1, Body: []byte(winners[0])})
	})
}

func readCounter(t *testing.T, s cursorstore.Store, key string) (n int, version int64, err error) {
	t.Helper()
	d, err := s.Get(t.Context(), key)
	if errors.Is(err, cursorstore.ErrNotFound) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("reading counter: %w", err)
	}
	n, err = strconv.Atoi(string(d.Body))
	if err != nil {
		return 0, 0, fmt.Errorf("reading counter at version %d: %w", d.Version, err)
	}
	return n, d.Version, nil
}

var t0 = time.Date(2024, 3, 10, 12, 0, 0, 0, time.UTC)

func runWindow(t *testing.T, open Opener) {
	start, end := t0, t0.Add(time.Hour)
	key := cursorstore.WindowKey("vendor-a", start, end)
	first := cursorstore.WindowState{Cursor: "c1", Pages: 1, Records: 500, Status: cursorstore.StatusOpen, UpdatedAt: t0}

	t.Run("An absent window loads as the zero state at version 0", func(t *testing.T) {
		s := open(t)
		got, v, err := cursorstore.LoadWindow(t.Context(), s, key)
		if err != nil || v != 0 || !cmp.Equal(got, cursorstore.WindowState{}) {
			t.Errorf("LoadWindow(absent) = %+v, %d, %v; want zero state, 0, nil", got, v, err)
		}
	})
	t.Run("A saved window loads back equal, at the version SaveWindow returned", func(t *testing.T) {
		s := open(t)
		v := mustSaveWindow(t, s, key, 0, first)
		next := first
		next.Cursor, next.Pages, next.Records, next.UpdatedAt = "c2", 2, 999, t0.Add(time.Minute).In(time.FixedZone("x", 3600))
		next.Objects = []string{"page-00000-0123456789abcdef.json.gz", "page-00001-fedcba9876543210.json.gz"}
		v = mustSaveWindow(t, s, key, v, next)
		got, gotV, err := cursorstore.LoadWindow(t.Context(), s, key)
		if err != nil {
			t.Fatalf("LoadWindow error = %v", err)
		}
		if gotV != v {
			t.Errorf("LoadWindow version = %d, want %d", gotV, v)
		}
		if diff := cmp.Diff(next, got); diff != "" {
			t.Errorf("LoadWindow mismatch (-want +got):\n%s", diff)
		}
	})
	rejected := []struct {
		name    string
		version int64 // relative: 0 = the stored version, -1 = one behind
		change  func(w *cursorstore.WindowState)
		wantErr error
	}{
		{"Fewer pages without a chain restart are rejected", 0, func(w *cursorstore.WindowState) { w.Pages, w.Cursor = 1, "c1" }, cursorstore.ErrCursorRegressed},
		{"Fewer records without a chain restart are rejected", 0, func(w *cursorstore.WindowState) { w.Records = 10 }, cursorstore.ErrCursorRegressed},
		{"A new cursor without a new page is rejected", 0, func(w *cursorstore.WindowState) { w.Cursor = "other" }, cursorstore.ErrCursorRegressed},
		{"Fewer chain restarts are rejected", 0, func(w *cursorstore.WindowState) { w.ChainRestarts = 0 }, cursorstore.ErrCursorRegressed},
		{"An unknown status is rejected", 0, func(w *cursorstore.WindowState) { w.Status = "finished" }, cursorstore.ErrInvalidWindow},
		{"A stale version is rejected as a conflict", -1, func(w *cursorstore.WindowState) { w.Pages, w.Cursor = 3, "c3" }, cursorstore.ErrConflict},
	}
	for _, tt := range rejected {
		t.Run(tt.name+" and write nothing", func(t *testing.T) {
			s := open(t)
			stored := first
			stored.Cursor, stored.Pages, stored.Records, stored.ChainRestarts = "c2", 2, 800, 1
			v := mustSaveWindow(t, s, key, 0, first)
			v = mustSaveWindow(t, s, key, v, cursorstore.WindowState{Status: cursorstore.StatusOpen, ChainRestarts: 1})
			v = mustSaveWindow(t, s, key, v, stored)
			next := stored
			tt.change(&next)
			_, err := cursorstore.SaveWindow(t.Context(), s, key, v+tt.version, next)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("SaveWindow error = %v, want %v", err, tt.wantErr)
			}
			got, gotV, err := cursorstore.LoadWindow(t.Context(), s, key)
			if err != nil || gotV != v {
				t.Fatalf("LoadWindow = version %d, %v; want %d, nil", gotV, err, v)
			}
			if diff := cmp.Diff(stored, got); diff != "" {
				t.Errorf("stored window changed (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("A chain restart may set pages, records and cursor back", func(t *testing.T) {
		s := open(t)
		v := mustSaveWindow(t, s, key, 0, first)
		restarted := cursorstore.WindowState{Status: cursorstore.StatusOpen, ChainRestarts: 1, Attempts: 1, LastError: "410 cursor_expired"}
		v = mustSaveWindow(t, s, key, v, restarted)
		got, gotV, err := cursorstore.LoadWindow(t.Context(), s, key)
		if err != nil || gotV != v {
			t.Fatalf("LoadWindow = version %d, %v; want %d, nil", gotV, err, v)
		}
		if diff := cmp.Diff(restarted, got); diff != "" {
			t.Errorf("LoadWindow mismatch (-want +got):\n%s", diff)
		}
	})
	t.Run("A window with sub-second bounds has a key of its own", func(t *testing.T) {
		s := open(t)
		whole := cursorstore.WindowKey("vendor-a", t0, t0.Add(time.Minute))
		frac := cursorstore.WindowKey("vendor-a", t0.Add(250*time.Millisecond), t0.Add(time.Minute))
		mustSaveWindow(t, s, whole, 0, first)
		mustSaveWindow(t, s, frac, 0, first)
		got, err := s.List(t.Context(), "window/vendor-a/")
		if err != nil {
			t.Fatalf("List error = %v", err)
		}
		if diff := cmp.Diff(sorted([]string{whole, frac}), sorted(got)); diff != "" {
			t.Errorf("List(window/vendor-a/) mismatch (-want +got):\n%s", diff)
		}
	})
	t.Run("Windows of one source list in time order under window/<source>/", func(t *testing.T) {
		s := open(t)
		var want []string
		for h := range 3 {
			k := cursorstore.WindowKey("vendor-a", t0.Add(time.Duration(h)*time.Hour), t0.Add(time.Duration(h+1)*time.Hour))
			want = append(want, k)
		}
		for _, k := range []string{want[2], want[0], want[1], cursorstore.WindowKey("vendor-b", t0, t0.Add(time.Hour))} {
			mustSaveWindow(t, s, k, 0, first)
		}
		got, err := s.List(t.Context(), "window/vendor-a/")
		if err != nil {
			t.Fatalf("List error = %v", err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("List(window/vendor-a/) mismatch (-want +got):\n%s", diff)
		}
	})
}

func runLease(t *testing.T, open Opener) {
	const ttl = time.Minute
	t.Run("A second owner is told who holds the lease and until when", func(t *testing.T) {
		s := open(t)
		a := mustAcquire(t, s, "run-a", t0)
		if a.TookOverFrom != "" {
			t.Errorf("TookOverFrom = %q, want \"\" for a free lease", a.TookOverFrom)
		}
		_, err := cursorstore.AcquireLease(t.Context(), s, "vendor-a", "run-b", ttl, t0.Add(30*time.Second))
		if !errors.Is(err, cursorstore.ErrLeaseHeld) {
			t.Fatalf("AcquireLease(run-b) error = %v, want ErrLeaseHeld", err)
		}
		held, ok := errors.AsType[*cursorstore.LeaseHeldError](err)
		if !ok {
			t.Fatalf("AcquireLease(run-b) error = %T, want *LeaseHeldError", err)
		}
		want := &cursorstore.LeaseHeldError{Name: "vendor-a", Owner: "run-a", ExpiresAt: t0.Add(ttl)}
		if diff := cmp.Diff(want, held); diff != "" {
			t.Errorf("LeaseHeldError mismatch (-want +got):\n%s", diff)
		}
		for _, part := range []string{"run-a", "2024-03-10T12:01:00Z", "expires"} {
			if !strings.Contains(err.Error(), part) {
				t.Errorf("error %q does not mention %q", err, part)
			}
		}
	})
	t.Run("The same owner name cannot acquire a lease it already holds", func(t *testing.T) {
		s := open(t)
		mustAcquire(t, s, "run-a", t0)
		if _, err := cursorstore.AcquireLease(t.Context(), s, "vendor-a", "run-a", ttl, t0); !errors.Is(err, cursorstore.ErrLeaseHeld) {
			t.Errorf("AcquireLease(run-a again) error = %v, want ErrLeaseHeld", err)
		}
	})
	t.Run("An expired lease is taken over and its old holder can neither renew nor release it", func(t *testing.T) {
		s := open(t)
		a := mustAcquire(t, s, "run-a", t0)
		b := mustAcquire(t, s, "run-b", t0.Add(ttl))
		if b.TookOverFrom != "run-a" {
			t.Errorf("TookOverFrom = %q, want run-a", b.TookOverFrom)
		}
		if err := a.Renew(t.Context(), t0.Add(ttl)); !errors.Is(err, cursorstore.ErrLeaseLost) {
			t.Errorf("old holder Renew error = %v, want ErrLeaseLost", err)
		}
		if err := a.Release(t.Context()); !errors.Is(err, cursorstore.ErrLeaseLost) {
			t.Errorf("old holder Release error = %v, want ErrLeaseLost", err)
		}
		if err := b.Renew(t.Context(), t0.Add(ttl+time.Second)); err != nil {
			t.Errorf("new holder Renew error = %v", err)
		}
		if _, err := cursorstore.AcquireLease(t.Context(), s, "vendor-a", "run-c", ttl, t0.Add(ttl+2*time.Second)); !errors.Is(err, cursorstore.ErrLeaseHeld) {
			t.Errorf("AcquireLease(run-c) after the takeover: error = %v, want ErrLeaseHeld", err)
		}
	})
	t.Run("Renewing moves the expiry to now plus the TTL", func(t *testing.T) {
		s := open(t)
		a := mustAcquire(t, s, "run-a", t0)
		if err := a.Renew(t.Context(), t0.Add(50*time.Second)); err != nil {
			t.Fatalf("Renew error = %v", err)
		}
		if got, want := a.ExpiresAt(), t0.Add(50*time.Second+ttl); !got.Equal(want) {
			t.Errorf("ExpiresAt() = %s, want %s", got, want)
		}
		_, err := cursorstore.AcquireLease(t.Context(), s, "vendor-a", "run-b", ttl, t0.Add(90*time.Second))
		held, ok := errors.AsType[*cursorstore.LeaseHeldError](err)
		if !ok || !held.ExpiresAt.Equal(t0.Add(110*time.Second)) {
			t.Errorf("AcquireLease(run-b) 90 s in = %v, want held until 12:01:50", err)
		}
	})
	t.Run("A released lease is free at once and its holder cannot renew it", func(t *testing.T) {
		s := open(t)
		a := mustAcquire(t, s, "run-a", t0)
		if err := a.Release(t.Context()); err != nil {
			t.Fatalf("Release error = %v", err)
		}
		if err := a.Release(t.Context()); err != nil {
			t.Errorf("second Release error = %v, want nil", err)
		}
		if err := a.Renew(t.Context(), t0); !errors.Is(err, cursorstore.ErrLeaseLost) {
			t.Errorf("Renew after Release error = %v, want ErrLeaseLost", err)
		}
		b := mustAcquire(t, s, "run-b", t0.Add(time.Second))
		if b.TookOverFrom != "" {
			t.Errorf("TookOverFrom = %q, want \"\" after a release", b.TookOverFrom)
		}
	})
	t.Run("Of racing acquisitions exactly one wins and the others see it held", func(t *testing.T) {
		s := open(t)
		const racers = 5
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			winners []string
			errs    []error
		)
		start := make(chan struct{})
		for g := range racers {
			wg.Go(func() {
				<-start
				owner := "run-" + strconv.Itoa(g)
				_, err := cursorstore.AcquireLease(t.Context(), s, "vendor-a", owner, ttl, t0)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					winners = append(winners, owner)
				case !errors.Is(err, cursorstore.ErrLeaseHeld):
					errs = append(errs, err)
				}
			})
		}
		close(start)
		wg.Wait()
		if len(errs) > 0 {
			t.Fatalf("acquisitions failed other than ErrLeaseHeld: %v", errors.Join(errs...))
		}
		if len(winners) != 1 {
			t.Errorf("winners = %v, want exactly one", winners)
		}
	})
}

func runWatermark(t *testing.T, open Opener) {
	t.Run("An absent watermark loads as the zero time at version 0", func(t *testing.T) {
		s := open(t)
		got, v, err := cursorstore.LoadWatermark(t.Context(), s, "vendor-a")
		if err != nil || v != 0 || !got.IsZero() {
			t.Errorf("LoadWatermark(absent) = %s, %d, %v; want zero time, 0, nil", got, v, err)
		}
	})
	t.Run("A watermark moves forward, stays, and never moves back", func(t *testing.T) {
		s := open(t)
		ctx := t.Context()
		later := t0.Add(time.Hour + 123*time.Nanosecond).In(time.FixedZone("x", -5*3600))
		v1, err := cursorstore.SaveWatermark(ctx, s, "vendor-a", 0, t0)
		if err != nil {
			t.Fatalf("SaveWatermark(t0) error = %v", err)
		}
		v2, err := cursorstore.SaveWatermark(ctx, s, "vendor-a", v1, later)
		if err != nil {
			t.Fatalf("SaveWatermark(later) error = %v", err)
		}
		v3, err := cursorstore.SaveWatermark(ctx, s, "vendor-a", v2, later)
		if err != nil {
			t.Fatalf("SaveWatermark(same again) error = %v", err)
		}
		if _, err := cursorstore.SaveWatermark(ctx, s, "vendor-a", v3, t0); !errors.Is(err, cursorstore.ErrWatermarkRegressed) {
			t.Errorf("SaveWatermark(earlier) error = %v, want ErrWatermarkRegressed", err)
		}
		if _, err := cursorstore.SaveWatermark(ctx, s, "vendor-a", v1, later.Add(time.Hour)); !errors.Is(err, cursorstore.ErrConflict) {
			t.Errorf("SaveWatermark(stale version) error = %v, want ErrConflict", err)
		}
		got, v, err := cursorstore.LoadWatermark(ctx, s, "vendor-a")
		if err != nil || v != v3 || !got.Equal(later) {
			t.Errorf("LoadWatermark = %s, %d, %v; want %s, %d, nil", got, v, err, later, v3)
		}
		other, v, err := cursorstore.LoadWatermark(ctx, s, "vendor-b")
		if err != nil || v != 0 || !other.IsZero() {
			t.Errorf("LoadWatermark(vendor-b) = %s, %d, %v; want zero, 0, nil (sources are separate)", other, v, err)
		}
	})
}

func mustPut(t *testing.T, s cursorstore.Store, key string, version int64, body string, want int64) {
	t.Helper()
	mustPutBytes(t, s, key, version, []byte(body), want)
}

func mustPutBytes(t *testing.T, s cursorstore.Store, key string, version int64, body []byte, want int64) {
	t.Helper()
	got, err := s.Put(t.Context(), key, version, body)
	if err != nil {
		t.Fatalf("Put(%q, %d) error = %v", key, version, err)
	}
	if got != want {
		t.Fatalf("Put(%q, %d) = %d, want %d", key, version, got, want)
	}
}

func wantDoc(t *testing.T, s cursorstore.Store, key string, want cursorstore.Doc) {
	t.Helper()
	got, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get(%q) error = %v", key, err)
	}
	if got.Version != want.Version || !bytes.Equal(got.Body, want.Body) {
		t.Errorf("Get(%q) = version %d body %q, want version %d body %q", key, got.Version, got.Body, want.Version, want.Body)
	}
}

func mustSaveWindow(t *testing.T, s cursorstore.Store, key string, version int64, w cursorstore.WindowState) int64 {
	t.Helper()
	v, err := cursorstore.SaveWindow(t.Context(), s, key, version, w)
	if err != nil {
		t.Fatalf("SaveWindow(%q, %d) error = %v", key, version, err)
	}
	if v != version+1 {
		t.Fatalf("SaveWindow(%q, %d) = %d, want %d", key, version, v, version+1)
	}
	return v
}

func mustAcquire(t *testing.T, s cursorstore.Store, owner string, now time.Time) *cursorstore.Lease {
	t.Helper()
	l, err := cursorstore.AcquireLease(t.Context(), s, "vendor-a", owner, time.Minute, now)
	if err != nil {
		t.Fatalf("AcquireLease(%q) error = %v", owner, err)
	}
	return l
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
