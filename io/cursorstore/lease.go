package cursorstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"
)

var (
	// ErrLeaseHeld is wrapped by the *LeaseHeldError AcquireLease returns
	// while another owner's lease has not expired.
	ErrLeaseHeld = errors.New("lease held by another run")
	// ErrLeaseLost is returned by Renew and Release when the lease was taken
	// over after it expired (or released): the holder must stop writing.
	ErrLeaseLost = errors.New("lease lost")
)

// LeaseHeldError says who holds a lease and until when. It wraps ErrLeaseHeld.
type LeaseHeldError struct {
	Name      string
	Owner     string
	ExpiresAt time.Time
}

func (e *LeaseHeldError) Error() string {
	return fmt.Sprintf("lease %q is held by %q until %s: another run is in progress; "+
		"wait for it to finish (it renews the lease while it runs). If it crashed, run again: "+
		"a holder on this host that is gone is taken over at once, one on another host once its lease expires",
		e.Name, e.Owner, e.ExpiresAt.UTC().Format(time.RFC3339))
}

func (e *LeaseHeldError) Unwrap() error { return ErrLeaseHeld }

// LeaseKey returns the key of the lease called name: "lease/<name>".
func LeaseKey(name string) string { return "lease/" + name }

// leaseDoc is the stored lease. Token tells this acquisition apart from
// another one by an owner of the same name (a restarted process). The
// embedded Holder's fields (host, boot_id, pid_ns, pid, pid_start) say
// which process holds it. A released lease has an empty Owner.
type leaseDoc struct {
	Owner     string    `json:"owner"`
	Token     string    `json:"token,omitempty"`
	ExpiresAt time.Time `json:"expires_at"`
	Holder
}

func (d leaseDoc) heldAt(now time.Time) bool {
	return d.Owner != "" && now.Before(d.ExpiresAt)
}

// Lease is a held lease: mutual exclusion between runs through a Store, with
// a time to live so that a crashed holder does not block the next run for
// longer than TTL. A Lease is safe for concurrent use (a renewing goroutine
// and a final Release).
type Lease struct {
	Name  string
	Owner string
	TTL   time.Duration
	// Holder is the process recorded as holding the lease.
	Holder Holder
	// TookOverFrom names the owner whose lease AcquireLease took over (a
	// crashed or stalled run), "" if the lease was free; TookOverBecause
	// says why: it had expired, or its holder process on this machine was
	// gone.
	TookOverFrom    string
	TookOverBecause string

	store Store
	token string

	mu        sync.Mutex
	version   int64
	expiresAt time.Time
	released  bool
}

// ExpiresAt returns when the lease runs out unless renewed.
func (l *Lease) ExpiresAt() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.expiresAt
}

// LeaseOption configures AcquireLease.
type LeaseOption func(*leaseOptions)

type leaseOptions struct {
	holder  Holder
	running func(Holder) bool
}

// WithHolder records h as the process that holds the lease (default:
// ThisProcess()).
func WithHolder(h Holder) LeaseOption { return func(o *leaseOptions) { o.holder = h } }

// WithLiveness replaces HolderRunning, the check of whether the holder of
// an unexpired lease, on this machine, is still running.
func WithLiveness(running func(Holder) bool) LeaseOption {
	return func(o *leaseOptions) { o.running = running }
}

