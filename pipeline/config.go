// Package pipeline assembles the settlement pipeline: Config, the ingest and
// process Beam pipelines, and Run, which drives one scheduled run from lease
// to summary.
package pipeline

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/marketplace/settle/transforms/gate"
)

// Defaults of the embedded local mode.
const (
	DefaultSource        = "settlements"
	DefaultWindow        = time.Hour
	DefaultPageSize      = 500
	DefaultRate          = 25 // the vendor's documented requests per second per token
	DefaultBurst         = 50
	DefaultConcurrency   = 4
	DefaultRetryBudget   = 5 * time.Minute
	DefaultMaxAttempts   = 40
	DefaultVisibilityLag = 10 * time.Minute
	DefaultLookback      = time.Hour
	DefaultLeaseTTL      = time.Minute // renewed every third of it; a holder gone from this host is taken over at once
	DefaultTokenEnv      = "VENDOR_API_TOKEN"
	DefaultChunkWindows  = 2 // 2 × ~125k records a chunk at production volume: under 3 GiB with two at once
	// DefaultProcessParallelism runs two chunk pipelines at once: both
	// cores of the reference machine, and twice a chunk's memory.
	DefaultProcessParallelism = 2
	DefaultVolumeBand         = 0.5 // ±50 % of the trailing average per hour
	DefaultVolumeHistory      = 24  // trailing runs averaged
	DefaultVolumeMinRuns      = 3   // warm-up: fewer earlier runs never hold
	DefaultStagingSubdir      = "staging"
	maxWindowSpan             = 24 * time.Hour
	maxPageSize               = 500
	defaultDataDir            = "./data"
	defaultRunner             = "prism"
	defaultWarehouseFile      = "warehouse.duckdb"
	defaultRawSubdir          = "raw"
	defaultCursorSubdir       = "cursors"
	currencyListSeparator     = ","
)

// DefaultCurrencies is the allowed currency set unless configured.
var DefaultCurrencies = []string{"USD", "EUR", "GBP", "CAD", "AUD", "JPY"}

// Config is everything a run needs. It is plain data: it can be printed
// (it holds no secret: the vendor token is read from the environment
// variable TokenEnv, or from Secret Manager by name, where it is used).
type Config struct {
	Runner string `json:"runner"` // prism (local) or dataflow
	Source string `json:"source"` // stream name in keys and object names

	VendorURL   string `json:"vendor_url"`
	TokenEnv    string `json:"token_env"`    // environment variable that holds the token
	TokenSecret string `json:"token_secret"` // Secret Manager version name, cloud only

	// From and To bound the run's windows; zero means derived (From from
	// the watermark minus Lookback, To from now minus VisibilityLag).
	From          time.Time     `json:"from"`
	To            time.Time     `json:"to"`
	Window        time.Duration `json:"window"`
	Lookback      time.Duration `json:"lookback"`
	VisibilityLag time.Duration `json:"visibility_lag"`

	PageSize    int     `json:"page_size"`
	Rate        float64 `json:"rate"` // requests per second for the whole job
	Burst       int     `json:"burst"`
	Concurrency int     `json:"concurrency"` // window chains fetched at once per process
	// Workers is how many worker processes can fetch at once (Dataflow's
	// max workers; 1 on prism): the rate is divided over them.
	Workers     int           `json:"workers"`
	RetryBudget time.Duration `json:"retry_budget"`
	MaxAttempts int           `json:"max_attempts"`
	LeaseTTL    time.Duration `json:"lease_ttl"`

	DataDir     string `json:"data_dir"`
	RawZone     string `json:"raw_zone"`     // file:///… or gs://bucket/prefix
	CursorStore string `json:"cursor_store"` // file:///… or firestore://project/collection
	Warehouse   string `json:"warehouse"`    // duckdb:///… or bigquery://project/dataset
	Staging     string `json:"staging"`      // directory or gs:// prefix for load files

	AllowedCurrencies []string `json:"allowed_currencies"`
	ChunkWindows      int      `json:"chunk_windows"` // windows processed per pipeline run
	// ProcessParallelism is how many chunk pipelines run at once.
	ProcessParallelism int     `json:"process_parallelism"`
	VolumeBand         float64 `json:"volume_band"`
	VolumeHistory      int     `json:"volume_history"`
	VolumeMinRuns      int     `json:"volume_min_runs"`
	// WindowRetention is how long behind the watermark the states of done
	// and superseded windows are kept before housekeeping deletes them; 0
	// keeps them forever. Parked windows are never deleted.
	WindowRetention time.Duration `json:"window_retention"`
}

// DefaultConfig returns the embedded local mode under dataDir ("" means
// ./data): prism, file raw zone and cursor store, DuckDB.
func DefaultConfig(dataDir string) Config {
	if dataDir == "" {
		dataDir = defaultDataDir
	}
	c := Config{
		Runner:             defaultRunner,
		Source:             DefaultSource,
		TokenEnv:           DefaultTokenEnv,
		Window:             DefaultWindow,
		Lookback:           DefaultLookback,
		VisibilityLag:      DefaultVisibilityLag,
		PageSize:           DefaultPageSize,
		Rate:               DefaultRate,
		Burst:              DefaultBurst,
		Concurrency:        DefaultConcurrency,
		Workers:            1,
		RetryBudget:        DefaultRetryBudget,
		MaxAttempts:        DefaultMaxAttempts,
		LeaseTTL:           DefaultLeaseTTL,
		AllowedCurrencies:  append([]string(nil), DefaultCurrencies...),
		ChunkWindows:       DefaultChunkWindows,
		ProcessParallelism: DefaultProcessParallelism,
		VolumeBand:         DefaultVolumeBand,
		VolumeHistory:      DefaultVolumeHistory,
		VolumeMinRuns:      DefaultVolumeMinRuns,
		WindowRetention:    DefaultWindowRetention,
	}
	c.SetDataDir(dataDir)
	return c
}

