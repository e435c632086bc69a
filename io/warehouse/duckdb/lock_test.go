//go:build cgo

package duckdb_test

import (
	"errors"
	"github.com/marketplace/settle/testing/duckdbhold"
	"path/filepath"
	"testing"

	"github.com/marketplace/settle/io/warehouse"
)

func TestHoldDuckDBForAParent(t *testing.T) { duckdbhold.Child(t) }

// TestOpenWhileAnotherProcessHoldsTheFileIsRefusedWithErrLocked: DuckDB
// locks its file for one process; a second process's Open must say so
// (ErrLocked, which the launcher reports as another run being in progress)
// and return no Warehouse, not a typed nil one whose Close panics.
func TestOpenWhileAnotherProcessHoldsTheFileIsRefusedWithErrLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "warehouse.duckdb")
	pid, _ := duckdbhold.Hold(t, "TestHoldDuckDBForAParent", path)

	for _, uri := range []string{"duckdb://" + path, "duckdb://" + path + "?access_mode=read_only"} {
		w, err := warehouse.Open(t.Context(), uri)
		if !errors.Is(err, warehouse.ErrLocked) {
			t.Errorf("Open %s while another process holds the file: error = %v, want ErrLocked", uri, err)
		}
		var le *warehouse.LockedError
		if !errors.As(err, &le) || le.PID != pid {
			t.Errorf("Open %s: error %v names PID %v, want the holder's %d", uri, err, le, pid)
		}
		if w != nil {
			t.Errorf("Open returned %#v with its error, want nil", w)
		}
	}
}
