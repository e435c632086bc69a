package cursorstore

import (
	"context"
	"fmt"
	"time"
)

// ResumeLease takes the lease called name for owner, as AcquireLease does,
// and also when owner itself holds it: the steps of one Dataflow job run
// in different processes and a failed bundle runs again, so a job's run
// names itself by a fixed owner (its run id) and each step resumes the
// lease an earlier step or attempt took, extending it to now+ttl. Another
// owner's unexpired lease is refused with a *LeaseHeldError.
func ResumeLease(ctx context.Context, s Store, name, owner string, ttl time.Duration, now time.Time) (*Lease, error) {
	cur, version, err := loadLease(ctx, s, LeaseKey(name))
	if err != nil {
		return nil, fmt.Errorf("resuming lease %q: %w", name, err)
	}
	if cur.Owner == "" || cur.Owner != owner {
		// Free, expired, or another owner's: AcquireLease decides. A
		// holder recorded by a process that is gone on another machine
		// is not ours to judge, so liveness is left to the expiry.
		return AcquireLease(ctx, s, name, owner, ttl, now, WithLiveness(func(Holder) bool { return true }))
	}
	l := &Lease{
		Name: name, Owner: owner, TTL: ttl, Holder: cur.Holder,
		store: s, token: cur.Token, version: version, expiresAt: cur.ExpiresAt,
	}
	if err := l.Renew(ctx, now); err != nil {
		return nil, fmt.Errorf("resuming lease %q: %w", name, err)
	}
	return l, nil
}
