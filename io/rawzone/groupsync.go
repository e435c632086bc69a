package rawzone

import "sync"

// groupSync coalesces one kind of sync (a directory's fsync, a file
// system's syncfs) among concurrent callers: group commit. A caller needs
// a sync that starts after its own write: it waits for the sync in
// progress (which may have started before that write), then starts one or
// joins the one another caller started in the meantime. Under load one
// sync covers every write made while the previous one ran, so the number
// of syncs grows with time, not with callers, and nothing is acknowledged
// before a sync that started after its write has finished.
type groupSync struct {
	mu      sync.Mutex
	cond    *sync.Cond
	started uint64 // syncs started
	done    uint64 // number of the last sync finished
	running bool
	err     error // of the last sync finished
}

func newGroupSync() *groupSync {
	g := &groupSync{}
	g.cond = sync.NewCond(&g.mu)
	return g
}

// run returns the result of a call of sync that started after run was
// called: its own, or the one another caller started while it waited.
func (g *groupSync) run(sync func() error) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	want := g.started + 1
	for g.done < want {
		if g.running {
			g.cond.Wait()
			continue
		}
		g.running = true
		g.started++
		mine := g.started
		g.mu.Unlock()
		err := sync()
		g.mu.Lock()
		g.running, g.done, g.err = false, mine, err
		g.cond.Broadcast()
	}
	return g.err
}
