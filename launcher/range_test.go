package main

import (
	"testing"
	"time"
)

func TestRunRefusesAFutureToAsAUsageError(t *testing.T) {
	to := time.Now().Add(5 * time.Minute).UTC()
	code := run(t.Context(), []string{"run", "--data-dir", t.TempDir(), "--vendor-url", "http://127.0.0.1:9", "--quiet",
		"--retry-budget", "1s", "--max-attempts", "1",
		"--from", to.Add(-time.Hour).Format(time.RFC3339), "--to", to.Format(time.RFC3339)})
	if code != exitUsage {
		t.Errorf("settle run --to %s (5 minutes ahead) exited %d, want %d (usage)", to.Format(time.RFC3339), code, exitUsage)
	}
}
