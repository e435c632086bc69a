//go:build cgo

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/marketplace/settle/io/warehouse"
	"github.com/marketplace/settle/io/warehouse/duckdb"
	"github.com/marketplace/settle/testing/settlebin"
)

func TestReconcileExitStatus(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "never")
	if code := run(t.Context(), []string{"reconcile", "--date", "2026-11-01", "--data-dir", missing}); code != exitUsage {
		t.Errorf("reconcile of a missing data dir exited %d, want %d", code, exitUsage)
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("reconcile created the missing data dir %s (stat: %v)", missing, err)
	}
	empty := t.TempDir()
	if code := run(t.Context(), []string{"reconcile", "--date", "2026-11-01", "--data-dir", empty}); code != exitUsage {
		t.Errorf("reconcile of a data dir without a warehouse exited %d, want %d", code, exitUsage)
	}
	if entries, _ := os.ReadDir(empty); len(entries) != 0 {
		t.Errorf("reconcile created %d entries in an empty data dir", len(entries))
	}
	for _, args := range [][]string{{}, {"--date", "2026-13-01"}, {"--date", "yesterday"}} {
		if code := run(t.Context(), append([]string{"reconcile", "--data-dir", empty}, args...)); code != exitUsage {
			t.Errorf("reconcile %q exited %d, want %d", args, code, exitUsage)
		}
	}

	// The run goes through prism in a child process (this test binary
	// never initialises Beam); reconcile reads no pipeline, so it runs here.
	dir := t.TempDir()
	cmd := exec.CommandContext(t.Context(), settlebin.Build(t), "run", "--simulate", "--sim-records", "300", "--data-dir", dir, "--quiet",
		"--from", "2026-11-01T00:00:00Z", "--to", "2026-11-01T03:00:00Z")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("settle run --simulate: %v\n%s", err, out)
	}
	reconcile := []string{"reconcile", "--date", "2026-11-01", "--data-dir", dir}
	if code := run(t.Context(), reconcile); code != exitOK {
		t.Fatalf("reconcile after an honest run exited %d, want %d", code, exitOK)
	}
	w, err := warehouse.Open(t.Context(), "duckdb://"+filepath.Join(dir, "warehouse.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.(*duckdb.Warehouse).DB().ExecContext(t.Context(),
		`DELETE FROM settlements WHERE vendor_txn_id = (SELECT min(vendor_txn_id) FROM settlements)`)
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	if code := run(t.Context(), reconcile); code != exitDifferent {
		t.Errorf("reconcile after a row was deleted exited %d, want %d", code, exitDifferent)
	}
}
