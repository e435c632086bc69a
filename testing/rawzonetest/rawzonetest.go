// Package rawzonetest is the contract suite every rawzone.Store back end
// passes: write-once semantics, byte-exact reads, sorted prefix listings and
// exactly one winner among concurrent writers of a name.
package rawzonetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/marketplace/settle/io/rawzone"
)

// Run runs the contract suite. open must return a new, empty store for each
// call; Run closes it. The suite never makes one name both an object and a
// prefix of another ("a" and "a/b"), which a file system cannot hold. Subtests do not run in parallel with each other, so
// open may use t.Setenv.
func Run(t *testing.T, open func(t *testing.T) rawzone.Store) {
	t.Helper()
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, rawzone.Store)
	}{
		{"an object written once reads back byte for byte", testPutGet},
		{"a second PutOnce with the same bytes succeeds", testRetrySameBytes},
		{"a PutOnce with other bytes fails with ErrContentMismatch and changes nothing", testMismatch},
		{"Get of an absent object returns ErrNotFound", testGetAbsent},
		{"List returns exactly the names under a prefix, sorted", testList},
		{"an empty object can be written and read", testEmpty},
		{"invalid names are rejected by every method", testInvalidNames},
		{"a cancelled context fails PutOnce and writes nothing", testCancelled},
		{"concurrent writers of one name with different bytes: exactly one wins", testConcurrentDifferent},
		{"concurrent writers of one name with the same bytes all succeed", testConcurrentSame},
		{"many objects written concurrently are all listed and readable", testMany},
		{"a Remover removes an object, and its name can be written again", testRemove},
		{"MoveAside keeps the content under damaged/ and frees the name", testMoveAside},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close() = %v", err)
				}
			})
			tc.fn(t, s)
		})
	}
}

func mustPut(t *testing.T, s rawzone.Store, name string, data []byte) {
	t.Helper()
	if err := s.PutOnce(t.Context(), name, data); err != nil {
		t.Fatalf("PutOnce(%q) = %v, want nil", name, err)
	}
}

func mustGet(t *testing.T, s rawzone.Store, name string) []byte {
	t.Helper()
	got, err := s.Get(t.Context(), name)
	if err != nil {
		t.Fatalf("Get(%q) = %v, want nil", name, err)
	}
	return got
}

func testPutGet(t *testing.T, s rawzone.Store) {
	for name, data := range map[string][]byte{
		"pages/src/date=2024-05-01/window=20240501T0000Z-20240501T0100Z/page-00000-0123456789abcdef.json.gz": {0x1f, 0x8b, 0, 1, 2, 0xff},
		"top-level":                   []byte(`{"a":1}`),
		"deep/a/b/c/d/e/f.json":       []byte("line 1\nline 2\r\n\x00tail"),
		"unicode/sellér-ü/名前.json":    []byte("ü"),
		"spaces and = signs/x y=z.gz": bytes.Repeat([]byte("0123456789"), 100_000),
	} {
		mustPut(t, s, name, data)
		if got := mustGet(t, s, name); !bytes.Equal(got, data) {
			t.Errorf("Get(%q) returned %d bytes (sha %x...), want the %d bytes written", name, len(got), first8(got), len(data))
		}
	}
}

func first8(b []byte) []byte {
	if len(b) > 8 {
		return b[:8]
	}
	return b
}

func testRetrySameBytes(t *testing.T, s rawzone.Store) {
	const name = "retry/page.json"
	data := []byte(`{"page":1}`)
	mustPut(t, s, name, data)
	for i := range 3 {
		if err := s.PutOnce(t.Context(), name, bytes.Clone(data)); err != nil {
			t.Fatalf("PutOnce(%q) retry %d = %v, want nil", name, i, err)
		}
	}
	if got := mustGet(t, s, name); !bytes.Equal(got, data) {
		t.Errorf("Get(%q) = %q, want %q", name, got, data)
	}
}

