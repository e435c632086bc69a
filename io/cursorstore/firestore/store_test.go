package firestore_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/marketplace/settle/io/cursorstore"
	"github.com/marketplace/settle/io/cursorstore/firestore"
	"github.com/marketplace/settle/testing/cursorstoretest"
	"github.com/marketplace/settle/testing/emulator"
)

func TestMain(m *testing.M) { emulator.Main(m) }

// openEmulated opens a store on a fresh collection of the emulator through
// the URI registry, the way the launcher does.
func openEmulated(t *testing.T) cursorstore.Store {
	t.Helper()
	host := emulator.Firestore(t)
	t.Setenv(emulator.FirestoreHostEnv, host)
	s, err := cursorstore.Open(t.Context(), "firestore://demo-settle/"+emulator.UniqueName(t))
	if err != nil {
		t.Fatalf("Open error = %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close error = %v", err)
		}
	})
	return s
}

func TestFirestoreStoreContract(t *testing.T) {
	began := time.Now()
	emulator.Firestore(t) // start (or skip) before the clock matters
	t.Logf("emulator ready after %s", time.Since(began).Round(time.Millisecond))
	began = time.Now()
	cursorstoretest.Run(t, openEmulated)
	t.Logf("contract suite ran in %s", time.Since(began).Round(time.Millisecond))
}

func TestFirestoreStoreRejectsKeysLongerThanADocumentID(t *testing.T) {
	s := openEmulated(t)
	long := strings.Repeat("/", 600) // 1800 bytes escaped
	if _, err := s.Put(t.Context(), long, 0, []byte("x")); !errors.Is(err, cursorstore.ErrInvalidKey) {
		t.Errorf("Put(1800-byte escaped key) error = %v, want ErrInvalidKey", err)
	}
}

func TestFirestoreStoreOnASubcollection(t *testing.T) {
	host := emulator.Firestore(t)
	t.Setenv(emulator.FirestoreHostEnv, host)
	s, err := firestore.New(t.Context(), "demo-settle", emulator.UniqueName(t)+"/env/cursors", "")
	if err != nil {
		t.Fatalf("New error = %v", err)
	}
	defer s.Close()
	if _, err := s.Put(t.Context(), "window/a", 0, []byte("x")); err != nil {
		t.Fatalf("Put error = %v", err)
	}
	got, err := s.List(t.Context(), "")
	if err != nil || len(got) != 1 || got[0] != "window/a" {
		t.Errorf("List = %v, %v; want [window/a]", got, err)
	}
}
