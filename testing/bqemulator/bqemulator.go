// Package bqemulator installs and starts the Python BigQuery emulator
// (bqemulator on PyPI) for tests, on a free 127.0.0.1 port.
//
// The emulator lives in a virtual environment under the module's ignored
// .cache directory (.cache/bqemulator-venv), installed once from the pinned
// requirements.txt beside this file; that install is the only step that
// reaches the network (PyPI). The emulator needs DuckDB's spatial extension
// and would download it at start; the harness installs it from the
// duckdb-extension-spatial wheel instead, into a HOME inside the venv, and
// turns off the best-effort avro download, so a running emulator talks to
// nobody.
//
// If BIGQUERY_EMULATOR_HOST is already set, that emulator is used and
// nothing is installed or started. When the emulator cannot be installed or
// started the test is skipped with the reason, or failed when CI=true.
package bqemulator

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/marketplace/settle/testing/settlebin"
)

// requirements pins the emulator and every package it pulls in (pip freeze
// of a working venv). duckdb is held at the version whose spatial
// extension wheel exists; numpy is needed by bqemulator's UDFs but not
// declared by it.
//
//go:embed requirements.txt
var requirements []byte

// Environment variables the harness reads.
const (
	// EnvHost names a running emulator (host:port) to use instead of
	// starting one; the BigQuery back end reads it too.
	EnvHost = "BIGQUERY_EMULATOR_HOST"
	// EnvGCSRoot is the directory an already running emulator resolves
	// gs://bucket/object under (its BQEMU_GCS_LOCAL_ROOT).
	EnvGCSRoot = "BQEMU_GCS_LOCAL_ROOT"
	// EnvVenv overrides where the virtual environment is created.
	EnvVenv = "BQEMULATOR_VENV"
)

const (
	installTimeout = 10 * time.Minute
	startTimeout   = 2 * time.Minute
	stopTimeout    = 10 * time.Second
	stampFile      = ".settle-requirements.txt"
)

// Emulator is a running emulator.
type Emulator struct {
	// Host is "127.0.0.1:PORT", the BIGQUERY_EMULATOR_HOST form.
	Host string
	// Endpoint is "http://127.0.0.1:PORT/bigquery/v2/", the REST base path
	// for option.WithEndpoint.
	Endpoint string
	// GCSRoot is the local directory the emulator serves gs:// URIs from:
	// gs://bucket/a/b.ndjson is GCSRoot/bucket/a/b.ndjson. Empty when an
	// already running emulator was given without EnvGCSRoot.
	GCSRoot string
}

// Start starts an emulator for the test (or uses the one named by
// BIGQUERY_EMULATOR_HOST) and returns its host:port. The emulator is
// stopped, its whole process group killed, when the test ends.
func Start(t testing.TB) string {
	t.Helper()
	return StartEmulator(t).Host
}

// StartEmulator is Start returning the emulator's details, GCS root
// included.
func StartEmulator(t testing.TB) *Emulator {
	t.Helper()
	if host := os.Getenv(EnvHost); host != "" {
		host = strings.TrimPrefix(strings.TrimPrefix(host, "http://"), "https://")
		return &Emulator{Host: host, Endpoint: endpoint(host), GCSRoot: os.Getenv(EnvGCSRoot)}
	}
	began := time.Now()
	venv, err := ensureInstalled(t)
	if err != nil {
		unavailable(t, "installing bqemulator: %v", err)
	}
	installed := time.Now()
	em, err := start(t, venv)
	if err != nil {
		unavailable(t, "starting bqemulator: %v", err)
	}
	t.Logf("bqemulator at %s (install check %v, start %v)", em.Host,
		installed.Sub(began).Round(time.Millisecond), time.Since(installed).Round(time.Millisecond))
	return em
}

// unavailable skips the test loudly, or fails it under CI=true.
func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("BigQuery emulator unavailable under CI=true: %s", msg)
	}
	t.Skipf("SKIPPING: BigQuery emulator unavailable (a failure under CI=true): %s", msg)
}

// installMu serialises installs within one test binary; a file lock does
// it across the binaries `go test` runs in parallel.
var installMu sync.Mutex

