package pipeline

import (
	"fmt"
	"os"
)

// PrivateTempDir points TMPDIR at a fresh folder under the system's temp
// folder for the rest of the process, and returns the function that
// removes it and restores TMPDIR. Prism's loopback mode leaves an empty
// beamloopbackworker-* file in the temp folder for every pipeline it runs
// (Beam 2.77, runnerlib/execute.go); in a private folder they go when the
// process ends. Call it once, first thing, before any goroutine reads
// TMPDIR.
func PrivateTempDir() (restore func(), err error) {
	old, had := os.LookupEnv("TMPDIR")
	dir, err := os.MkdirTemp("", "settle-")
	if err != nil {
		return func() {}, fmt.Errorf("creating a private temp folder: %w", err)
	}
	if err := os.Setenv("TMPDIR", dir); err != nil {
		os.RemoveAll(dir)
		return func() {}, fmt.Errorf("setting TMPDIR: %w", err)
	}
	return func() {
		if had {
			os.Setenv("TMPDIR", old)
		} else {
			os.Unsetenv("TMPDIR")
		}
		os.RemoveAll(dir)
	}, nil
}
