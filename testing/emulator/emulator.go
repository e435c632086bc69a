// Package emulator starts the cloud emulators that back-end tests run
// against, as local child processes on 127.0.0.1, and stops them again.
//
// A test asks for an emulator with a helper such as Firestore(t), which
// returns the emulator's host:port. The helper, in this order:
//   - uses the emulator named by the usual environment variable
//     (FIRESTORE_EMULATOR_HOST) if set, so `make test` can start one for all
//     packages;
//   - else, in a package whose TestMain calls Main, starts one emulator on
//     first use, shares it by all the package's tests, and stops it after;
//   - else starts one for the test and stops it in t.Cleanup.
//
// If no emulator can be had, the test is skipped loudly with the reason
// (also printed to stderr once, so a non-verbose run shows it), except under
// CI=true, where it fails. Tests share an emulator, so each must use its own
// namespace (UniqueName gives one).
//
// Emulator processes run in their own process group behind a watchdog shell
// that ends the group when this process goes away, even by a crash or a
// test timeout, so no emulator outlives its test binary.
package emulator

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// FirestoreHostEnv is the variable the Firestore client reads to talk to an
// emulator instead of Google.
const FirestoreHostEnv = "FIRESTORE_EMULATOR_HOST"

// StartTimeout bounds how long StartFirestore waits for the emulator to
// answer. A cold start on a busy 2-core machine takes up to ~15 s.
const StartTimeout = 90 * time.Second

// Process is a running emulator.
type Process struct {
	// Host is host:port on 127.0.0.1.
	Host string
	// Startup is how long the emulator took to answer after it was started.
	Startup time.Duration

	cmd    *exec.Cmd
	stdin  io.Closer
	log    *tailBuffer
	exited chan struct{}

	stopOnce sync.Once
	stopErr  error
}

// watchdog runs the emulator command in the background, says its pid,
// then waits for its stdin (a pipe from this process) to close and ends the
// command's process group and its own. Stop closes stdin; if this process
// dies, the kernel closes it. gcloud puts itself into a process group of its
// own (unless it leads a session), hence two groups.
const watchdog = `"$@" &
child=$!
echo "emulator-watchdog: child $child"
read -r _ || true
kill -TERM -- "-$child" 2>/dev/null
kill -TERM "$child" 2>/dev/null
kill -KILL -- "-$$"`

var childLine = regexp.MustCompile(`emulator-watchdog: child (\d+)`)

// StartFirestore starts `gcloud emulators firestore start` on a free
// 127.0.0.1 port and waits until it answers HTTP, at most StartTimeout (and
// no longer than ctx allows). The caller must Stop it.
func StartFirestore(ctx context.Context) (*Process, error) {
	gcloud, err := exec.LookPath("gcloud")
	if err != nil {
		return nil, fmt.Errorf("starting firestore emulator: gcloud CLI not found: %w", err)
	}
	if _, err := exec.LookPath("java"); err != nil {
		return nil, fmt.Errorf("starting firestore emulator: java not found (the emulator is a Java program): %w", err)
	}
	var lastErr error
	for range 2 { // a second try if another process took the free port first
		port, err := freePort()
		if err != nil {
			return nil, fmt.Errorf("starting firestore emulator: %w", err)
		}
		host := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		p, err := start(ctx, host, gcloud, "emulators", "firestore", "start", "--host-port="+host, "--quiet")
		if err == nil {
			return p, nil
		}
		lastErr = err
		if !strings.Contains(err.Error(), "in use") {
			break
		}
	}
	return nil, fmt.Errorf("starting firestore emulator: %w", lastErr)
}