func venvDir() (string, error) {
	if d := os.Getenv(EnvVenv); d != "" {
		return d, nil
	}
	root, err := settlebin.ModuleRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, ".cache", "bqemulator-venv"), nil
}

// ensureInstalled creates the venv and installs the pinned requirements
// and the spatial extension unless a previous install with the same
// requirements completed.
func ensureInstalled(t testing.TB) (string, error) {
	t.Helper()
	installMu.Lock()
	defer installMu.Unlock()
	venv, err := venvDir()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(venv), 0o755); err != nil {
		return "", fmt.Errorf("creating %s: %w", filepath.Dir(venv), err)
	}
	lock, err := os.OpenFile(venv+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", fmt.Errorf("opening install lock: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("taking install lock: %w", err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) //nolint:errcheck // closing the file releases it anyway

	stamp := filepath.Join(venv, stampFile)
	if got, err := os.ReadFile(stamp); err == nil && bytes.Equal(got, requirements) {
		return venv, nil
	}
	t.Logf("installing bqemulator into %s (once; needs PyPI)", venv)
	ctx, cancel := context.WithTimeout(context.Background(), installTimeout)
	defer cancel()
	if err := os.RemoveAll(venv); err != nil {
		return "", fmt.Errorf("removing stale venv: %w", err)
	}
	python, err := findPython(ctx)
	if err != nil {
		return "", err
	}
	reqFile := filepath.Join(filepath.Dir(venv), "bqemulator-requirements.txt")
	if err := os.WriteFile(reqFile, requirements, 0o644); err != nil {
		return "", fmt.Errorf("writing requirements: %w", err)
	}
	steps := [][]string{
		{python, "-m", "venv", venv},
		{filepath.Join(venv, "bin", "pip"), "install", "--quiet", "--disable-pip-version-check", "--no-input", "-r", reqFile},
		{filepath.Join(venv, "bin", "python"), "-c", installSpatial},
	}
	for _, args := range steps {
		cmd := exec.CommandContext(ctx, args[0], args[1:]...)
		cmd.Env = emulatorEnv(venv, "")
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("running %s: %w\n%s", strings.Join(args[:2], " "), err, tail(out, 2000))
		}
	}
	if err := os.WriteFile(stamp, requirements, 0o644); err != nil {
		return "", fmt.Errorf("writing install stamp: %w", err)
	}
	return venv, nil
}

// installSpatial installs DuckDB's spatial extension from the wheel's file
// into HOME/.duckdb; DuckDB checks the extension's signature on LOAD.
const installSpatial = `
import os, duckdb, duckdb_extension_spatial as s
p = os.path.join(os.path.dirname(s.__file__), "extensions", "v" + duckdb.__version__, "spatial.duckdb_extension")
c = duckdb.connect()
c.execute("INSTALL '" + p + "'")
c.execute("LOAD spatial")
`

// findPython returns a python3 interpreter of at least 3.11 (bqemulator's
// floor).
func findPython(ctx context.Context) (string, error) {
	var tried []string
	for _, name := range []string{"python3.13", "python3.12", "python3.11", "python3"} {
		path, err := exec.LookPath(name)
		if err != nil {
			continue
		}
		tried = append(tried, path)
		out, err := exec.CommandContext(ctx, path, "-c", "import sys, venv; print(sys.version_info >= (3, 11))").Output()
		if err == nil && strings.TrimSpace(string(out)) == "True" {
			return path, nil
		}
	}
	return "", fmt.Errorf("finding python >= 3.11 with venv: none among %v", tried)
}

