package vendorsim

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/marketplace/settle/io/webhook"
)

// PushEvent is one event the simulator pushes: a version of a settlement
// (or a non-settlement event), its id and its body as sent.
type PushEvent struct {
	ID          string
	Type        string
	VendorTxnID string // "" for events without a settlement
	Body        []byte
}

// Events returns one settlement event per version of every settlement (all
// versions, whatever their listing lag: the vendor pushes a change when it
// happens), in updated_at order. Event ids are deterministic in the seed.
// The ground truth of a push that delivered them all is Truth().
func (s *Sim) Events() []PushEvent {
	out := make([]PushEvent, 0, len(s.index))
	for _, e := range s.index {
		idx, v := e.idx(), e.ver()
		raw := s.gen.appendRecord(nil, idx, s.gen.fields(idx), s.gen.plan(idx), v)
		typ := webhook.TypeSettlementUpdated
		if v == 0 {
			typ = webhook.TypeSettlementCreated
		}
		r := newRNG(s.gen.seed, saltFields, uint64(idx))
		id := s.gen.vendorTxnID(idx, &r)
		out = append(out, s.event(fmt.Sprintf("%s/%d", id, v), typ, id, raw, time.UnixMicro(e.t)))
	}
	return out
}

func (s *Sim) event(key, typ, txnID string, data []byte, created time.Time) PushEvent {
	sum := sha256.Sum256(fmt.Appendf(nil, "%d/%s", s.cfg.Seed, key))
	id := "evt_" + hex.EncodeToString(sum[:8])
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"id":%q,"type":%q,"created":%q,"data":`, id, typ, created.UTC().Format("2006-01-02T15:04:05.000000Z"))
	b.Write(data)
	b.WriteString("}")
	return PushEvent{ID: id, Type: typ, VendorTxnID: txnID, Body: b.Bytes()}
}

// PushFaults are the observed misbehaviours of the vendor's push, each a
// probability per event (seeded) unless said otherwise.
type PushFaults struct {
	// Duplicate: the same event delivered again within a second.
	Duplicate float64
	// TwoIDs: the same version pushed again under a second event id.
	TwoIDs float64
	// Shuffle delivers events in a seeded random order (out-of-order
	// versions) instead of updated_at order.
	Shuffle bool
	// BadSignature: the first attempt is signed with a wrong secret (401,
	// retried by the vendor).
	BadSignature float64
	// Stale: the first attempt carries a timestamp 6 minutes old (401,
	// retried with a fresh one).
	Stale float64
	// Oversized: an extra event of an unknown type whose body is over
	// 1 MiB (413, never retried); also Unknown: an extra small event of an
	// unknown type (acknowledged, ignored); Malformed: an extra signed body
	// that is not JSON (acknowledged, quarantined).
	Oversized, Unknown, Malformed float64
}

// AllPushFaults turns every push fault on.
func AllPushFaults() PushFaults {
	return PushFaults{Duplicate: 0.05, TwoIDs: 0.02, Shuffle: true, BadSignature: 0.02, Stale: 0.02, Oversized: 0.002, Unknown: 0.01, Malformed: 0.005}
}

// PushConfig configures Push.
type PushConfig struct {
	URL string
	// Secrets sign every attempt (two during a rotation: one v1 per secret).
	Secrets []webhook.Secret
	Faults  PushFaults
	// Rate is the average events per second (0: as fast as Concurrency
	// allows). Every BurstEvery-th second of events is sent at BurstFactor
	// times the rate (the backlog after a vendor outage).
	Rate        float64
	BurstEvery  int
	BurstFactor float64
	Concurrency int
	// BackoffUnit is the contract's first retry delay (1 min); retries
	// double it up to 60 units apart, until MaxElapsed (3 days in the
	// contract) has passed since the first attempt. Tests scale both down.
	BackoffUnit time.Duration
	MaxElapsed  time.Duration
	Client      *http.Client
	Now         func() time.Time
	// OnAck, if set, is called with the id of every event answered 2xx,
	// as the answer arrives (from several goroutines).
	OnAck func(id string)
}

// PushStats is what a Push did. Acked lists the ids of events answered 2xx.
type PushStats struct {
	Events, Attempts, Acked2xx, Refused401, TooLarge413, Failures, GaveUp int64
	Acked                                                                 []string
}

// Push delivers events to cfg.URL as the vendor does (see
// vendor-webhooks.md): signed, retried with exponential backoff on any
// answer but 2xx (except a 4xx other than 401, 403, 408 and 429), with the
// faults of cfg.Faults. It returns when every event is acknowledged or
// given up, or ctx ends.
func (s *Sim) Push(ctx context.Context, events []PushEvent, cfg PushConfig) (PushStats, error) {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 16
	}
	if cfg.BackoffUnit <= 0 {
		cfg.BackoffUnit = time.Minute
	}
	if cfg.MaxElapsed <= 0 {
		cfg.MaxElapsed = 72 * time.Hour
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.BurstFactor <= 0 {
		cfg.BurstFactor = 20
	}
	r := newRNG(s.gen.seed, saltPush, 0)
	type job struct {
		ev       PushEvent
		firstBad int // 0 none, 1 bad signature, 2 stale
		dups     int // deliveries again right after the first 2xx (within a second)
		expect   int // 0 settlement/ack, 413 never acked
	}
	var jobs []job
	for _, e := range events {
		j := job{ev: e}
		switch u := r.float(); {
		case u < cfg.Faults.BadSignature:
			j.firstBad = 1
		case u < cfg.Faults.BadSignature+cfg.Faults.Stale:
			j.firstBad = 2
		}
		if r.float() < cfg.Faults.Duplicate {
			j.dups = 1 + int(r.below(2)) // two or three deliveries in all
		}
		jobs = append(jobs, j)
		if r.float() < cfg.Faults.TwoIDs {
			e2 := s.event("twin/"+e.ID, e.Type, e.VendorTxnID, pushData(e.Body), s.cfg.To)
			jobs = append(jobs, job{ev: e2})
		}
		if r.float() < cfg.Faults.Unknown {
			jobs = append(jobs, job{ev: s.event("unknown/"+e.ID, "payout.created", "", []byte(`{"payout":"po_1"}`), s.cfg.To)})
		}
		if r.float() < cfg.Faults.Malformed {
			jobs = append(jobs, job{ev: PushEvent{ID: "", Type: "", Body: []byte(`{"id": "evt_broken", "type": "settlement.updated", "data": {"vendor_txn_id":`)}})
		}
		if r.float() < cfg.Faults.Oversized {
			big := s.event("big/"+e.ID, "settlement.attachment", "", fmt.Appendf(nil, "%q", bytes.Repeat([]byte("x"), webhook.MaxBody)), s.cfg.To)
			jobs = append(jobs, job{ev: big, expect: http.StatusRequestEntityTooLarge})
		}
	}
	if cfg.Faults.Shuffle {
		for i := len(jobs) - 1; i > 0; i-- {
			k := int(r.next() % uint64(i+1))
			jobs[i], jobs[k] = jobs[k], jobs[i]
		}
	}

	var st PushStats
	st.Events = int64(len(jobs))
	var mu sync.Mutex
	var attempts, ok2xx, r401, r413, fails, gaveUp atomic.Int64
	queue := make(chan job)
	var wg sync.WaitGroup
	for range cfg.Concurrency {
		wg.Go(func() {
			for j := range queue {
				start := cfg.Now()
				delay := cfg.BackoffUnit
				for attempt := 0; ; attempt++ {
					secrets, at := cfg.Secrets, cfg.Now()
					if attempt == 0 && j.firstBad == 1 {
						secrets = []webhook.Secret{webhook.Secret("not-the-secret")}
					}
					if attempt == 0 && j.firstBad == 2 {
						at = at.Add(-6 * time.Minute)
					}
					attempts.Add(1)
					code, err := deliver(ctx, cfg.Client, cfg.URL, j.ev.Body, webhook.Sign(j.ev.Body, at, secrets...))
					switch {
					case err == nil && code/100 == 2:
						ok2xx.Add(1)
						if j.ev.ID != "" && cfg.OnAck != nil {
							cfg.OnAck(j.ev.ID)
						}
						if j.ev.ID != "" {
							mu.Lock()
							st.Acked = append(st.Acked, j.ev.ID)
							mu.Unlock()
						}
					case err == nil && code == http.StatusUnauthorized:
						r401.Add(1)
					case err == nil && code == http.StatusRequestEntityTooLarge:
						r413.Add(1)
					default:
						fails.Add(1)
					}
					if err == nil && code/100 == 2 {
						for range j.dups {
							attempts.Add(1)
							if c, err := deliver(ctx, cfg.Client, cfg.URL, j.ev.Body, webhook.Sign(j.ev.Body, cfg.Now(), cfg.Secrets...)); err == nil && c/100 == 2 {
								ok2xx.Add(1)
							}
						}
						break
					}
					if ctx.Err() != nil {
						break
					}
					if err == nil && code/100 == 4 && !retried4xx(code) {
						break // the vendor drops it (lists it as failed)
					}
					if cfg.Now().Sub(start) > cfg.MaxElapsed {
						gaveUp.Add(1)
						break
					}
					select {
					case <-ctx.Done():
					case <-time.After(delay):
					}
					delay = min(2*delay, 60*cfg.BackoffUnit)
				}
			}
		})
	}
	pace := newPacer(cfg.Rate, cfg.BurstEvery, cfg.BurstFactor)
feed:
	for _, j := range jobs {
		if err := pace.wait(ctx); err != nil {
			break feed
		}
		select {
		case queue <- j:
		case <-ctx.Done():
			break feed
		}
	}
	close(queue)
	wg.Wait()
	st.Attempts, st.Acked2xx, st.Refused401, st.TooLarge413, st.Failures, st.GaveUp = attempts.Load(), ok2xx.Load(), r401.Load(), r413.Load(), fails.Load(), gaveUp.Load()
	return st, ctx.Err()
}

// pushData extracts the data member of an event body built by event.
func pushData(body []byte) []byte {
	i := bytes.Index(body, []byte(`"data":`))
	return body[i+len(`"data":`) : len(body)-1]
}

func retried4xx(code int) bool {
	switch code {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusRequestTimeout, http.StatusTooManyRequests:
		return true
	}
	return false
}

func deliver(ctx context.Context, c *http.Client, url string, body []byte, sig string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("building push request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(webhook.SignatureHeader, sig)
	resp, err := c.Do(req)
	if err != nil {
		return 0, fmt.Errorf("pushing event: %w", err)
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// pacer spaces sends at rate per second; in every burstEvery seconds' worth
// of events, the first second's worth goes burstFactor times faster (the
// backlog redelivered after a vendor outage). Rate 0 never waits.
type pacer struct {
	interval, burstInterval time.Duration
	perSecond, block        int
	sent                    int
	next                    time.Time
}

func newPacer(rate float64, burstEvery int, burstFactor float64) *pacer {
	if rate <= 0 {
		return &pacer{}
	}
	return &pacer{
		interval:      time.Duration(float64(time.Second) / rate),
		burstInterval: time.Duration(float64(time.Second) / (rate * burstFactor)),
		perSecond:     max(1, int(rate)),
		block:         burstEvery * max(1, int(rate)),
	}
}

func (p *pacer) wait(ctx context.Context) error {
	if p.interval == 0 {
		return ctx.Err()
	}
	now := time.Now()
	if p.next.IsZero() {
		p.next = now
	}
	if d := p.next.Sub(now); d > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
		}
	}
	step := p.interval
	if p.block > 0 && p.sent%p.block < p.perSecond {
		step = p.burstInterval
	}
	p.sent++
	p.next = p.next.Add(step)
	return nil
}
