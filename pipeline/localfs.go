package pipeline

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// mkdirLocal creates the parent directory of a local path; Beam's local
// filesystem does not. Other schemes have no directories.
func mkdirLocal(p string) error {
	if strings.Contains(p, "://") {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("creating directory for %s: %w", p, err)
	}
	return nil
}