func testMismatch(t *testing.T, s rawzone.Store) {
	const name = "mismatch/page-00001.json"
	first := []byte(`{"v":"first"}`)
	second := []byte(`{"v":"second"}`)
	mustPut(t, s, name, first)
	err := s.PutOnce(t.Context(), name, second)
	if !errors.Is(err, rawzone.ErrContentMismatch) {
		t.Fatalf("PutOnce(%q) with other bytes = %v, want an error wrapping ErrContentMismatch", name, err)
	}
	msg := err.Error()
	if !strings.Contains(msg, name) {
		t.Errorf("PutOnce mismatch error %q does not name the object %q", msg, name)
	}
	for _, data := range [][]byte{first, second} {
		if h := sha256Hex(data); !strings.Contains(msg, h) {
			t.Errorf("PutOnce mismatch error %q does not name the content sha256 %s", msg, h)
		}
	}
	var mm *rawzone.ContentMismatchError
	if !errors.As(err, &mm) {
		t.Fatalf("PutOnce mismatch error %T is not a *rawzone.ContentMismatchError", err)
	}
	want := rawzone.ContentMismatchError{Name: name, StoredSHA256: sha256Hex(first), NewSHA256: sha256Hex(second)}
	if diff := cmp.Diff(want, *mm); diff != "" {
		t.Errorf("ContentMismatchError mismatch (-want +got):\n%s", diff)
	}
	if got := mustGet(t, s, name); !bytes.Equal(got, first) {
		t.Errorf("Get(%q) after a refused write = %q, want the first content %q", name, got, first)
	}
	// A prefix or extension of the stored bytes is different content too.
	for _, data := range [][]byte{first[:len(first)-1], append(bytes.Clone(first), ' '), nil} {
		if err := s.PutOnce(t.Context(), name, data); !errors.Is(err, rawzone.ErrContentMismatch) {
			t.Errorf("PutOnce(%q, %q) = %v, want ErrContentMismatch", name, data, err)
		}
	}
}

func testGetAbsent(t *testing.T, s rawzone.Store) {
	mustPut(t, s, "present/a.json", []byte("a"))
	for _, name := range []string{"absent.json", "present/b.json", "present", "present/a.json/child"} {
		_, err := s.Get(t.Context(), name)
		if !errors.Is(err, rawzone.ErrNotFound) {
			t.Errorf("Get(%q) = %v, want ErrNotFound", name, err)
		}
	}
}

