package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
)

// stagingDir is where a run's load files go: one folder per run.
func stagingDir(cfg Config, runID string) string {
	return strings.TrimSuffix(cfg.Staging, "/") + "/" + runID
}

// removeStaging deletes a run's load files once they are promoted: the
// warehouse holds their rows, and nothing reads them again (a replay
// derives new ones from the raw zone). A local folder goes whole; on GCS
// each object is deleted (the bucket's lifecycle rule stays a backstop
// for a run that crashed before this).
func removeStaging(ctx context.Context, dir string) error {
	if !strings.Contains(dir, "://") {
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("removing staging %s: %w", dir, err)
		}
		return nil
	}
	glob := dir + "/*/*/*"
	fs, err := filesystem.New(ctx, glob)
	if err != nil {
		return fmt.Errorf("opening filesystem for %s: %w", glob, err)
	}
	defer fs.Close()
	rm, ok := fs.(filesystem.Remover)
	if !ok {
		return fmt.Errorf("removing staging %s: the filesystem cannot remove", dir)
	}
	names, err := fs.List(ctx, glob)
	if err != nil {
		return fmt.Errorf("listing staging %s: %w", glob, err)
	}
	var errs []error
	for _, n := range names {
		if err := rm.Remove(ctx, n); err != nil {
			errs = append(errs, fmt.Errorf("removing %s: %w", n, err))
		}
	}
	return errors.Join(errs...)
}
