//go:build cgo

package main

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/marketplace/settle/testing/settlebin"
)

// TestARunLeavesNoStagingAndNoTempFiles runs the real binary on a small
// simulated range with its own temp folder: once it has promoted, the
// run's load files are gone from staging, and prism's
// beamloopbackworker-* files are gone from the temp folder.
func TestARunLeavesNoStagingAndNoTempFiles(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs it")
	}
	bin := settlebin.Build(t)
	dataDir, tmp := t.TempDir(), t.TempDir()
	from := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	cmd := exec.CommandContext(t.Context(), bin, "run", "--simulate", "--sim-records=300", "--sim-faults=none",
		"--from", from.Format(time.RFC3339), "--to", from.Add(2*time.Hour).Format(time.RFC3339),
		"--data-dir", dataDir, "--quiet")
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("settle run: %v\n%s", err, out)
	}
	var left []string
	for _, dir := range []string{filepath.Join(dataDir, "staging"), tmp} {
		_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				left = append(left, p)
			}
			return nil
		})
	}
	if _, err := os.Stat(tmp); err != nil {
		t.Fatalf("the test's temp folder: %v", err)
	}
	entries, _ := os.ReadDir(tmp)
	if len(left) > 0 || len(entries) > 0 {
		t.Errorf("after a promoted run, files remain in staging or the temp folder: %v (temp folder holds %d entries)", left, len(entries))
	}
}
