//go:build cgo

package duckdb_test

import (
	"bufio"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/marketplace/settle/io/warehouse"
)

// envHoldOpen makes the test binary, run as a child, open the DuckDB file it
// names, say "open" on stdout and keep the file open until stdin closes.
const envHoldOpen = "DUCKDB_TEST_HOLD_OPEN"

func TestHoldTheFileOpenForAParent(t *testing.T) {
	path := os.Getenv(envHoldOpen)
	if path == "" {
		t.Skip("run as a child of TestOpenWhileAnotherProcessHoldsTheFileIsRefusedWithErrLocked")
	}
	w, err := warehouse.Open(t.Context(), "duckdb://"+path)
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	defer w.Close()
	os.Stdout.WriteString("open\n")
	io.Copy(io.Discard, os.Stdin)
}

// TestOpenWhileAnotherProcessHoldsTheFileIsRefusedWithErrLocked: DuckDB
// locks its file for one process; a second process's Open must say so
// (ErrLocked, which the launcher reports as another run being in progress)
// and return no Warehouse, not a typed nil one whose Close panics.
func TestOpenWhileAnotherProcessHoldsTheFileIsRefusedWithErrLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "warehouse.duckdb")
	child := exec.Command(os.Args[0], "-test.run=^TestHoldTheFileOpenForAParent$")
	child.Env = append(os.Environ(), envHoldOpen+"="+path)
	child.Stderr = os.Stderr
	stdin, err := child.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		child.Wait()
	}()
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "open\n" {
		t.Fatalf("child did not open the file: %q, %v", line, err)
	}

	for _, uri := range []string{"duckdb://" + path, "duckdb://" + path + "?access_mode=read_only"} {
		w, err := warehouse.Open(t.Context(), uri)
		if !errors.Is(err, warehouse.ErrLocked) {
			t.Errorf("Open %s while another process holds the file: error = %v, want ErrLocked", uri, err)
		}
		var le *warehouse.LockedError
		if !errors.As(err, &le) || le.PID != child.Process.Pid {
			t.Errorf("Open %s: error %v names PID %v, want the holder's %d", uri, err, le, child.Process.Pid)
		}
		if w != nil {
			t.Errorf("Open returned %#v with its error, want nil", w)
		}
	}
}
