package vendorapi

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"strconv"
	"sync"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/sdf"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/marketplace/settle/io/cursorstore"
	"github.com/marketplace/settle/io/rawzone"
)

func init() {
	register.DoFn4x1[context.Context, *sdf.LockRTracker, Task, func(LandedPage), error](&readPagesFn{})
	register.Emitter1[LandedPage]()
}

var (
	pagesLanded     = beam.NewCounter("vendorapi", "pages_landed")
	recordsLanded   = beam.NewCounter("vendorapi", "records_landed")
	windowsDone     = beam.NewCounter("vendorapi", "windows_done")
	windowsSkipped  = beam.NewCounter("vendorapi", "windows_already_done")
	windowsParked   = beam.NewCounter("vendorapi", "windows_parked")
	parkedSkipped   = beam.NewCounter("vendorapi", "windows_parked_skipped")
	chainRestarts   = beam.NewCounter("vendorapi", "chain_restarts")
	fetchAttempts   = beam.NewCounter("vendorapi", "fetch_attempts")
	rateLimited     = beam.NewCounter("vendorapi", "rate_limited")
	fetchRetries    = beam.NewCounter("vendorapi", "retries")
	bytesLanded     = beam.NewCounter("vendorapi", "bytes_landed")
	pageFetchMillis = beam.NewDistribution("vendorapi", "page_fetch_millis")
)

// ReadConfig is the serialisable configuration of ReadPages. It carries no
// secret: the token is read in Setup from the environment variable
// TokenEnv, or from Secret Manager when TokenSecret names a secret.
type ReadConfig struct {
	VendorURL string `json:"vendor_url"`
	TokenEnv  string `json:"token_env"`
	// TokenSecret, when set, names the Secret Manager secret (version)
	// holding the token; workers read it there instead of TokenEnv.
	TokenSecret    string        `json:"token_secret"`
	RawZone        string        `json:"raw_zone"`     // rawzone URI
	CursorStore    string        `json:"cursor_store"` // cursorstore URI
	PageSize       int           `json:"page_size"`
	Rate           float64       `json:"rate"` // requests per second for this process
	Burst          int           `json:"burst"`
	Concurrency    int           `json:"concurrency"` // chains at once in this process
	RetryBudget    time.Duration `json:"retry_budget"`
	MaxAttempts    int           `json:"max_attempts"`
	RequestTimeout time.Duration `json:"request_timeout"`
}

// ReadPages takes PCollection<Task> and returns PCollection<LandedPage>.
//
// For every window it walks the vendor's page chain from the cursor stored
// for it and, page by page, (1) writes the page to the raw zone, durable and
// immutable, then (2) advances the window's cursor with a compare-and-set.
// A crash between (1) and (2) fetches that one page again on the next run;
// its raw object is then written once more with the same name or, if the
// vendor's answer changed, beside it: nothing is lost, and dedup drops the
// repeats. A page that fails past its retry budget is dead-lettered and
// parks its window; the other windows go on. Rate limits are waited out
// inside the element (no ProcessContinuation: that would make this batch
// job a streaming one on Dataflow).
func ReadPages(s beam.Scope, cfg ReadConfig, tasks beam.PCollection) beam.PCollection {
	s = s.Scope("vendorapi.ReadPages")
	return beam.ParDo(s, &readPagesFn{ReadConfig: cfg}, tasks)
}

// fetcher is what readPagesFn needs of the vendor client.
type fetcher interface {
	FetchPage(ctx context.Context, r Request) (Page, error)
}

// readPagesFn is the splittable DoFn behind ReadPages.
type readPagesFn struct {
	ReadConfig

	client  fetcher
	raw     rawzone.Store
	cursors cursorstore.Store
	slots   chan struct{}
	now     func() time.Time
}

