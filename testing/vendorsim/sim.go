package vendorsim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"sync"
	"time"
)

// ErrBadConfig is wrapped by New when the Config is unusable.
var ErrBadConfig = errors.New("invalid simulator config")

// Documented limits of the vendor API.
const (
	DocumentedRateLimit = 25      // requests per second per token
	DocumentedBurst     = 50      // requests
	DefaultLimit        = 100     // records per page when limit is absent
	maxLimit            = 500     // records per page
	MaxBodyBytes        = 8 << 20 // bytes per response body
	maxWindow           = 24 * time.Hour
)

// Config configures a Sim. The zero value serves no records with no faults.
type Config struct {
	// Seed selects the data and the fault draws; equal seeds and configs
	// give equal responses to equal request sequences.
	Seed int64
	// Records is the number of distinct settlements (vendor_txn_id), at
	// most 2^30. Each has 1 to 3 versions (about 1.65 on average).
	Records int
	// From and To bound the updated_at of every version: [From, To), at
	// microsecond resolution. Both zero means the 24 h before Now truncated
	// to the hour.
	From, To time.Time
	// Token is the only bearer token accepted; empty accepts any non-empty
	// token. It is never logged.
	Token string
	// Faults are the behaviour knobs; the zero value is a clean vendor.
	Faults Faults
	// RateLimit is the enforced per-token rate in requests per second (0
	// falls back to Faults.RateLimit; both 0 is no enforcement). Burst is
	// the bucket size (0 falls back to Faults.Burst, then to the rate).
	// Responses always advertise DocumentedRateLimit in X-RateLimit-Limit.
	RateLimit float64
	Burst     int
	// MetadataBytes is the approximate size of each record's metadata
	// object (0 means 128). 1400 makes the ~1.7 KB records of the
	// vendor's production volume.
	MetadataBytes int
	// RevokeAfter, when positive, answers 403 to every authorised request
	// after that many have been served: a token revoked mid-run.
	RevokeAfter int64
	// Now is the clock for late visibility, cursor expiry, sticky failures,
	// the rate limit and Retry-After dates; nil means time.Now.
	Now func() time.Time
	// Logger receives one line per server start and stop; nil means
	// slog.Default().
	Logger *slog.Logger
}

// Sim is a simulated vendor. It is safe for concurrent use.
type Sim struct {
	cfg   Config
	gen   *generator
	index []entry
	now   func() time.Time
	log   *slog.Logger
	rate  float64 // enforced requests per second, 0 = off
	burst float64

	mu          sync.Mutex
	attempts    map[uint64]uint32
	stickySince map[uint64]int64 // first request of a sticky identity, unix ns
	buckets     map[string]*bucket
	seq         uint64
	authorised  int64
	stats       Stats

	srvMu sync.Mutex
	srv   *http.Server
}

// Stats counts what the simulator sent. Every field is a total since New.
type Stats struct {
	Requests       int64         `json:"requests"`
	ByStatus       map[int]int64 `json:"by_status"`
	RateLimited    int64         `json:"rate_limited"` // every 429
	Throttled      int64         `json:"throttled"`    // 429s of the enforced rate limit
	ServerErrors   int64         `json:"server_errors"`
	Pages          int64         `json:"pages"`   // 200 pages sent whole and well-formed
	Records        int64         `json:"records"` // data elements of those pages
	Duplicates     int64         `json:"duplicates"`
	Resends        int64         `json:"resends"`
	Junk           int64         `json:"junk"`
	EmptyPages     int64         `json:"empty_pages"`
	ShortPages     int64         `json:"short_pages"`
	Err200         int64         `json:"err200"`
	BadJSON        int64         `json:"bad_json"`
	Truncated      int64         `json:"truncated"`
	Resets         int64         `json:"resets"`
	Slow           int64         `json:"slow"`
	Busy5xx        int64         `json:"busy5xx"`
	HTMLErrors     int64         `json:"html_errors"`
	StickyFailures int64         `json:"sticky_failures"`
	PoisonFailures int64         `json:"poison_failures"`
	CursorsExpired int64         `json:"cursors_expired"`
}