func start(ctx context.Context, host string, name string, args ...string) (*Process, error) {
	cmd := exec.Command("/bin/bash", append([]string{"-c", watchdog, "emulator-watchdog", name}, args...)...)
	cmd.Env = append(os.Environ(),
		"CLOUDSDK_CORE_DISABLE_PROMPTS=1",
		"CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK=true",
		"CLOUDSDK_CORE_DISABLE_USAGE_REPORTING=true",
	)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	log := &tailBuffer{max: 64 << 10}
	cmd.Stdout, cmd.Stderr = log, log
	// Should a grandchild keep the output pipe open, Wait returns anyway.
	cmd.WaitDelay = 3 * time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	began := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &Process{Host: host, cmd: cmd, stdin: stdin, log: log, exited: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(p.exited)
	}()

	ctx, cancel := context.WithTimeout(ctx, StartTimeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if ping(ctx, host) == nil {
			p.Startup = time.Since(began)
			return p, nil
		}
		select {
		case <-p.exited:
			p.Stop()
			return nil, fmt.Errorf("emulator exited before answering on %s: %s", host, p.log.tail(2000))
		case <-ctx.Done():
			p.Stop()
			return nil, fmt.Errorf("emulator not answering on %s after %s: %w; its output: %s",
				host, time.Since(began).Round(time.Millisecond), ctx.Err(), p.log.tail(2000))
		case <-tick.C:
		}
	}
}

// Stop ends the emulator's process groups (the watchdog's and the
// emulator's own) and waits until they are gone: SIGTERM first, SIGKILL to
// whatever is left after 10 s. It is idempotent.
func (p *Process) Stop() error {
	p.stopOnce.Do(func() {
		p.stdin.Close() // the watchdog ends both groups
		pgid := p.cmd.Process.Pid
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			syscall.Kill(-pgid, syscall.SIGKILL)
			<-p.exited
		}
		if child := p.childPID(); child > 0 {
			if err := waitGone(-child, 10*time.Second); err != nil {
				p.stopErr = fmt.Errorf("stopping emulator process group %d: %w", child, err)
			}
		}
		if err := waitGone(-pgid, time.Second); err != nil && p.stopErr == nil {
			p.stopErr = fmt.Errorf("stopping emulator watchdog group %d: %w", pgid, err)
		}
	})
	return p.stopErr
}

// waitGone waits until no process is left in group -negPgid (or process
// negPgid if positive), then sends SIGKILL to the rest and waits again.
func waitGone(target int, grace time.Duration) error {
	deadline := time.Now().Add(grace)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if err := syscall.Kill(target, 0); errors.Is(err, syscall.ESRCH) {
			return nil
		}
		if time.Now().After(deadline) {
			break
		}
		<-tick.C
	}
	if err := syscall.Kill(target, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("killing: %w", err)
	}
	for range 100 {
		if err := syscall.Kill(target, 0); errors.Is(err, syscall.ESRCH) {
			return nil
		}
		<-tick.C
	}
	return errors.New("still running 5 s after SIGKILL")
}

// childPID is the pid of the emulator command the watchdog started (the
// leader of gcloud's own process group), 0 if unknown.
func (p *Process) childPID() int {
	m := childLine.FindStringSubmatch(p.log.head())
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// Log returns the tail of the emulator's output.
func (p *Process) Log() string { return p.log.tail(64 << 10) }

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// ping asks host's HTTP root, which the Google emulators answer with 200.
func ping(ctx context.Context, host string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+host+"/", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET / answered %s", resp.Status)
	}
	return nil
}

// checkLoopback refuses an emulator host off this machine: tests reach no
// other address.
func checkLoopback(host string) error {
	h, _, err := net.SplitHostPort(host)
	if err != nil {
		return fmt.Errorf("parsing emulator host %q: %w", host, err)
	}
	if h == "localhost" {
		return nil
	}
	if ip := net.ParseIP(h); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("emulator host %q is not a loopback address; tests only reach 127.0.0.1/localhost", host)
}

var shared struct {
	mu        sync.Mutex
	inMain    bool
	firestore *Process
	err       error
	started   bool
}

// Main runs the package's tests with emulators shared by all of them: each
// is started on first use by a helper such as Firestore and stopped when
// the tests are done. Call it from TestMain:
//
//	func TestMain(m *testing.M) { emulator.Main(m) }
func Main(m *testing.M) {
	shared.mu.Lock()
	shared.inMain = true
	shared.mu.Unlock()
	code := m.Run()
	shared.mu.Lock()
	if shared.firestore != nil {
		if err := shared.firestore.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "emulator:", err)
		}
	}
	shared.mu.Unlock()
	os.Exit(code)
}