// emulatorEnv is the environment of the emulator and of the install
// steps: HOME points into the venv so DuckDB finds the spatial extension
// installed there, and format extensions (avro) are not downloaded.
func emulatorEnv(venv, gcsRoot string) []string {
	env := []string{
		"HOME=" + filepath.Join(venv, "home"),
		"PATH=" + filepath.Join(venv, "bin") + string(os.PathListSeparator) + os.Getenv("PATH"),
		"BQEMU_ENABLE_FORMAT_EXTENSIONS=false",
		"PYTHONDONTWRITEBYTECODE=1",
	}
	if gcsRoot != "" {
		env = append(env, "BQEMU_GCS_LOCAL_ROOT="+gcsRoot)
	}
	for _, k := range []string{"TMPDIR", "LANG", "LC_ALL", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_CERT", "SSL_CERT_FILE", "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// start runs the emulator on free ports in its own process group, waits
// for its REST port and /readyz, and registers the kill.
func start(t testing.TB, venv string) (*Emulator, error) {
	t.Helper()
	gcsRoot := t.TempDir()
	cmd := exec.Command(filepath.Join(venv, "bin", "bqemulator"), "start",
		"--rest-host", "127.0.0.1", "--rest-port", "0",
		"--grpc-host", "127.0.0.1", "--grpc-port", "0",
		"--ephemeral", "--log-format", "json", "--log-level", "info")
	cmd.Env = emulatorEnv(venv, gcsRoot)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	logPath := filepath.Join(t.TempDir(), "bqemulator.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("creating log file: %w", err)
	}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("running %s: %w", cmd.Path, err)
	}
	exited := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		pw.CloseWithError(io.EOF)
		exited <- err
	}()
	ports := make(chan int, 1)
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		defer logFile.Close()
		scanLog(pr, logFile, ports)
	}()
	t.Cleanup(func() {
		stop(t, cmd.Process.Pid, exited)
		<-drained
		if t.Failed() {
			if b, err := os.ReadFile(logPath); err == nil {
				t.Logf("bqemulator log (tail):\n%s", tail(b, 4000))
			}
		}
	})

	deadline := time.NewTimer(startTimeout)
	defer deadline.Stop()
	var port int
	select {
	case port = <-ports:
	case err := <-exited:
		exited <- err // for the cleanup
		return nil, fmt.Errorf("emulator exited before listening (%v); log %s:\n%s", err, logPath, readTail(logPath))
	case <-deadline.C:
		return nil, fmt.Errorf("emulator did not report its port within %v; log %s:\n%s", startTimeout, logPath, readTail(logPath))
	}
	host := "127.0.0.1:" + strconv.Itoa(port)
	em := &Emulator{Host: host, Endpoint: endpoint(host), GCSRoot: gcsRoot}
	for {
		if ready(host) {
			return em, nil
		}
		select {
		case err := <-exited:
			exited <- err
			return nil, fmt.Errorf("emulator exited before ready (%v); log %s:\n%s", err, logPath, readTail(logPath))
		case <-deadline.C:
			return nil, fmt.Errorf("emulator not ready within %v; log %s:\n%s", startTimeout, logPath, readTail(logPath))
		case <-time.After(100 * time.Millisecond): // polling a child process: no clock to fake
		}
	}
}

// scanLog copies the emulator's output to w and sends the REST port from
// its "rest.listen" JSON log line.
func scanLog(r io.Reader, w io.Writer, ports chan<- int) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	sent := false
	for sc.Scan() {
		line := sc.Bytes()
		fmt.Fprintf(w, "%s\n", line)
		if sent || !bytes.Contains(line, []byte(`"rest.listen"`)) {
			continue
		}
		var ev struct {
			Event string `json:"event"`
			Port  int    `json:"port"`
		}
		if json.Unmarshal(line, &ev) == nil && ev.Event == "rest.listen" && ev.Port > 0 {
			ports <- ev.Port
			sent = true
		}
	}
	_, _ = io.Copy(io.Discard, r)
}

func endpoint(host string) string { return "http://" + host + "/bigquery/v2/" }

func ready(host string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+host+"/readyz", nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// stop sends SIGTERM to the emulator's process group, then SIGKILL if it
// has not exited within stopTimeout.
func stop(t testing.TB, pid int, exited chan error) {
	t.Helper()
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(stopTimeout):
		t.Logf("bqemulator (pgid %d) ignored SIGTERM for %v; killing", pid, stopTimeout)
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-exited
	}
	// Children that outlived the leader.
	_ = syscall.Kill(-pid, syscall.SIGKILL)
}

func readTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	return string(tail(b, 3000))
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
