package vendorapi_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/marketplace/settle/io/vendorapi"
)

// TestARetryAfterPausesEveryChain: the vendor's limit is per token, so one
// chain's single 429 with Retry-After holds back every chain of the
// process until it has passed, however scattered 429s have been.
func TestARetryAfterPausesEveryChain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := vendorapi.NewAdaptiveLimiter(100, 100)
		start := time.Now()
		l.Report(true, 2*time.Second) // chain A meets a 429, Retry-After: 2
		var wg sync.WaitGroup
		for range 3 { // chains B, C, D
			wg.Go(func() {
				if err := l.Wait(t.Context()); err != nil {
					t.Error(err)
					return
				}
				if got := time.Since(start); got < 2*time.Second {
					t.Errorf("a request went out %v after another chain's 429, want no earlier than its 2s Retry-After", got)
				}
			})
		}
		wg.Wait()
		if got := l.Rate(); got != 100 {
			t.Errorf("Rate() = %v after one scattered 429, want 100: a single 429 pauses, it does not cut", got)
		}
	})
}

// TestAPauseThatBeginsDuringATokenWaitIsHonoured: a caller already waiting
// for a token when another chain meets a 429 must not send during that
// 429's Retry-After.
func TestAPauseThatBeginsDuringATokenWaitIsHonoured(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := vendorapi.NewAdaptiveLimiter(1, 1)
		start := time.Now()
		if err := l.Wait(t.Context()); err != nil { // spends the burst
			t.Fatal(err)
		}
		sent := make(chan time.Duration, 1)
		go func() {
			if err := l.Wait(t.Context()); err != nil { // a token at 1s
				t.Error(err)
			}
			sent <- time.Since(start)
		}()
		time.Sleep(500 * time.Millisecond)
		l.Report(true, 2*time.Second) // until 2.5s
		if got := <-sent; got < 2500*time.Millisecond {
			t.Errorf("the waiting request went out at %v, inside the 429's pause until 2.5s", got)
		}
	})
}

func TestPauseNeverShortensAPauseInForce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := vendorapi.NewAdaptiveLimiter(100, 100)
		start := time.Now()
		l.Pause(3 * time.Second)
		l.Pause(time.Second)
		l.Report(true, 2*time.Second)
		if got := l.State().PausedUntil.Sub(start); got != 3*time.Second {
			t.Errorf("pause = %v, want the longest, 3s", got)
		}
		l.Pause(10 * time.Minute)
		if got := l.State().PausedUntil.Sub(start); got != vendorapi.LimiterMaxPause {
			t.Errorf("pause = %v, want it capped at %v", got, vendorapi.LimiterMaxPause)
		}
	})
}

// TestA429WithoutRetryAfterPausesEveryChainUntilItsRetry: without a
// Retry-After the chain waits its backoff, and no other chain may send
// before that chain's retry.
func TestA429WithoutRetryAfterPausesEveryChainUntilItsRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lim := vendorapi.NewAdaptiveLimiter(100, 100)
		ht := &handlerTransport{steps: []step{
			reply(429, `{"error":{"code":"rate_limited"}}`),
			okPage(`{"data":[],"has_more":false,"next_cursor":null}`),
		}}
		met := make(chan struct{})
		var once sync.Once
		newC := func(opts ...vendorapi.Option) *vendorapi.Client {
			c, err := vendorapi.New("http://vendor.invalid", testToken, append([]vendorapi.Option{
				vendorapi.WithHTTPClient(&http.Client{Transport: ht}), vendorapi.WithLimiter(lim),
				vendorapi.WithJitter(func() float64 { return 0.5 }), // backoff 250ms before the first retry
				vendorapi.WithLogger(slog.New(slog.DiscardHandler)),
			}, opts...)...)
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		a := newC(vendorapi.WithObserver(func(_ context.Context, ev vendorapi.AttemptEvent) {
			if ev.RateLimited {
				once.Do(func() { close(met) })
			}
		}))
		b := newC()
		aDone := make(chan struct{})
		go func() {
			defer close(aDone)
			if _, err := a.FetchPage(t.Context(), vendorapi.Request{Window: testWindow}); err != nil {
				t.Error(err)
			}
		}()
		<-met // chain A met its 429 and is in its backoff
		if _, err := b.FetchPage(t.Context(), vendorapi.Request{Window: testWindow}); err != nil {
			t.Fatal(err)
		}
		<-aDone
		ht.mu.Lock()
		sent := append([]time.Time(nil), ht.sent...)
		ht.mu.Unlock()
		if len(sent) != 3 {
			t.Fatalf("%d requests, want 3", len(sent))
		}
		for i, s := range sent[1:] {
			if got := s.Sub(sent[0]); got < 250*time.Millisecond {
				t.Errorf("request %d went out %v after the 429, want no earlier than the 250ms backoff of the chain that met it", i+2, got)
			}
		}
	})
}

// TestNoRequestGoesOutDuringAnotherChainsRetryAfter runs chains against a
// real HTTP server that answers one request 429 with Retry-After: 2 and
// records when every request arrives. Chains that start after the 429
// was answered must send nothing before its Retry-After has passed.
func TestNoRequestGoesOutDuringAnotherChainsRetryAfter(t *testing.T) {
	var (
		mu       sync.Mutex
		arrivals []time.Time
		limited  time.Time // when the 429 was answered
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		now := time.Now()
		arrivals = append(arrivals, now)
		first := limited.IsZero()
		if first {
			limited = now
		}
		mu.Unlock()
		if first {
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(http.StatusTooManyRequests)
			w.Write([]byte(`{"error":{"code":"rate_limited","message":"too many requests"}}`))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"data":[],"has_more":false,"next_cursor":null}`))
	}))
	defer srv.Close()

	lim := vendorapi.NewAdaptiveLimiter(50, 50)
	newC := func(observe func()) *vendorapi.Client {
		opts := []vendorapi.Option{vendorapi.WithLimiter(lim), vendorapi.WithLogger(slog.New(slog.DiscardHandler))}
		if observe != nil {
			opts = append(opts, vendorapi.WithObserver(func(_ context.Context, ev vendorapi.AttemptEvent) {
				if ev.Status == http.StatusTooManyRequests {
					observe()
				}
			}))
		}
		c, err := vendorapi.New(srv.URL, testToken, opts...)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	met := make(chan struct{})
	var once sync.Once
	a := newC(func() { once.Do(func() { close(met) }) })
	var wg sync.WaitGroup
	wg.Go(func() {
		if _, err := a.FetchPage(t.Context(), vendorapi.Request{Window: testWindow}); err != nil {
			t.Error(err)
		}
	})
	<-met // chain A has its 429 and is waiting it out; now the others start
	for range 4 {
		c := newC(nil)
		wg.Go(func() {
			for range 3 {
				if _, err := c.FetchPage(t.Context(), vendorapi.Request{Window: testWindow}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	if len(arrivals) != 1+1+4*3 {
		t.Fatalf("%d requests arrived, want 14", len(arrivals))
	}
	early := 0
	for _, at := range arrivals[1:] {
		if at.Before(limited.Add(2 * time.Second)) {
			early++
		}
	}
	if early > 0 {
		t.Errorf("%d of %d requests arrived while the 2s Retry-After answered at %s was still running, want none",
			early, len(arrivals)-1, limited.Format(time.StampMicro))
	}
}
