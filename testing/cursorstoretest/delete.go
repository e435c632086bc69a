package cursorstoretest

import (
	"errors"
	"slices"
	"testing"

	"github.com/marketplace/settle/io/cursorstore"
)

// runDelete checks the optional cursorstore.Deleter capability; a back end
// without it skips.
func runDelete(t *testing.T, open Opener) {
	deleter := func(t *testing.T) (cursorstore.Store, cursorstore.Deleter) {
		t.Helper()
		s := open(t)
		d, ok := s.(cursorstore.Deleter)
		if !ok {
			t.Skipf("%T has no Delete", s)
		}
		return s, d
	}
	t.Run("Delete at the stored version removes the document and its key", func(t *testing.T) {
		s, d := deleter(t)
		mustPut(t, s, "window/a", 0, "one", 1)
		mustPut(t, s, "window/a", 1, "two", 2)
		mustPut(t, s, "window/b", 0, "other", 1)
		if err := d.Delete(t.Context(), "window/a", 2); err != nil {
			t.Fatalf("Delete(window/a, 2) = %v", err)
		}
		if _, err := s.Get(t.Context(), "window/a"); !errors.Is(err, cursorstore.ErrNotFound) {
			t.Errorf("Get after Delete = %v, want ErrNotFound", err)
		}
		keys, err := s.List(t.Context(), "window/")
		if err != nil {
			t.Fatalf("List = %v", err)
		}
		if !slices.Equal(keys, []string{"window/b"}) {
			t.Errorf("List after Delete = %q, want [window/b]", keys)
		}
		// The key can be created again, from version 0.
		mustPut(t, s, "window/a", 0, "again", 1)
		wantDoc(t, s, "window/a", cursorstore.Doc{Version: 1, Body: []byte("again")})
	})
	t.Run("Delete at another version returns ErrConflict and removes nothing", func(t *testing.T) {
		s, d := deleter(t)
		mustPut(t, s, "k", 0, "one", 1)
		mustPut(t, s, "k", 1, "two", 2)
		for _, v := range []int64{0, 1, 3} {
			if err := d.Delete(t.Context(), "k", v); !errors.Is(err, cursorstore.ErrConflict) {
				t.Errorf("Delete(k, %d) = %v, want ErrConflict", v, err)
			}
		}
		wantDoc(t, s, "k", cursorstore.Doc{Version: 2, Body: []byte("two")})
	})
	t.Run("Delete of an absent key returns ErrNotFound", func(t *testing.T) {
		_, d := deleter(t)
		if err := d.Delete(t.Context(), "absent", 1); !errors.Is(err, cursorstore.ErrNotFound) {
			t.Errorf("Delete(absent) = %v, want ErrNotFound", err)
		}
	})
}
