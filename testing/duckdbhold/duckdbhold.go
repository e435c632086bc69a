//go:build cgo

// Package duckdbhold lets a test hold a DuckDB warehouse file open in
// another process, as a running settle does. DuckDB locks its file for one
// process at a time, so only a second process shows the lock.
//
// A test package declares the child once:
//
//	func TestHoldDuckDBForAParent(t *testing.T) { duckdbhold.Child(t) }
//
// and a test holds the file with duckdbhold.Hold(t, "TestHoldDuckDBForAParent", path).
package duckdbhold

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"sync"
	"testing"

	"github.com/marketplace/settle/io/warehouse"
	_ "github.com/marketplace/settle/io/warehouse/duckdb" // duckdb://
)

// env names the file the child holds; set only by Hold.
const env = "SETTLE_TEST_DUCKDB_HOLD"

// Child is the body of the child's test function: it opens the file Hold
// named read-write, says "open" on stdout and holds it until stdin closes.
// Run by `go test` itself (not by Hold), it skips.
func Child(t *testing.T) {
	path := os.Getenv(env)
	if path == "" {
		t.Skip("a helper: runs only as the child process of duckdbhold.Hold")
	}
	w, err := warehouse.Open(t.Context(), "duckdb://"+path)
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	os.Stdout.WriteString("open\n")
	io.Copy(io.Discard, os.Stdin)
	w.Close()
}

// Hold reruns the test binary as the test function child (which calls
// Child) holding path open, and returns once the child holds it. release
// closes the file and waits for the child; it also runs at cleanup.
func Hold(t *testing.T, child, path string) (pid int, release func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+child+"$")
	cmd.Env = append(os.Environ(), env+"="+path)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release = func() { once.Do(func() { stdin.Close(); cmd.Wait() }) }
	t.Cleanup(release)
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "open\n" {
		t.Fatalf("child did not open %s: %q, %v", path, line, err)
	}
	return cmd.Process.Pid, release
}