// Setup opens the client and the back ends once per DoFn instance. The
// limiter and the chain slots are shared by every instance of the process.
func (fn *readPagesFn) Setup(ctx context.Context) error {
	if fn.now == nil {
		fn.now = time.Now
	}
	if fn.client == nil {
		token := os.Getenv(fn.TokenEnv)
		if fn.TokenSecret != "" {
			var err error
			if token, err = TokenFromSecret(ctx, fn.TokenSecret); err != nil {
				return fmt.Errorf("reading the vendor token from Secret Manager: %w", err)
			}
		}
		if token == "" {
			return fmt.Errorf("reading vendor pages: environment variable %s is empty: export the vendor API token there", fn.TokenEnv)
		}
		lim := SharedLimiter(fn.VendorURL+"|"+strconv.FormatFloat(fn.Rate, 'g', -1, 64)+"|"+strconv.Itoa(fn.Burst), fn.Rate, fn.Burst)
		c, err := New(fn.VendorURL, token, WithLimiter(lim), WithStats(&processStats), WithObserver(observeAttempt), WithRetryPolicy(RetryPolicy{
			MaxAttempts:    fn.MaxAttempts,
			MaxElapsed:     fn.RetryBudget,
			RequestTimeout: fn.RequestTimeout,
		}))
		if err != nil {
			return fmt.Errorf("creating vendor client: %w", err)
		}
		fn.client = c
	}
	if fn.raw == nil {
		s, err := rawzone.Open(ctx, fn.RawZone)
		if err != nil {
			return err
		}
		fn.raw = s
	}
	if fn.cursors == nil {
		s, err := cursorstore.Open(ctx, fn.CursorStore)
		if err != nil {
			return err
		}
		fn.cursors = s
	}
	if fn.slots == nil {
		fn.slots = sharedSlots(fn.VendorURL, fn.Concurrency)
	}
	return nil
}

// observeAttempt is the reader's one observer (FetchPage's, under the
// DoFn's ctx): it counts the attempt for the metrics and remembers a
// failure for the progress lines.
func observeAttempt(ctx context.Context, ev AttemptEvent) {
	countAttempt(ctx, ev)
	observeFailure(ctx, ev)
}

// countAttempt counts a request's rate-limit answer and the retry that
// follows it.
func countAttempt(ctx context.Context, ev AttemptEvent) {
	if ev.RateLimited {
		rateLimited.Inc(ctx, 1)
	}
	if ev.Wait > 0 {
		fetchRetries.Inc(ctx, 1)
	}
}

// Teardown closes the back ends.
func (fn *readPagesFn) Teardown() error {
	var errs []error
	if fn.raw != nil {
		errs = append(errs, fn.raw.Close())
		fn.raw = nil
	}
	if fn.cursors != nil {
		errs = append(errs, fn.cursors.Close())
		fn.cursors = nil
	}
	return errors.Join(errs...)
}

// CreateInitialRestriction starts every window with nothing claimed.
func (fn *readPagesFn) CreateInitialRestriction(Task) Restriction { return Restriction{} }

// SplitRestriction never splits: a chain is walked page after page.
func (fn *readPagesFn) SplitRestriction(_ Task, r Restriction) []Restriction {
	return []Restriction{r}
}

// RestrictionSize is 1 per window: the number of pages is unknown ahead.
func (fn *readPagesFn) RestrictionSize(_ Task, r Restriction) float64 {
	if r.Done {
		return 0
	}
	return 1
}

// CreateTracker returns the chain's tracker.
func (fn *readPagesFn) CreateTracker(r Restriction) *sdf.LockRTracker {
	return sdf.NewLockRTracker(newPageTracker(r))
}

