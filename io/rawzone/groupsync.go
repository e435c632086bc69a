package rawzone

import (
	"sync"
	"time"
)

// groupSync coalesces one kind of sync (a directory's fsync, a file
// system's syncfs) among concurrent callers: group commit. A caller needs
// a sync that starts after its own write: it waits for the sync in
// progress (which may have started before that write), then starts one or
// joins the one another caller started in the meantime. Under load one
// sync covers every write made while the previous one ran, so the number
// of syncs grows with time, not with callers, and nothing is acknowledged
// before a sync that started after its write has finished.
//
// minInterval spaces the syncs under concurrency: a caller about to start
// one, when others have called since the previous one started or that
// one covered more than one caller, first waits until minInterval has
// passed since that start. A caller that arrives in that wait joins the
// coming sync, so the wait only ever adds callers to it; a caller alone
// (one writer writing in sequence, or the first after a quiet spell) does
// not wait, as there is no one to gather.
// Why: each sync has a cost that does not depend on how many writes it
// covers (syncfs walks the file system's inodes; every call queues its
// own block requests and a device cache flush). Back to back they are
// short and cover few writes: the webhook receiver at 2,000 events/s
// made about 600 syncfs and 800 directory fsyncs a second, some 3 events
// each, and that took a fifth of the machine's CPU. Spaced by 2 ms there
// were about 390 of each (5 events each); the machine went from 72-79 %
// to 54-57 % busy and the receiver from saturating at 3,600 events/s to
// taking 4,000 with a p99 of 35 ms (README, "Webhook receiver"). The price is at
// most minInterval more latency per sync, under load only.
type groupSync struct {
	mu          sync.Mutex
	cond        *sync.Cond
	minInterval time.Duration
	lastStart   time.Time
	arrivals    uint64 // calls of run so far
	// arrivalsAtStart is arrivals when the last sync started; lastCovered
	// the callers that arrived between the two last starts (the callers
	// the last sync covered, apart from those the one before also did).
	arrivalsAtStart, lastCovered uint64
	started                      uint64 // syncs started
	done                         uint64 // number of the last sync finished
	running                      bool
	err                          error // of the last sync finished
}

func newGroupSync(minInterval time.Duration) *groupSync {
	g := &groupSync{minInterval: minInterval}
	g.cond = sync.NewCond(&g.mu)
	return g
}

// run returns the result of a call of sync that started after run was
// called: its own, or the one another caller started while it waited.
func (g *groupSync) run(sync func() error) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	want := g.started + 1
	g.arrivals++
	for g.done < want {
		if g.running {
			g.cond.Wait()
			continue
		}
		crowd := g.arrivals-g.arrivalsAtStart > 1 || g.lastCovered > 1
		if wait := time.Until(g.lastStart.Add(g.minInterval)); crowd && wait > 0 {
			// Another caller may start the sync meanwhile: it starts after
			// this call, so it covers this caller too.
			g.mu.Unlock()
			time.Sleep(wait)
			g.mu.Lock()
			continue
		}
		g.running = true
		g.started++
		g.lastStart, g.lastCovered, g.arrivalsAtStart = time.Now(), g.arrivals-g.arrivalsAtStart, g.arrivals
		mine := g.started
		g.mu.Unlock()
		err := sync()
		g.mu.Lock()
		g.running, g.done, g.err = false, mine, err
		g.cond.Broadcast()
	}
	return g.err
}