func testList(t *testing.T, s rawzone.Store) {
	names := []string{
		"pages/a/date=2024-05-01/window=20240501T0000Z-20240501T0100Z/page-00000-aaaaaaaaaaaaaaaa.json.gz",
		"pages/a/date=2024-05-01/window=20240501T0000Z-20240501T0100Z/page-00001-bbbbbbbbbbbbbbbb.json.gz",
		"pages/a/date=2024-05-01/window=20240501T0100Z-20240501T0200Z/page-00000-cccccccccccccccc.json.gz",
		"pages/a/date=2024-05-02/window=20240502T0000Z-20240502T0100Z/page-00000-dddddddddddddddd.json.gz",
		"pages/a/date=2024-05-10/window=20240510T0000Z-20240510T0100Z/page-00000-eeeeeeeeeeeeeeee.json.gz",
		"pages/ab/date=2024-05-01/window=20240501T0000Z-20240501T0100Z/page-00000-ffffffffffffffff.json.gz",
		"pages/a-b/x",
		"pages/a.b",
		"pages/a0",
		"deadletter/a/date=2024-05-01/window=20240501T0000Z-20240501T0100Z/1714521600000000000.json",
	}
	// Write in reverse so that write order is not list order.
	for i := len(names) - 1; i >= 0; i-- {
		mustPut(t, s, names[i], []byte(names[i]))
	}
	for _, tc := range []struct {
		prefix string
		want   []string
	}{
		{"", sorted(names)},
		{"pages/a/", names[:5]},
		{"pages/a/date=2024-05-0", names[:4]},
		{"pages/a/date=2024-05-01/", names[:3]},
		{"pages/a/date=2024-05-01/window=20240501T0000Z-20240501T0100Z/", names[:2]},
		{"pages/a/date=2024-05-01/window=20240501T0000Z-20240501T0100Z/page-00001", names[1:2]},
		{"pages/a", sorted(names[:9])},
		{"pages/ab", names[5:6]},
		{"pages/a-", names[6:7]},
		{"pages/a.", names[7:8]},
		{"pages/a0", names[8:9]},
		{"pages/a/date=2024-06", nil},
		{"pages/zz/", nil},
		{"nothing", nil},
		{"deadletter/", names[9:]},
		{names[9], names[9:]},
	} {
		got, err := s.List(t.Context(), tc.prefix)
		if err != nil {
			t.Errorf("List(%q) = %v", tc.prefix, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("List(%q) mismatch (-want +got):\n%s", tc.prefix, diff)
		}
	}
}

func sorted(in []string) []string {
	out := slices.Clone(in)
	slices.Sort(out)
	return out
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func testEmpty(t *testing.T, s rawzone.Store) {
	const name = "empty/object"
	mustPut(t, s, name, nil)
	mustPut(t, s, name, []byte{})
	if got := mustGet(t, s, name); len(got) != 0 {
		t.Errorf("Get(%q) = %q, want empty", name, got)
	}
	if err := s.PutOnce(t.Context(), name, []byte("x")); !errors.Is(err, rawzone.ErrContentMismatch) {
		t.Errorf("PutOnce(%q, \"x\") over an empty object = %v, want ErrContentMismatch", name, err)
	}
}

func testInvalidNames(t *testing.T, s rawzone.Store) {
	for _, name := range []string{
		"", "/abs/name", "..", "../escape", "a/../b", "a/..", ".", "./a", "a/./b",
		"a//b", "a/", ".hidden", "a/.tmp-123", "back\\slash", "nul\x00byte", "new\nline", "\xff\xfe",
	} {
		if err := s.PutOnce(t.Context(), name, []byte("x")); !errors.Is(err, rawzone.ErrInvalidName) {
			t.Errorf("PutOnce(%q) = %v, want ErrInvalidName", name, err)
		}
		if _, err := s.Get(t.Context(), name); !errors.Is(err, rawzone.ErrInvalidName) {
			t.Errorf("Get(%q) = %v, want ErrInvalidName", name, err)
		}
	}
	for _, prefix := range []string{"/abs", "../", "a/../", "a//"} {
		if _, err := s.List(t.Context(), prefix); !errors.Is(err, rawzone.ErrInvalidName) {
			t.Errorf("List(%q) = %v, want ErrInvalidName", prefix, err)
		}
	}
	got, err := s.List(t.Context(), "")
	if err != nil {
		t.Fatalf("List(\"\") = %v", err)
	}
	if len(got) != 0 {
		t.Errorf("List(\"\") after only invalid writes = %q, want nothing", got)
	}
}

func testCancelled(t *testing.T, s rawzone.Store) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	const name = "cancelled/object"
	if err := s.PutOnce(ctx, name, []byte("x")); !errors.Is(err, context.Canceled) {
		t.Errorf("PutOnce with a cancelled context = %v, want context.Canceled", err)
	}
	if _, err := s.Get(t.Context(), name); !errors.Is(err, rawzone.ErrNotFound) {
		t.Errorf("Get(%q) after a cancelled PutOnce = %v, want ErrNotFound", name, err)
	}
	// The name is still free.
	mustPut(t, s, name, []byte("y"))
}

func testConcurrentDifferent(t *testing.T, s rawzone.Store) {
	const writers = 8
	for round := range 5 {
		name := fmt.Sprintf("race/round-%d/page.json", round)
		errs := make([]error, writers)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range writers {
			wg.Go(func() {
				<-start
				errs[i] = s.PutOnce(t.Context(), name, content(round, i))
			})
		}
		close(start)
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil:
				if winner >= 0 {
					t.Fatalf("round %d: writers %d and %d both won %q", round, winner, i, name)
				}
				winner = i
			case !errors.Is(err, rawzone.ErrContentMismatch):
				t.Errorf("round %d: writer %d: PutOnce(%q) = %v, want nil or ErrContentMismatch", round, i, name, err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: no writer of %q won: %v", round, name, errs)
		}
		if got, want := mustGet(t, s, name), content(round, winner); !bytes.Equal(got, want) {
			t.Errorf("round %d: Get(%q) = %q, want the winner's %q", round, name, got, want)
		}
	}
}

func content(round, writer int) []byte {
	return []byte(fmt.Sprintf(`{"round":%d,"writer":%d,"pad":%q}`, round, writer, strings.Repeat("x", 4096*writer)))
}

func testConcurrentSame(t *testing.T, s rawzone.Store) {
	const writers = 8
	const name = "same/page.json"
	data := content(0, 3)
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() { errs[i] = s.PutOnce(t.Context(), name, data) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("writer %d: PutOnce(%q) with the same bytes = %v, want nil", i, name, err)
		}
	}
	if got := mustGet(t, s, name); !bytes.Equal(got, data) {
		t.Errorf("Get(%q) = %q, want %q", name, got, data)
	}
}