// ProcessElement walks one window's chain. Claim rule: claimPage{} before
// each fetch, claimEnd{} once the chain is over; see pageTracker.
func (fn *readPagesFn) ProcessElement(ctx context.Context, rt *sdf.LockRTracker, task Task, emit func(LandedPage)) error {
	w := task.Window()
	key := cursorstore.WindowKey(task.Source, w.Start, w.End)

	st, ver, err := cursorstore.LoadWindow(ctx, fn.cursors, key)
	if err != nil {
		return fmt.Errorf("window %s: %w", key, err)
	}
	if st.Epoch != task.Epoch {
		if st.Status == cursorstore.StatusOpen {
			log.Infof(ctx, "window %s: chain left open by run %q; reading it again from its first page for run %q", key, st.Epoch, task.Epoch)
		}
		if st.Objects == nil && st.Status != "" {
			// Landed before objects were recorded: adopt what the raw zone
			// holds now, so that a later deletion of those pages is seen.
			if st.Objects, err = rawzone.WindowObjects(ctx, fn.raw, task.Source, w.Start, w.End); err != nil {
				return fmt.Errorf("window %s: %w", key, err)
			}
		}
		st = cursorstore.WindowState{
			Status:        cursorstore.StatusOpen,
			Epoch:         task.Epoch,
			ChainRestarts: st.ChainRestarts + 1,
			UpdatedAt:     fn.now(),
			Objects:       st.Objects, // every chain's pages stay valid
		}
		if ver, err = cursorstore.SaveWindow(ctx, fn.cursors, key, ver, st); err != nil {
			return fmt.Errorf("window %s: starting chain: %w", key, err)
		}
	}
	switch st.Status {
	case cursorstore.StatusDone, cursorstore.StatusSuperseded: // superseded: later done windows read its range
		windowsSkipped.Inc(ctx, 1)
		rt.TryClaim(claimEnd{})
		return nil
	case cursorstore.StatusParked:
		parkedSkipped.Inc(ctx, 1)
		log.Warnf(ctx, "window %s is parked (%s); run `settle redrive` to retry it", key, st.LastError)
		rt.TryClaim(claimEnd{})
		return nil
	}

	select {
	case fn.slots <- struct{}{}:
		defer func() { <-fn.slots }()
	case <-ctx.Done():
		return ctx.Err()
	}

	for {
		if !rt.TryClaim(claimPage{}) {
			return rt.GetError()
		}
		req := Request{Window: w, Cursor: st.Cursor, Limit: fn.PageSize}
		page, err := fn.client.FetchPage(ctx, req)
		if page.Attempts > 0 {
			fetchAttempts.Inc(ctx, int64(page.Attempts))
		}
		switch {
		case err == nil:
		case errors.Is(err, ErrCursorExpired):
			// The vendor forgot our place: read the window again from its
			// first page. Pages already landed stay in the raw zone; dedup
			// drops what is read twice.
			chainRestarts.Inc(ctx, 1)
			log.Warnf(ctx, "window %s: cursor expired after %d pages; restarting its chain", key, st.Pages)
			st = cursorstore.WindowState{
				Status:        cursorstore.StatusOpen,
				Epoch:         task.Epoch,
				ChainRestarts: st.ChainRestarts + 1,
				Attempts:      st.Attempts,
				UpdatedAt:     fn.now(),
				Objects:       st.Objects,
			}
			if ver, err = cursorstore.SaveWindow(ctx, fn.cursors, key, ver, st); err != nil {
				return fmt.Errorf("window %s: restarting chain: %w", key, err)
			}
			continue
		case errors.Is(err, ErrBudgetExhausted):
			return fn.park(ctx, rt, task, key, ver, st, page, err)
		default:
			return fmt.Errorf("window %s, page %d: %w", key, st.Pages, err)
		}
		pageFetchMillis.Update(ctx, page.Elapsed.Milliseconds())

		name, err := fn.land(ctx, task, st, page)
		if err != nil {
			return fmt.Errorf("window %s, page %d: %w", key, st.Pages, err)
		}
		// Record what landed, in the same compare-and-set that moves the
		// cursor: processing checks the raw zone against this list.
		st.AddObject(path.Base(name))
		st.Cursor = page.NextCursor
		st.Pages++
		st.Records += int64(len(page.Records))
		st.Attempts = 0
		st.LastError = ""
		st.UpdatedAt = fn.now()
		if !page.HasMore {
			st.Status = cursorstore.StatusDone
		}
		if ver, err = cursorstore.SaveWindow(ctx, fn.cursors, key, ver, st); err != nil {
			if errors.Is(err, cursorstore.ErrConflict) {
				return fmt.Errorf("window %s: another writer moved its cursor (an overlapping run, or a zombie worker); this one stops: %w", key, err)
			}
			return fmt.Errorf("window %s: advancing cursor after page %d: %w", key, st.Pages-1, err)
		}
		pagesLanded.Inc(ctx, 1)
		recordsLanded.Inc(ctx, int64(len(page.Records)))
		bytesLanded.Inc(ctx, int64(len(page.Body)))
		emit(LandedPage{Window: key, Object: name, Page: st.Pages - 1, Records: int64(len(page.Records))})
		if st.Status == cursorstore.StatusDone {
			windowsDone.Inc(ctx, 1)
			rt.TryClaim(claimEnd{})
			return nil
		}
	}
}

