package pipeline_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/marketplace/settle/pipeline"
)

func TestPreflightRefusesBeforeCreatingAnything(t *testing.T) {
	now := time.Date(2026, 12, 1, 6, 0, 0, 0, time.UTC)
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"data":[],"has_more":false,"next_cursor":null}`))
	}))
	t.Cleanup(ok.Close)
	status := func(code int) *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(code)
		}))
		t.Cleanup(s.Close)
		return s
	}
	// A port nothing listens on: a server started and closed.
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()

	for _, tc := range []struct {
		name     string
		url      string
		token    string
		to       time.Time
		wantErr  bool
		wantText string
		wantIs   error
	}{
		{name: "a reachable vendor that accepts the token passes", url: ok.URL, token: "tok_1"},
		{name: "a vendor answering 503 passes: the run's retries deal with it", url: status(503).URL, token: "tok_1"},
		{name: "a missing token fails and names the variable", url: ok.URL, wantErr: true, wantText: "environment variable VENDOR_API_TOKEN is empty"},
		{name: "a refused connection fails with the cause", url: closed.URL, token: "tok_1", wantErr: true, wantText: "connection refused"},
		{name: "a refused token fails", url: status(401).URL, token: "tok_1", wantErr: true, wantText: "refused the token (HTTP 401)"},
		{name: "a wrong base URL fails", url: status(404).URL, token: "tok_1", wantErr: true, wantText: "check --vendor-url"},
		{name: "a --to in the vendor's visibility lag fails as an invalid range", url: ok.URL, token: "tok_1", to: now, wantErr: true,
			wantText: "latest allowed --to", wantIs: pipeline.ErrInvalidRange},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(pipeline.DefaultTokenEnv, tc.token)
			dir := filepath.Join(t.TempDir(), "data")
			cfg := pipeline.DefaultConfig(dir)
			cfg.VendorURL = tc.url
			if !tc.to.IsZero() {
				cfg.From, cfg.To = tc.to.Add(-time.Hour), tc.to
			}
			err := pipeline.Preflight(t.Context(), cfg, now)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Preflight = %v, want error %v", err, tc.wantErr)
			}
			if _, serr := os.Stat(dir); !errors.Is(serr, os.ErrNotExist) {
				t.Errorf("data dir %s exists after Preflight (stat: %v), want nothing created", dir, serr)
			}
			if !tc.wantErr {
				return
			}
			if !errors.Is(err, pipeline.ErrPreflight) {
				t.Errorf("errors.Is(%v, ErrPreflight) = false, want true", err)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("errors.Is(%v, %v) = false, want true", err, tc.wantIs)
			}
			if !strings.Contains(err.Error(), tc.wantText) {
				t.Errorf("Preflight = %q, want it to say %q", err, tc.wantText)
			}
			if tc.token != "" && strings.Contains(err.Error(), tc.token) {
				t.Errorf("Preflight = %q holds the token", err)
			}
		})
	}
}

func TestRunnerCauseKeepsOurContextAndTheDoFnsError(t *testing.T) {
	prism := errors.New("ingesting from the vendor: job job-001 failed:\n" +
		"bundle inst003 stage-003 failed:process bundle failed for instruction inst003 using plan stage-003 : while executing Up for Plan[stage-003]:\n" +
		"1: DataSource[S[stage-003_source@localhost:46617], i0] Out:4 Coder:W;cwv\n" +
		"4: SDF.ProcessSizedElementsAndRestrictions[vendorapi.readPagesFn] UID:4 Out:[3]\n" +
		"3: PCollection[n4] Out:[2]\n2: Discard\n\tcaused by:\n" +
		"DoFn[UID:4, PID:ee4_processandsplit, Name: github.com/marketplace/settle/io/vendorapi.readPagesFn] failed:\n" +
		"reading vendor pages: dial tcp 127.0.0.1:1: connect: connection refused")
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{name: "a prism job failure is cut to our context and the DoFn's error", err: prism,
			want: "ingesting from the vendor: reading vendor pages: dial tcp 127.0.0.1:1: connect: connection refused"},
		{name: "an error that is no job failure keeps its text", err: errors.New("reading watermark: disk full"),
			want: "reading watermark: disk full"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := pipeline.RunnerCause(tc.err)
			if got.Error() != tc.want {
				t.Errorf("RunnerCause = %q, want %q", got, tc.want)
			}
			if !errors.Is(got, tc.err) {
				t.Errorf("RunnerCause(err) does not wrap err")
			}
		})
	}
}