// SetDataDir points every local back end under dir.
func (c *Config) SetDataDir(dir string) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = dir
	}
	c.DataDir = abs
	c.RawZone = fileURI(filepath.Join(abs, defaultRawSubdir))
	c.CursorStore = fileURI(filepath.Join(abs, defaultCursorSubdir))
	c.Warehouse = "duckdb://" + filepath.ToSlash(filepath.Join(abs, defaultWarehouseFile))
	c.Staging = filepath.Join(abs, DefaultStagingSubdir)
}

func fileURI(p string) string { return "file://" + filepath.ToSlash(p) }

// Validate reports every problem of the configuration at once.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	switch c.Runner {
	case "prism", "dataflow":
	default:
		bad("runner %q: want prism or dataflow", c.Runner)
	}
	if c.Source == "" || strings.ContainsAny(c.Source, "/ ") {
		bad("source %q: want a non-empty name without '/' or spaces", c.Source)
	}
	if c.VendorURL != "" {
		if u, err := url.Parse(c.VendorURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("vendor url %q: want http(s)://host[:port]", c.VendorURL)
		}
	}
	if c.Window <= 0 || c.Window > maxWindowSpan {
		bad("window %v: want more than 0 and at most 24h (the vendor's limit)", c.Window)
	}
	if c.PageSize < 1 || c.PageSize > maxPageSize {
		bad("page size %d: want 1..500 (the vendor's limit)", c.PageSize)
	}
	if c.Rate <= 0 {
		bad("rate %v: want more than 0 requests per second", c.Rate)
	}
	if c.Burst < 1 {
		bad("burst %d: want at least 1", c.Burst)
	}
	if c.Workers < 1 {
		bad("workers %d: want at least 1", c.Workers)
	}
	if c.Concurrency < 1 {
		bad("concurrency %d: want at least 1", c.Concurrency)
	}
	if c.LeaseTTL < time.Second {
		bad("lease ttl %v: want at least 1s", c.LeaseTTL)
	}
	if c.RetryBudget <= 0 || c.MaxAttempts < 1 {
		bad("retry budget %v / max attempts %d: want both positive", c.RetryBudget, c.MaxAttempts)
	}
	if !c.From.IsZero() && !c.To.IsZero() && !c.From.Before(c.To) {
		bad("from %s is not before to %s: %w", c.From.Format(time.RFC3339Nano), c.To.Format(time.RFC3339Nano), ErrInvalidRange)
	}
	for name, v := range map[string]string{"raw zone": c.RawZone, "cursor store": c.CursorStore, "warehouse": c.Warehouse, "staging": c.Staging} {
		if v == "" {
			bad("%s: empty", name)
		}
	}
	if len(c.AllowedCurrencies) == 0 {
		bad("allowed currencies: empty")
	}
	for _, cur := range c.AllowedCurrencies {
		if len(cur) != 3 || strings.ToUpper(cur) != cur {
			bad("allowed currency %q: want a 3-letter upper-case ISO 4217 code", cur)
		}
	}
	if c.ChunkWindows < 1 {
		bad("chunk windows %d: want at least 1", c.ChunkWindows)
	}
	if c.ProcessParallelism < 1 {
		bad("process parallelism %d: want at least 1", c.ProcessParallelism)
	}
	if c.VolumeBand <= 0 {
		bad("volume band %v: want more than 0 (0.5 means ±50%%)", c.VolumeBand)
	}
	if c.VolumeHistory < 1 || c.VolumeMinRuns < 0 {
		bad("volume history %d / min runs %d: want history ≥ 1, min runs ≥ 0", c.VolumeHistory, c.VolumeMinRuns)
	}
	if c.WindowRetention < 0 {
		bad("window retention %v: want 0 (keep forever) or more", c.WindowRetention)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	return nil
}

// zeroDecimal are the ISO 4217 currencies without minor units; every
// other allowed currency has two.
var zeroDecimal = map[string]bool{
	"BIF": true, "CLP": true, "DJF": true, "GNF": true, "ISK": true, "JPY": true, "KMF": true, "KRW": true,
	"PYG": true, "RWF": true, "UGX": true, "VND": true, "VUV": true, "XAF": true, "XOF": true, "XPF": true,
}

// Rules returns the gate's row rules for the allowed currencies.
func (c Config) Rules() gate.Rules {
	r := gate.Rules{Currencies: map[string]int32{}}
	for _, cur := range c.AllowedCurrencies {
		r.Currencies[cur] = 2
		if zeroDecimal[cur] {
			r.Currencies[cur] = 0
		}
	}
	return r
}

// ParseCurrencies splits a comma-separated list of currency codes.
func ParseCurrencies(s string) []string {
	var out []string
	for _, p := range strings.Split(s, currencyListSeparator) {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, strings.ToUpper(p))
		}
	}
	return out
}

// Windows cuts [from, to) into consecutive windows of size w, aligned to
// multiples of w since the Unix epoch so that every run cuts the same
// windows; the first and last are clipped to the range.
func Windows(from, to time.Time, w time.Duration) [][2]time.Time {
	var out [][2]time.Time
	from, to = from.UTC(), to.UTC()
	for start := from; start.Before(to); {
		end := start.Truncate(w).Add(w)
		if end.After(to) {
			end = to
		}
		out = append(out, [2]time.Time{start, end})
		start = end
	}
	return out
}