// land writes the page to the raw zone; when it returns nil the page is
// durable.
func (fn *readPagesFn) land(ctx context.Context, task Task, st cursorstore.WindowState, page Page) (string, error) {
	w := task.Window()
	obj := rawzone.PageObject{
		Source:        task.Source,
		WindowStart:   w.Start,
		WindowEnd:     w.End,
		Page:          st.Pages,
		Chain:         st.ChainRestarts,
		RequestCursor: page.Request.Cursor,
		Limit:         page.Request.Limit,
		NextCursor:    page.NextCursor,
		HasMore:       page.HasMore,
		RequestID:     page.RequestID,
		Status:        page.Status,
		Attempts:      page.Attempts,
		FetchedAt:     page.FetchedAt,
		Records:       len(page.Records),
		Body:          page.Body,
	}
	name, _, err := rawzone.PutPage(ctx, fn.raw, obj)
	if err != nil {
		return "", fmt.Errorf("landing raw page: %w", err)
	}
	return name, nil
}

// park dead-letters the page that could not be fetched and marks its window
// parked, so `settle redrive` can retry it from the same cursor.
func (fn *readPagesFn) park(ctx context.Context, rt *sdf.LockRTracker, task Task, key string, ver int64, st cursorstore.WindowState, page Page, cause error) error {
	w := task.Window()
	now := fn.now()
	dl := rawzone.DeadLetter{
		Source:       task.Source,
		WindowStart:  w.Start,
		WindowEnd:    w.End,
		Cursor:       st.Cursor,
		Page:         st.Pages,
		Attempts:     page.Attempts,
		FirstFailure: now.Add(-page.Elapsed),
		LastFailure:  now,
		LastError:    cause.Error(),
		RequestID:    page.RequestID,
	}
	name, err := rawzone.WriteDeadLetter(ctx, fn.raw, dl)
	if err != nil {
		return fmt.Errorf("window %s: dead-lettering page %d: %w", key, st.Pages, err)
	}
	st.Status = cursorstore.StatusParked
	st.Attempts += page.Attempts
	st.LastError = cause.Error()
	st.UpdatedAt = now
	if _, err := cursorstore.SaveWindow(ctx, fn.cursors, key, ver, st); err != nil {
		return fmt.Errorf("window %s: parking after dead letter %s: %w", key, name, err)
	}
	windowsParked.Inc(ctx, 1)
	log.Errorf(ctx, "window %s parked at page %d after %d attempts: %v (dead letter %s)", key, st.Pages, page.Attempts, cause, name)
	rt.TryClaim(claimEnd{})
	return nil
}

// sharedSlots returns the per-process semaphore that caps how many chains
// are fetched at once, one per vendor URL: several DoFn instances in one
// worker share it, as they share the rate limiter.
func sharedSlots(key string, n int) chan struct{} {
	slotsMu.Lock()
	defer slotsMu.Unlock()
	if n < 1 {
		n = 1
	}
	if c, ok := slotsByKey[key]; ok {
		return c
	}
	c := make(chan struct{}, n)
	slotsByKey[key] = c
	return c
}

var (
	slotsMu    sync.Mutex
	slotsByKey = map[string]chan struct{}{}
)

func unixNano(n int64) time.Time { return time.Unix(0, n).UTC() }

// processStats counts the vendor requests of every chain of this process,
// for the launcher's progress lines (Beam counters are only read at the
// end of a pipeline).
var processStats Stats

// ProcessStats returns the process-wide request counters.
func ProcessStats() StatsSnapshot { return processStats.Snapshot() }

// Sub returns the counts accrued since base.
func (s StatsSnapshot) Sub(base StatsSnapshot) StatsSnapshot {
	return StatsSnapshot{
		Requests:        s.Requests - base.Requests,
		Pages:           s.Pages - base.Pages,
		RateLimited:     s.RateLimited - base.RateLimited,
		ServerErrors:    s.ServerErrors - base.ServerErrors,
		TransportErrors: s.TransportErrors - base.TransportErrors,
		Malformed:       s.Malformed - base.Malformed,
		Retries:         s.Retries - base.Retries,
		Exhausted:       s.Exhausted - base.Exhausted,
		BytesRead:       s.BytesRead - base.BytesRead,
	}
}