// New builds the index of every version. It takes about a second and 80 MB
// per 3,000,000 settlements. Returns an error wrapping ErrBadConfig or
// ErrBadFaults.
func New(cfg Config) (*Sim, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.From.IsZero() && cfg.To.IsZero() {
		cfg.To = cfg.Now().UTC().Truncate(time.Hour)
		cfg.From = cfg.To.Add(-24 * time.Hour)
	}
	cfg.From = cfg.From.Truncate(time.Microsecond)
	cfg.To = cfg.To.Truncate(time.Microsecond)
	if cfg.MetadataBytes == 0 {
		cfg.MetadataBytes = 128
	}
	switch {
	case cfg.Records < 0 || cfg.Records > maxRecords:
		return nil, fmt.Errorf("records=%d is outside [0, 2^30]: %w", cfg.Records, ErrBadConfig)
	case !cfg.To.After(cfg.From):
		return nil, fmt.Errorf("span [%s, %s) is empty: %w", cfg.From, cfg.To, ErrBadConfig)
	case cfg.MetadataBytes < 0 || cfg.MetadataBytes > 4<<20:
		return nil, fmt.Errorf("metadata size %d is outside [0, 4 MiB]: %w", cfg.MetadataBytes, ErrBadConfig)
	case cfg.RateLimit < 0 || cfg.Burst < 0:
		return nil, fmt.Errorf("negative rate limit: %w", ErrBadConfig)
	}
	if err := cfg.Faults.Validate(); err != nil {
		return nil, fmt.Errorf("validating faults: %w", err)
	}
	s := &Sim{
		cfg:         cfg,
		gen:         newGenerator(cfg),
		now:         cfg.Now,
		log:         cfg.Logger,
		rate:        cfg.RateLimit,
		attempts:    make(map[uint64]uint32),
		stickySince: make(map[uint64]int64),
		buckets:     make(map[string]*bucket),
		stats:       Stats{ByStatus: make(map[int]int64)},
	}
	if s.rate == 0 {
		s.rate = cfg.Faults.RateLimit
	}
	switch {
	case cfg.Burst > 0:
		s.burst = float64(cfg.Burst)
	case cfg.Faults.Burst > 0:
		s.burst = float64(cfg.Faults.Burst)
	default:
		s.burst = max(1, s.rate)
	}
	s.index = s.gen.buildIndex()
	return s, nil
}

// Handler returns the HTTP handler serving GET /v1/settlements.
func (s *Sim) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// Config returns the configuration in use, defaults filled in.
func (s *Sim) Config() Config { return s.cfg }

// Versions returns the number of versions of all settlements.
func (s *Sim) Versions() int { return len(s.index) }

// IndexBytes returns the memory held by the version index.
func (s *Sim) IndexBytes() int { return indexBytes(s.index) }

// Stats returns a snapshot of the counters.
func (s *Sim) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.ByStatus = maps.Clone(s.stats.ByStatus)
	return st
}

// Start serves the simulator on 127.0.0.1 at a free port, like
// httptest.NewServer, and returns its base URL (no trailing slash). Close
// stops it.
func Start(cfg Config) (*Sim, string, error) {
	s, err := New(cfg)
	if err != nil {
		return nil, "", err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", fmt.Errorf("listening on 127.0.0.1: %w", err)
	}
	srv := s.server()
	go func() { _ = srv.Serve(ln) }()
	return s, "http://" + ln.Addr().String(), nil
}

// Close stops a server started by Start or Serve, closing its connections.
// It is idempotent.
func (s *Sim) Close() error {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	if s.srv == nil {
		return nil
	}
	err := s.srv.Close()
	s.srv = nil
	if err != nil {
		return fmt.Errorf("closing simulator server: %w", err)
	}
	return nil
}

func (s *Sim) server() *http.Server {
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	s.srvMu.Lock()
	s.srv = srv
	s.srvMu.Unlock()
	return srv
}

// Log attribute keys.
const (
	logKeyAddr     = "addr"
	logKeyRecords  = "records"
	logKeyVersions = "versions"
	logKeySeed     = "seed"
	logKeyFaults   = "faults"
	logKeyFrom     = "from"
	logKeyTo       = "to"
	logKeyRate     = "rate_limit"
)

// Serve listens on addr (host:port) and serves until ctx is done, then
// shuts down gracefully for up to 5 seconds. It returns nil after a shutdown
// caused by ctx.
func (s *Sim) Serve(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", addr, err)
	}
	srv := s.server()
	s.log.InfoContext(ctx, "vendor simulator listening",
		slog.String(logKeyAddr, ln.Addr().String()),
		slog.Int(logKeyRecords, s.cfg.Records),
		slog.Int(logKeyVersions, len(s.index)),
		slog.Int64(logKeySeed, s.cfg.Seed),
		slog.String(logKeyFrom, s.cfg.From.Format(time.RFC3339)),
		slog.String(logKeyTo, s.cfg.To.Format(time.RFC3339)),
		slog.Float64(logKeyRate, s.rate),
		slog.String(logKeyFaults, s.cfg.Faults.String()))
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serving on %s: %w", addr, err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutting down simulator: %w", err)
	}
	s.log.InfoContext(ctx, "vendor simulator stopped", slog.String(logKeyAddr, ln.Addr().String()))
	return nil
}

// bucket is a token bucket on the injected clock.
type bucket struct {
	tokens float64
	last   int64 // unix nanoseconds
}

// take refills the bucket to now and takes a token. When enforce is set and
// no token is left it returns false and the wait until one is.
func (b *bucket) take(now int64, rate, burst float64, enforce bool) (bool, time.Duration) {
	if now > b.last {
		b.tokens = min(burst, b.tokens+float64(now-b.last)/1e9*rate)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	if !enforce {
		b.tokens = 0
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / rate * 1e9)
}
