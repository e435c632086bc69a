// Package settlebin builds the settle launcher for tests that run it as a
// child process (crash tests kill it with SIGKILL), and finds the module
// root for harnesses that keep files there.
package settlebin

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// ModuleRoot is the nearest directory above the working directory that
// holds go.mod (go test runs in the package's directory).
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("finding module root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("finding module root: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Build builds ./launcher into a temporary directory of t and returns the
// binary's path. It fails t if the build fails.
func Build(t testing.TB) string {
	t.Helper()
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("finding the go command to build the launcher: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "settle")
	began := time.Now()
	cmd := exec.Command(gobin, "build", "-o", bin, "./launcher")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./launcher: %v\n%s", err, out)
	}
	t.Logf("built %s in %s", bin, time.Since(began).Round(time.Millisecond))
	return bin
}
