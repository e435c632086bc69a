package cursorstore_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/marketplace/settle/io/cursorstore"
	"github.com/marketplace/settle/testing/cursorstoretest"
)

func openFile(t *testing.T) cursorstore.Store {
	t.Helper()
	s, err := cursorstore.Open(t.Context(), "file://"+t.TempDir())
	if err != nil {
		t.Fatalf("Open error = %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestFileStoreContract(t *testing.T) {
	cursorstoretest.Run(t, openFile)
}

func TestOpenFileURI(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		uri     string
		wantErr bool
	}{
		{"an absolute directory opens", "file://" + dir, false},
		{"a directory that does not exist yet is created", "file://" + filepath.Join(dir, "new", "sub"), false},
		{"localhost as the host is accepted", "file://localhost" + dir, false},
		{"another host is refused", "file://example.com" + dir, true},
		{"a relative path is refused", "file:relative/dir", true},
		{"an unknown scheme names the registered ones", "mem://x", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := cursorstore.Open(t.Context(), tt.uri)
			if gotErr := err != nil; gotErr != tt.wantErr {
				t.Fatalf("Open(%q) error = %v, want error %v", tt.uri, err, tt.wantErr)
			}
			if s != nil {
				s.Close()
			}
		})
	}
}

func TestFileStoreSecondHandleSeesWrites(t *testing.T) {
	dir := t.TempDir()
	a, err := cursorstore.OpenFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := cursorstore.OpenFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Put(t.Context(), "k", 0, []byte("from a")); err != nil {
		t.Fatalf("a.Put error = %v", err)
	}
	if _, err := b.Put(t.Context(), "k", 0, []byte("from b")); !errors.Is(err, cursorstore.ErrConflict) {
		t.Errorf("b.Put(k, 0) error = %v, want ErrConflict", err)
	}
	got, err := b.Get(t.Context(), "k")
	if err != nil || got.Version != 1 || string(got.Body) != "from a" {
		t.Errorf("b.Get(k) = %d %q, %v; want 1 \"from a\", nil", got.Version, got.Body, err)
	}
}

func TestFileStoreDetectsDamagedFiles(t *testing.T) {
	tests := []struct {
		name   string
		damage func(data []byte) []byte
	}{
		{"a truncated body is detected", func(d []byte) []byte { return d[:len(d)-1] }},
		{"a changed body byte is detected", func(d []byte) []byte { d[len(d)-1] ^= 1; return d }},
		{"a missing header is detected", func(d []byte) []byte { return []byte("just a body") }},
		{"an empty file is detected", func(d []byte) []byte { return nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := cursorstore.OpenFile(dir)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Put(t.Context(), "window/a", 0, []byte(`{"cursor":"c1"}`)); err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(dir, "window%2Fa")
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatalf("reading the key's file: %v", err)
			}
			if err := os.WriteFile(p, tt.damage(data), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Get(t.Context(), "window/a"); err == nil || errors.Is(err, cursorstore.ErrNotFound) {
				t.Errorf("Get of a damaged file error = %v, want a decoding error", err)
			}
			if _, err := s.Put(t.Context(), "window/a", 1, []byte("x")); err == nil || errors.Is(err, cursorstore.ErrConflict) {
				t.Errorf("Put over a damaged file error = %v, want a decoding error", err)
			}
		})
	}
}

func TestFileStoreRejectsKeysTooLongForAFileName(t *testing.T) {
	s, err := cursorstore.OpenFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("a/", 100) // 200 bytes, 400 escaped
	if _, err := s.Put(t.Context(), long, 0, []byte("x")); !errors.Is(err, cursorstore.ErrInvalidKey) {
		t.Errorf("Put(400-byte escaped key) error = %v, want ErrInvalidKey", err)
	}
	fits := strings.Repeat("a", 255)
	if _, err := s.Put(t.Context(), fits, 0, []byte("x")); err != nil {
		t.Errorf("Put(255-byte plain key) error = %v", err)
	}
}

func TestFileStoreOpenRemovesStaleTempFilesAndListIgnoresStrays(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{".tmp-123", "not%zzakey", ".lock"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("junk"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "subdir"), 0o700); err != nil {
		t.Fatal(err)
	}
	s, err := cursorstore.OpenFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, ".tmp-123")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale temporary file after Open: stat error = %v, want not exist", err)
	}
	if _, err := s.Put(t.Context(), "k", 0, nil); err != nil {
		t.Fatal(err)
	}
	got, err := s.List(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"k"}, got); diff != "" {
		t.Errorf("List mismatch (-want +got):\n%s", diff)
	}
}

// Cross-process compare-and-set. The parent re-executes this test binary as
// child processes (selected by -test.run and childEnv); they race on the
// same directory. A start line on each child's stdin releases them together.

const (
	childEnv     = "CURSORSTORE_TEST_CHILD_DIR"
	childRoleEnv = "CURSORSTORE_TEST_CHILD_ROLE"
	childIDEnv   = "CURSORSTORE_TEST_CHILD_ID"
	resultPrefix = "RESULT "
)

const (
	roleCreate    = "create"    // race to create each of raceKeys keys
	roleIncrement = "increment" // do increments successful CAS increments
	raceKeys      = 40
	increments    = 25
)

