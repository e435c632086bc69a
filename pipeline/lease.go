package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/marketplace/settle/io/cursorstore"
	"github.com/marketplace/settle/io/warehouse"
)

// runLease is a run's hold on its source's lease. It renews the lease every
// third of its TTL. When the lease is lost (another run took it over, or it
// could not be renewed before it expired) it cancels the run's context
// with a cause wrapping cursorstore.ErrLeaseLost: the ingest pipeline
// stops (its DoFns run under that context on prism, and the cursor store
// refuses writes under a cancelled context), and promote and the
// watermark are refused (see hold). A nil *runLease holds nothing and
// refuses nothing.
type runLease struct {
	lease  *cursorstore.Lease
	runID  string
	now    func() time.Time
	log    *slog.Logger
	cancel context.CancelCauseFunc

	stop    chan struct{}
	stopped chan struct{}
	// release frees the lease; it keeps the context takeLease was given
	// (without its cancellation) for the final write.
	release func()

	mu   sync.Mutex
	lost error // the cause the run was cancelled with, nil while held
}

// takeLease takes the source's run lease for runID and renews it in the
// background until end is called. cancel is the cancel function of ctx,
// the run's context: losing the lease calls it. Returns a
// *cursorstore.LeaseHeldError while another run holds the lease.
func takeLease(ctx context.Context, cancel context.CancelCauseFunc, cfg Config, cursors cursorstore.Store, runID string, opts Options) (*runLease, error) {
	host, _ := os.Hostname()
	owner := fmt.Sprintf("%s pid %d run %s", host, os.Getpid(), runID)
	lease, err := cursorstore.AcquireLease(ctx, cursors, cfg.Source, owner, cfg.LeaseTTL, opts.Now())
	if err != nil {
		return nil, err
	}
	if lease.TookOverFrom != "" {
		opts.Logger.Warn("took over the run lease of a run that stopped without releasing it",
			logKeyRun, runID, "from", lease.TookOverFrom, "because", lease.TookOverBecause)
	}
	l := &runLease{
		lease: lease, runID: runID, now: opts.Now, log: opts.Logger, cancel: cancel,
		stop: make(chan struct{}), stopped: make(chan struct{}),
	}
	l.release = func() {
		if err := lease.Release(context.WithoutCancel(ctx)); err != nil && l.err() == nil {
			opts.Logger.Warn("releasing run lease", logKeyRun, runID, "error", err)
		}
	}
	go l.renewLoop(ctx, cfg.LeaseTTL/3)
	return l, nil
}

func (l *runLease) renewLoop(ctx context.Context, every time.Duration) {
	defer close(l.stopped)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-ctx.Done():
			return
		case <-t.C:
			l.renew(ctx)
		}
	}
}

// renew extends the lease. A refusal (ErrLeaseLost) loses it at once; any
// other error is tried again at the next tick unless the lease has expired
// meanwhile: from then on another run may take it over, so this one stops.
func (l *runLease) renew(ctx context.Context) {
	now := l.now()
	err := l.lease.Renew(ctx, now)
	switch {
	case err == nil:
	case errors.Is(err, cursorstore.ErrLeaseLost):
		l.lose(err)
	case !now.Before(l.lease.ExpiresAt()):
		l.lose(fmt.Errorf("not renewed before it expired at %s: %w: %w",
			l.lease.ExpiresAt().UTC().Format(time.RFC3339), cursorstore.ErrLeaseLost, err))
	case ctx.Err() == nil:
		l.log.Warn("renewing run lease; trying again before it expires", logKeyRun, l.runID,
			"expires_at", l.lease.ExpiresAt(), "error", err)
	}
}

// lose records that the lease is lost and cancels the run with why.
func (l *runLease) lose(why error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lost != nil {
		return
	}
	l.lost = fmt.Errorf("run %s lost the lease of source %q (%w), so it stopped writing: from then on no cursor "+
		"moved, nothing was promoted and the watermark stayed. Another run may hold the lease now: see `settle runs`; "+
		"once no run holds it, run the same command again (pages already in the raw zone are kept)",
		l.runID, l.lease.Name, why)
	l.log.Error("run lease lost: stopping", logKeyRun, l.runID, "error", why)
	l.cancel(l.lost)
}

func (l *runLease) err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lost
}

// hold makes sure the lease is still held before a write that must not
// happen without it (promote, the watermark): it renews the lease, so a run
// that stalled past its TTL and was taken over finds out here. Returns an
// error wrapping cursorstore.ErrLeaseLost when the lease is lost (and
// cancels the run), or the renewal's error.
func (l *runLease) hold(ctx context.Context) error {
	if l == nil {
		return nil
	}
	if err := l.err(); err != nil {
		return err
	}
	err := l.lease.Renew(ctx, l.now())
	if errors.Is(err, cursorstore.ErrLeaseLost) {
		l.lose(err)
		return l.err()
	}
	if err != nil {
		return fmt.Errorf("checking the run lease is still held: %w", err)
	}
	return nil
}

// end stops renewing and releases the lease (unless it was lost), then
// cancels the run's context to free it.
func (l *runLease) end() {
	if l == nil {
		return
	}
	close(l.stop)
	<-l.stopped
	if l.err() == nil {
		l.release()
	}
	l.cancel(context.Canceled)
}

// leaseLost returns err, explained by the lost lease when ctx was cancelled
// because the lease was lost: the error the run stopped on is then only a
// consequence ("context canceled").
func leaseLost(ctx context.Context, err error) error {
	cause := context.Cause(ctx)
	if err == nil || cause == nil || !errors.Is(cause, cursorstore.ErrLeaseLost) || errors.Is(err, cursorstore.ErrLeaseLost) {
		return err
	}
	return fmt.Errorf("%w (it stopped at: %w)", cause, err)
}

// promote promotes the run's staged rows if the run still holds its lease.
func (b *backends) promote(ctx context.Context, runID string) (warehouse.PromoteStats, error) {
	if err := b.lease.hold(ctx); err != nil {
		return warehouse.PromoteStats{}, err
	}
	return b.wh.Promote(ctx, runID)
}