// AcquireLease takes the lease called name for owner until now+ttl. It
// succeeds if the lease is free, released, expired, or held by a process
// on this machine (same host, boot and pid namespace) that is no longer
// running (see HolderRunning): it then takes over from the crashed run,
// named in Lease.TookOverFrom. Returns a *LeaseHeldError (wrapping
// ErrLeaseHeld) while another acquisition's lease has not expired and its
// holder may be running, even one by the same owner name.
func AcquireLease(ctx context.Context, s Store, name, owner string, ttl time.Duration, now time.Time, opts ...LeaseOption) (*Lease, error) {
	o := leaseOptions{running: HolderRunning}
	o.holder = ThisProcess()
	for _, opt := range opts {
		opt(&o)
	}
	key := LeaseKey(name)
	if owner == "" {
		return nil, fmt.Errorf("acquiring lease %q: empty owner", name)
	}
	if ttl <= 0 {
		return nil, fmt.Errorf("acquiring lease %q: ttl %s is not positive", name, ttl)
	}
	token, err := newToken()
	if err != nil {
		return nil, fmt.Errorf("acquiring lease %q: %w", name, err)
	}
	const attempts = 3
	for range attempts {
		cur, version, err := loadLease(ctx, s, key)
		if err != nil {
			return nil, fmt.Errorf("acquiring lease %q: %w", name, err)
		}
		var because string
		switch {
		case cur.Owner == "":
		case !cur.heldAt(now):
			because = "its lease expired at " + cur.ExpiresAt.UTC().Format(time.RFC3339)
		case cur.Holder.sameMachine(o.holder) && !o.running(cur.Holder):
			because = fmt.Sprintf("its process (%s) is no longer running", cur.Holder)
		default:
			return nil, &LeaseHeldError{Name: name, Owner: cur.Owner, ExpiresAt: cur.ExpiresAt}
		}
		next := leaseDoc{Owner: owner, Token: token, ExpiresAt: now.Add(ttl).UTC(), Holder: o.holder}
		v, err := putLease(ctx, s, key, version, next)
		if errors.Is(err, ErrConflict) {
			continue // somebody else wrote first: read who
		}
		if err != nil {
			return nil, fmt.Errorf("acquiring lease %q: %w", name, err)
		}
		return &Lease{
			Name: name, Owner: owner, TTL: ttl, Holder: o.holder,
			TookOverFrom: cur.Owner, TookOverBecause: because,
			store: s, token: token, version: v, expiresAt: next.ExpiresAt,
		}, nil
	}
	return nil, fmt.Errorf("acquiring lease %q: lost %d compare-and-sets in a row: %w", name, attempts, ErrConflict)
}

// Renew extends the lease to now+TTL. Returns an error wrapping ErrLeaseLost
// if another run took the lease over (it had expired) or it was released;
// the caller must then stop. Renewing an expired lease nobody took over
// succeeds.
func (l *Lease) Renew(ctx context.Context, now time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	next := leaseDoc{Owner: l.Owner, Token: l.token, ExpiresAt: now.Add(l.TTL).UTC(), Holder: l.Holder}
	if err := l.writeLocked(ctx, next); err != nil {
		return fmt.Errorf("renewing lease %q: %w", l.Name, err)
	}
	l.expiresAt = next.ExpiresAt
	return nil
}

// Release frees the lease so the next run need not wait for it to expire.
// Returns an error wrapping ErrLeaseLost if it had been taken over. Release
// of a released lease returns nil.
func (l *Lease) Release(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.released {
		return nil
	}
	if err := l.writeLocked(ctx, leaseDoc{}); err != nil {
		return fmt.Errorf("releasing lease %q: %w", l.Name, err)
	}
	l.released = true
	return nil
}

// writeLocked writes next over this acquisition's lease. A conflict is
// resolved by reading the stored lease: if it still carries this
// acquisition's token, an earlier write of ours landed without our knowing
// (a lost response), so we adopt its version and write again.
func (l *Lease) writeLocked(ctx context.Context, next leaseDoc) error {
	if l.released {
		return fmt.Errorf("lease was released: %w", ErrLeaseLost)
	}
	key := LeaseKey(l.Name)
	for range 2 {
		v, err := putLease(ctx, l.store, key, l.version, next)
		if err == nil {
			l.version = v
			return nil
		}
		if !errors.Is(err, ErrConflict) {
			return err
		}
		cur, version, err := loadLease(ctx, l.store, key)
		if err != nil {
			return err
		}
		if cur.Token != l.token {
			if cur.Owner == "" {
				return fmt.Errorf("lease was released by another acquisition: %w", ErrLeaseLost)
			}
			return fmt.Errorf("taken over by %q until %s: %w", cur.Owner, cur.ExpiresAt.UTC().Format(time.RFC3339), ErrLeaseLost)
		}
		l.version = version
	}
	return fmt.Errorf("lease document keeps changing under its holder: %w", ErrConflict)
}

func loadLease(ctx context.Context, s Store, key string) (leaseDoc, int64, error) {
	d, err := s.Get(ctx, key)
	if errors.Is(err, ErrNotFound) {
		return leaseDoc{}, 0, nil
	}
	if err != nil {
		return leaseDoc{}, 0, err
	}
	var ld leaseDoc
	if err := json.Unmarshal(d.Body, &ld); err != nil {
		return leaseDoc{}, 0, fmt.Errorf("decoding lease version %d: %w", d.Version, err)
	}
	return ld, d.Version, nil
}

func putLease(ctx context.Context, s Store, key string, version int64, d leaseDoc) (int64, error) {
	body, err := json.Marshal(d)
	if err != nil {
		return 0, fmt.Errorf("encoding lease: %w", err)
	}
	return putCAS(ctx, s, key, version, body)
}

func newToken() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("making lease token: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}
