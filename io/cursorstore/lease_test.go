package cursorstore_test

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/marketplace/settle/io/cursorstore"
)

// TestALeaseWhoseHolderIsGoneIsTakenOverAtOnce: an unexpired lease whose
// holder process on this machine is gone (a crashed run) is taken over at
// once; a running holder, or one on another machine that cannot be
// checked, keeps it until it expires.
func TestALeaseWhoseHolderIsGoneIsTakenOverAtOnce(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	here := cursorstore.ThisProcess()
	other := here
	other.PID = here.PID + 1 // not this process; liveness is injected
	elsewhere := other
	elsewhere.Host = here.Host + "-elsewhere"
	oldFormat := cursorstore.Holder{} // a lease written before holders were stored

	tests := []struct {
		name     string
		holder   cursorstore.Holder
		running  bool
		wantTake bool
		wantAsk  bool
	}{
		{"a gone holder on this machine is taken over", other, false, true, true},
		{"a running holder on this machine keeps the lease", other, true, false, true},
		{"a holder on another host is never declared gone", elsewhere, false, false, false},
		{"a lease without a recorded holder waits for its expiry", oldFormat, false, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := openFile(t)
			if _, err := cursorstore.AcquireLease(t.Context(), s, "vendor-a", "crashed run", time.Hour, t0,
				cursorstore.WithHolder(tc.holder)); err != nil {
				t.Fatalf("first AcquireLease: %v", err)
			}
			var asked []cursorstore.Holder
			running := func(h cursorstore.Holder) bool {
				asked = append(asked, h)
				return tc.running
			}
			l, err := cursorstore.AcquireLease(t.Context(), s, "vendor-a", "next run", time.Hour, t0.Add(time.Second),
				cursorstore.WithLiveness(running))
			if tc.wantTake {
				if err != nil {
					t.Fatalf("AcquireLease over a gone holder = %v, want it taken over at once", err)
				}
				if l.TookOverFrom != "crashed run" || !strings.Contains(l.TookOverBecause, "no longer running") {
					t.Errorf("TookOverFrom, TookOverBecause = %q, %q; want the crashed run, its process gone", l.TookOverFrom, l.TookOverBecause)
				}
				if l.Holder != here {
					t.Errorf("new lease Holder = %+v, want this process %+v", l.Holder, here)
				}
			} else if !errors.Is(err, cursorstore.ErrLeaseHeld) {
				t.Fatalf("AcquireLease = %v, %v; want ErrLeaseHeld", l, err)
			}
			if got := len(asked) > 0; got != tc.wantAsk {
				t.Errorf("liveness asked about %v, want asked = %v", asked, tc.wantAsk)
			} else if tc.wantAsk && asked[0] != tc.holder {
				t.Errorf("liveness asked about %+v, want the stored holder %+v", asked[0], tc.holder)
			}
		})
	}
}

func TestHolderRunningTellsAReusedPidFromTheHolder(t *testing.T) {
	me := cursorstore.ThisProcess()
	if me.StartTicks == 0 {
		t.Skip("no /proc/self/stat start time on this system")
	}
	if !cursorstore.HolderRunning(me) {
		t.Fatalf("HolderRunning(this process) = false")
	}
	reused := me
	reused.StartTicks++
	if cursorstore.HolderRunning(reused) {
		t.Errorf("HolderRunning(this pid with another start time) = true, want false: the pid was reused")
	}
}

// Child side of TestALeaseHeldByAKilledProcessIsTakenOverAtOnce: take the
// lease in the directory childLeaseEnv names, say so, and wait to be killed.
const childLeaseEnv = "CURSORSTORE_TEST_LEASE_DIR"

func TestLeaseHolderChildProcess(t *testing.T) {
	dir := os.Getenv(childLeaseEnv)
	if dir == "" {
		t.Skip("child process of TestALeaseHeldByAKilledProcessIsTakenOverAtOnce only")
	}
	s, err := cursorstore.OpenFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cursorstore.AcquireLease(t.Context(), s, "vendor-a", "child run", time.Hour, time.Now()); err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString(resultPrefix + "held\n")
	bufio.NewReader(os.Stdin).ReadString('\n') // killed before this returns
}

// TestALeaseHeldByAKilledProcessIsTakenOverAtOnce: a real process takes an
// hour's lease and is killed with SIGKILL (it releases nothing); the next
// acquisition takes the lease over at once, not an hour later.
func TestALeaseHeldByAKilledProcessIsTakenOverAtOnce(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestLeaseHolderChildProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), childLeaseEnv+"="+dir)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() && sc.Text() != resultPrefix+"held" {
	}
	s, err := cursorstore.OpenFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cursorstore.AcquireLease(t.Context(), s, "vendor-a", "next run", time.Hour, time.Now()); !errors.Is(err, cursorstore.ErrLeaseHeld) {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("AcquireLease while the child runs = %v, want ErrLeaseHeld", err)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait() // reaped: its pid names no process now

	l, err := cursorstore.AcquireLease(t.Context(), s, "vendor-a", "next run", time.Hour, time.Now())
	if err != nil {
		t.Fatalf("AcquireLease after the holder was killed = %v, want the lease taken over at once", err)
	}
	if l.TookOverFrom != "child run" {
		t.Errorf("TookOverFrom = %q, want \"child run\"", l.TookOverFrom)
	}
	t.Logf("took over: %s", l.TookOverBecause)
}