// TestFileStoreChildProcess is the child side; it does nothing in a normal
// run.
func TestFileStoreChildProcess(t *testing.T) {
	dir := os.Getenv(childEnv)
	if dir == "" {
		t.Skip("child process of TestFileStoreCrossProcess* only")
	}
	s, err := cursorstore.OpenFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	id := os.Getenv(childIDEnv)
	fmt.Println(resultPrefix + "ready")
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		t.Fatalf("waiting for the start line: %v", err)
	}
	ctx := t.Context()
	switch os.Getenv(childRoleEnv) {
	case roleCreate:
		for k := range raceKeys {
			_, err := s.Put(ctx, "race/"+strconv.Itoa(k), 0, []byte(id))
			switch {
			case err == nil:
				fmt.Println(resultPrefix + "won " + strconv.Itoa(k))
			case !errors.Is(err, cursorstore.ErrConflict):
				t.Fatal(err)
			}
		}
	case roleIncrement:
		for done := 0; done < increments; {
			n, version := 0, int64(0)
			d, err := s.Get(ctx, "counter")
			switch {
			case err == nil:
				if n, err = strconv.Atoi(string(d.Body)); err != nil {
					t.Fatal(err)
				}
				version = d.Version
			case !errors.Is(err, cursorstore.ErrNotFound):
				t.Fatal(err)
			}
			_, err = s.Put(ctx, "counter", version, []byte(strconv.Itoa(n+1)))
			switch {
			case err == nil:
				done++
			case errors.Is(err, cursorstore.ErrConflict):
				fmt.Println(resultPrefix + "conflict")
			default:
				t.Fatal(err)
			}
		}
	}
	fmt.Println(resultPrefix + "done")
}

type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Scanner
}

// startChildren starts n children in role on dir and waits until each has
// opened the store, then releases them all at once. It returns each child's
// result lines.
func runChildren(t *testing.T, dir, role string, n int) [][]string {
	t.Helper()
	children := make([]child, n)
	for i := range children {
		cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestFileStoreChildProcess$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), childEnv+"="+dir, childRoleEnv+"="+role, childIDEnv+"=child-"+strconv.Itoa(i))
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
			t.Fatalf("starting child %d: %v", i, err)
		}
		children[i] = child{cmd: cmd, stdin: stdin, out: bufio.NewScanner(stdout)}
	}
	for i, c := range children {
		if got := nextResult(c.out); got != "ready" {
			t.Fatalf("child %d said %q, want ready", i, got)
		}
	}
	for _, c := range children {
		io.WriteString(c.stdin, "go\n")
		c.stdin.Close()
	}
	results := make([][]string, n)
	for i, c := range children {
		for {
			line := nextResult(c.out)
			if line == "" || line == "done" {
				break
			}
			results[i] = append(results[i], line)
		}
		if err := c.cmd.Wait(); err != nil {
			t.Fatalf("child %d: %v", i, err)
		}
	}
	return results
}

func nextResult(sc *bufio.Scanner) string {
	for sc.Scan() {
		if line, ok := strings.CutPrefix(sc.Text(), resultPrefix); ok {
			return line
		}
	}
	return ""
}

func TestFileStoreCrossProcessCreatesHaveOneWinner(t *testing.T) {
	if os.Getenv(childEnv) != "" {
		t.Skip("in a child process")
	}
	dir := t.TempDir()
	const n = 4
	results := runChildren(t, dir, roleCreate, n)
	s, err := cursorstore.OpenFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	winners := map[int][]int{} // key -> children that won it
	for i, lines := range results {
		for _, l := range lines {
			k, err := strconv.Atoi(strings.TrimPrefix(l, "won "))
			if err != nil {
				t.Fatalf("child %d result %q", i, l)
			}
			winners[k] = append(winners[k], i)
		}
	}
	spread := map[int]bool{}
	for k := range raceKeys {
		w := winners[k]
		if len(w) != 1 {
			t.Errorf("key race/%d won by children %v, want exactly one", k, w)
			continue
		}
		spread[w[0]] = true
		d, err := s.Get(t.Context(), "race/"+strconv.Itoa(k))
		if err != nil || d.Version != 1 || string(d.Body) != "child-"+strconv.Itoa(w[0]) {
			t.Errorf("Get(race/%d) = %d %q, %v; want 1 %q", k, d.Version, d.Body, err, "child-"+strconv.Itoa(w[0]))
		}
	}
	t.Logf("%d keys won by %d distinct children", raceKeys, len(spread))
}

func TestFileStoreCrossProcessIncrementsLoseNoUpdate(t *testing.T) {
	if os.Getenv(childEnv) != "" {
		t.Skip("in a child process")
	}
	dir := t.TempDir()
	const n = 4
	results := runChildren(t, dir, roleIncrement, n)
	conflicts := 0
	for _, lines := range results {
		conflicts += len(slices.DeleteFunc(lines, func(l string) bool { return l != "conflict" }))
	}
	s, err := cursorstore.OpenFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.Get(t.Context(), "counter")
	if err != nil {
		t.Fatal(err)
	}
	want := n * increments
	if d.Version != int64(want) || string(d.Body) != strconv.Itoa(want) {
		t.Errorf("counter after %d processes x %d increments = version %d body %q, want %d", n, increments, d.Version, d.Body, want)
	}
	t.Logf("%d increments across %d processes, %d conflicts seen", want, n, conflicts)
}
