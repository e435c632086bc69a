package e2egcp_test

import (
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/gcs"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
	"github.com/fsouza/fake-gcs-server/fakestorage"

	"github.com/marketplace/settle/io/cursorstore"
	_ "github.com/marketplace/settle/io/cursorstore/firestore"
	_ "github.com/marketplace/settle/io/rawzone/gcs"
	"github.com/marketplace/settle/io/warehouse"
	"github.com/marketplace/settle/io/warehouse/bigquery"
	"github.com/marketplace/settle/pipeline"
	"github.com/marketplace/settle/testing/bqemulator"
	"github.com/marketplace/settle/testing/emulator"
	"github.com/marketplace/settle/testing/truthcheck"
	"github.com/marketplace/settle/testing/vendorsim"
)

// TestMain shares one Firestore emulator among the package's tests (it
// takes about 15 s to start) and stops it at the end. The BigQuery emulator
// and fake-gcs-server are per test (see newGCPEnv): the bqemulator harness
// ties an emulator's life to a testing.TB, and each test wants a fresh one.
func TestMain(m *testing.M) {
	flag.Parse()
	beam.Init()
	// Prism logs every job it runs at Info through the default logger.
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	emulator.Main(m)
}

// Environment variables the pipeline's Google Cloud back ends read.
const (
	envStorageHost = "STORAGE_EMULATOR_HOST"
	envToken       = pipeline.DefaultTokenEnv
)

// project is the Google Cloud project every emulator is asked about.
const project = "settle-e2e"

// simFrom is the start of the simulated span; it lies in the past, so
// every version is visible to the vendor's list.
var simFrom = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// gcpEnv is the three emulators, set up in this process's environment
// (FIRESTORE_EMULATOR_HOST, STORAGE_EMULATOR_HOST, BIGQUERY_EMULATOR_HOST),
// with a bucket, a dataset and a collection of the test's own.
type gcpEnv struct {
	gcs        *fakestorage.Server
	gcsHost    string // host:port
	bucket     string
	dataset    string
	collection string
}

// newGCPEnv starts (or reuses) the emulators for t. It skips t loudly if one
// cannot be had, and fails it under CI=true.
func newGCPEnv(t *testing.T) *gcpEnv {
	t.Helper()
	if testing.Short() {
		t.Skip("end to end on the emulators: skipped with -short")
	}
	fsHost := emulator.Firestore(t)
	t.Setenv(emulator.FirestoreHostEnv, fsHost)

	bq := bqemulator.StartEmulator(t)
	if bq.GCSRoot == "" {
		emulator.Unavailable(t, "BigQuery", fmt.Errorf("%s=%s is set without %s, so the load files fake-gcs-server holds cannot be placed where it reads gs:// URIs",
			bqemulator.EnvHost, bq.Host, bqemulator.EnvGCSRoot))
	}
	t.Setenv(bigquery.EnvEmulatorHost, bq.Host)

	// fake-gcs-server keeps objects at <StorageRoot>/<bucket>/<name>, the
	// layout bqemulator reads gs://<bucket>/<name> from, so load files
	// need no copying. PublicHost: Beam's gs:// filesystem reads through
	// the XML API, which the storage client sends path-style to the
	// STORAGE_EMULATOR_HOST (GET http://127.0.0.1:PORT/<bucket>/<name>);
	// fake-gcs-server serves that route only for its PublicHost (default
	// storage.googleapis.com) and otherwise takes "127.0.0.1:PORT" for a
	// virtual-host bucket name, answering 404 ("storage: object doesn't
	// exist" when the pipeline reads its quarantine load files back).
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{
		Scheme:      "http",
		Host:        "127.0.0.1",
		PublicHost:  "127.0.0.1",
		StorageRoot: bq.GCSRoot,
	})
	if err != nil {
		t.Fatalf("starting fake-gcs-server on %s: %v", bq.GCSRoot, err)
	}
	t.Cleanup(srv.Stop)
	u, err := url.Parse(srv.URL())
	if err != nil || u.Hostname() != "127.0.0.1" {
		t.Fatalf("fake-gcs-server listens on %q, want 127.0.0.1", srv.URL())
	}
	t.Setenv(envStorageHost, u.Host)

	name := emulator.UniqueName(t)
	e := &gcpEnv{
		gcs:        srv,
		gcsHost:    u.Host,
		bucket:     trimTo(name, 63),
		dataset:    strings.ReplaceAll(name, "-", "_"),
		collection: name,
	}
	srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: e.bucket})
	t.Logf("emulators: firestore %s, gcs %s (root %s), bigquery %s; bucket %s, dataset %s, collection %s",
		fsHost, u.Host, bq.GCSRoot, bq.Host, e.bucket, e.dataset, e.collection)
	return e
}

func trimTo(s string, n int) string {
	if len(s) > n {
		return strings.TrimRight(s[:n], "-")
	}
	return s
}