func testMany(t *testing.T, s rawzone.Store) {
	const n = 300
	var want []string
	for i := range n {
		want = append(want, fmt.Sprintf("many/d%d/obj-%04d", i%7, i))
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 16)
	for _, name := range want {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			errs <- s.PutOnce(t.Context(), name, []byte(name))
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("PutOnce = %v", err)
		}
	}
	got, err := s.List(t.Context(), "many/")
	if err != nil {
		t.Fatalf("List(\"many/\") = %v", err)
	}
	if diff := cmp.Diff(sorted(want), got); diff != "" {
		t.Errorf("List(\"many/\") mismatch (-want +got):\n%s", diff)
	}
	for _, name := range want[:20] {
		if got := mustGet(t, s, name); string(got) != name {
			t.Errorf("Get(%q) = %q, want %q", name, got, name)
		}
	}
}

func testRemove(t *testing.T, s rawzone.Store) {
	rm, ok := s.(rawzone.Remover)
	if !ok {
		t.Skip("back end has no Remover")
	}
	const name = "pages/src/date=2024-05-01/window=20240501T0000Z-20240501T0100Z/page-00000-0123456789abcdef.json.gz"
	mustPut(t, s, name, []byte("truncated"))
	mustPut(t, s, name+".other", []byte("kept"))
	if err := rm.Remove(t.Context(), name); err != nil {
		t.Fatalf("Remove(%q) = %v, want nil", name, err)
	}
	if _, err := s.Get(t.Context(), name); !errors.Is(err, rawzone.ErrNotFound) {
		t.Errorf("Get after Remove = %v, want ErrNotFound", err)
	}
	if err := rm.Remove(t.Context(), name); !errors.Is(err, rawzone.ErrNotFound) {
		t.Errorf("Remove of an absent object = %v, want ErrNotFound", err)
	}
	got, err := s.List(t.Context(), "pages/")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{name + ".other"}, got); diff != "" {
		t.Errorf("List after Remove (-want +got):\n%s", diff)
	}
	mustPut(t, s, name, []byte("the page again"))
	if got := mustGet(t, s, name); string(got) != "the page again" {
		t.Errorf("Get after a new PutOnce = %q, want the new bytes", got)
	}
	if err := rm.Remove(t.Context(), "../escape"); !errors.Is(err, rawzone.ErrInvalidName) {
		t.Errorf("Remove of an invalid name = %v, want ErrInvalidName", err)
	}
}

func testMoveAside(t *testing.T, s rawzone.Store) {
	if _, ok := s.(rawzone.Remover); !ok {
		t.Skip("back end has no Remover")
	}
	const name = "pages/src/date=2024-05-01/window=20240501T0000Z-20240501T0100Z/page-00001-0123456789abcdef.json.gz"
	mustPut(t, s, name, []byte("altered bytes"))
	kept, err := rawzone.MoveAside(t.Context(), s, name, "run-1")
	if err != nil {
		t.Fatalf("MoveAside = %v", err)
	}
	if want := "damaged/run-1/" + name; kept != want {
		t.Errorf("MoveAside kept the content as %q, want %q", kept, want)
	}
	if got := mustGet(t, s, kept); string(got) != "altered bytes" {
		t.Errorf("kept content = %q, want the damaged object's bytes", got)
	}
	if _, err := s.Get(t.Context(), name); !errors.Is(err, rawzone.ErrNotFound) {
		t.Errorf("Get of the moved name = %v, want ErrNotFound", err)
	}
	if kept, err := rawzone.MoveAside(t.Context(), s, name, "run-2"); err != nil || kept != "" {
		t.Errorf("MoveAside of an absent object = %q, %v; want \"\", nil", kept, err)
	}
}