// Firestore returns the host:port of a ready Firestore emulator for t (see
// the package doc for which one). It does not set FIRESTORE_EMULATOR_HOST:
// the caller does, e.g. t.Setenv(FirestoreHostEnv, host) before it builds a
// client. Skips t (fails it under CI=true) if no emulator can be had.
func Firestore(t testing.TB) string {
	t.Helper()
	if host := os.Getenv(FirestoreHostEnv); host != "" {
		if err := checkLoopback(host); err != nil {
			Unavailable(t, "Firestore", err)
		}
		if err := ping(t.Context(), host); err != nil {
			Unavailable(t, "Firestore", fmt.Errorf("%s=%s does not answer: %w", FirestoreHostEnv, host, err))
		}
		return host
	}
	shared.mu.Lock()
	if shared.inMain {
		defer shared.mu.Unlock()
		if !shared.started {
			shared.started = true
			shared.firestore, shared.err = StartFirestore(t.Context())
			if shared.err == nil {
				t.Logf("started a shared Firestore emulator on %s in %s", shared.firestore.Host, shared.firestore.Startup.Round(time.Millisecond))
			}
		}
		if shared.err != nil {
			Unavailable(t, "Firestore", shared.err)
		}
		return shared.firestore.Host
	}
	shared.mu.Unlock()
	p, err := StartFirestore(t.Context())
	if err != nil {
		Unavailable(t, "Firestore", err)
	}
	t.Cleanup(func() {
		if err := p.Stop(); err != nil {
			t.Errorf("stopping Firestore emulator: %v", err)
		}
	})
	t.Logf("started a Firestore emulator on %s in %s", p.Host, p.Startup.Round(time.Millisecond))
	return p.Host
}

var warnOnce sync.Map // emulator name -> struct{}

// Unavailable skips t because the emulator called what could not be had,
// saying why (also on stderr, once per emulator and process, so a
// non-verbose run shows it), or fails t when CI=true.
func Unavailable(t testing.TB, what string, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s emulator unavailable and CI=true, so this is a failure: %v", what, err)
	}
	if _, seen := warnOnce.LoadOrStore(what, struct{}{}); !seen {
		fmt.Fprintf(os.Stderr, "SKIPPING tests that need the %s emulator: %v\n", what, err)
	}
	t.Skipf("SKIPPING: %s emulator unavailable: %v", what, err)
}

var unsafeName = regexp.MustCompile(`[^a-z0-9]+`)

// UniqueName returns a name no other test (or earlier run against the same
// emulator) uses: the test's name in lower-case letters, digits and '-',
// cut to 40 bytes, plus a random suffix. It is valid as a Firestore
// collection id and, with '-' replaced, as a BigQuery dataset name.
func UniqueName(t testing.TB) string {
	t.Helper()
	base := strings.Trim(unsafeName.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-")
	if len(base) > 40 {
		base = strings.TrimRight(base[:40], "-")
	}
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("making a unique name: %v", err)
	}
	return base + "-" + hex.EncodeToString(b[:])
}

// tailBuffer keeps the first headMax and the last max bytes written to it;
// safe for concurrent use.
type tailBuffer struct {
	mu    sync.Mutex
	max   int
	first []byte
	buf   bytes.Buffer
}

const headMax = 1 << 10

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := headMax - len(b.first); room > 0 {
		b.first = append(b.first, p[:min(room, len(p))]...)
	}
	b.buf.Write(p)
	if over := b.buf.Len() - b.max; over > 0 {
		b.buf.Next(over)
	}
	return len(p), nil
}

func (b *tailBuffer) head() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.first)
}

func (b *tailBuffer) tail(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.buf.String()
	if len(s) > n {
		s = "…" + s[len(s)-n:]
	}
	return strings.TrimSpace(s)
}

// Pid returns the process id of the emulator's process group leader.
func (p *Process) Pid() int { return p.cmd.Process.Pid }