// config is the configuration `settle run --backend=gcp` builds for this
// environment (launcher/flags.go), on a local data dir for nothing but
// defaults.
func (e *gcpEnv) config(t *testing.T) pipeline.Config {
	t.Helper()
	cfg := pipeline.DefaultConfig(t.TempDir())
	cfg.RawZone = "gs://" + e.bucket + "/raw"
	cfg.Staging = "gs://" + e.bucket + "/staging"
	cfg.CursorStore = "firestore://" + project + "/" + e.collection
	cfg.Warehouse = "bigquery://" + project + "/" + e.dataset
	return cfg
}

// flags are the launcher flags that select this environment.
func (e *gcpEnv) flags() []string {
	return []string{"--backend=gcp", "--project=" + project, "--raw-bucket=" + e.bucket,
		"--dataset=" + e.dataset, "--firestore-collection=" + e.collection}
}

// rawPages counts the page objects in the raw zone.
func (e *gcpEnv) rawPages(t *testing.T) int {
	t.Helper()
	list, err := e.gcs.ListObjectsWithOptionsPaginated(e.bucket, fakestorage.ListOptions{Prefix: "raw/pages/"}) // no MaxResults: one page of all
	if err != nil {
		t.Fatalf("listing raw pages in fake-gcs-server: %v", err)
	}
	return len(list.Objects)
}

// cursors opens the environment's cursor store.
func (e *gcpEnv) cursors(t *testing.T) cursorstore.Store {
	t.Helper()
	s, err := cursorstore.Open(t.Context(), "firestore://"+project+"/"+e.collection)
	if err != nil {
		t.Fatalf("opening cursor store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// windows returns every stored window state of the source.
func windows(t *testing.T, s cursorstore.Store, source string) map[string]cursorstore.WindowState {
	t.Helper()
	keys, err := s.List(t.Context(), "window/"+source+"/")
	if err != nil {
		t.Fatalf("listing window states: %v", err)
	}
	out := map[string]cursorstore.WindowState{}
	for _, k := range keys {
		st, _, err := cursorstore.LoadWindow(t.Context(), s, k)
		if err != nil {
			t.Fatalf("loading window state %s: %v", k, err)
		}
		out[k] = st
	}
	return out
}

// warehouseRows is what the warehouse holds.
type warehouseRows struct {
	settlements []warehouse.Settlement
	quarantine  []warehouse.Quarantined
	withheld    []warehouse.Withheld
}

// rows reads settlements, settlements_quarantine and settlements_withheld
// through the BigQuery back end's own readers.
func (e *gcpEnv) rows(t *testing.T) warehouseRows {
	t.Helper()
	w, err := bigquery.Open(t.Context(), project, e.dataset, "")
	if err != nil {
		t.Fatalf("opening BigQuery warehouse: %v", err)
	}
	defer w.Close()
	s, err := w.Settlements(t.Context())
	if err != nil {
		t.Fatalf("reading settlements: %v", err)
	}
	q, err := w.Quarantine(t.Context())
	if err != nil {
		t.Fatalf("reading quarantine: %v", err)
	}
	h, err := w.Withheld(t.Context())
	if err != nil {
		t.Fatalf("reading withheld settlements: %v", err)
	}
	return warehouseRows{settlements: s, quarantine: q, withheld: h}
}

// testFaults is every fault of the simulator except pages that never
// recover, with short sticky failures and waits, as pipeline/e2e_test.go,
// and junk elements five times as often, so that a run of ~150 pages has
// some.
func testFaults() vendorsim.Faults {
	f := vendorsim.AllFaults()
	f.Poison = 0 // every window must complete here
	f.Junk = 0.05
	f.StickyFor = 2 * time.Second
	f.RetryAfter = 50 * time.Millisecond
	f.SlowDelay = 20 * time.Millisecond
	f.RateLimit, f.Burst = 0, 0
	return f
}

// checkAgainstTruth compares the warehouse with the simulator's ground
// truth (truthcheck.Compare, shared with the local back end), and checks
// that the truth holds both valid and invalid settlements.
func checkAgainstTruth(t *testing.T, rows warehouseRows, truth []vendorsim.TruthRecord) {
	t.Helper()
	truthcheck.Compare(t, truthcheck.FromRows(t, rows.settlements, rows.quarantine, rows.withheld), truth)
	valid := 0
	for _, tr := range truth {
		if tr.Valid {
			valid++
		}
	}
	if valid == 0 || valid == len(truth) {
		t.Errorf("truth has %d valid of %d records: the comparison needs both kinds", valid, len(truth))
	}
}

// unkeyed counts the quarantine rows without a vendor_txn_id.
func unkeyed(q []warehouse.Quarantined) int {
	n := 0
	for _, r := range q {
		if r.VendorTxnID == nil {
			n++
		}
	}
	return n
}
