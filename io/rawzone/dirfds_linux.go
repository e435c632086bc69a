package rawzone

import (
	"fmt"
	"sync"

	"golang.org/x/sys/unix"
)

// maxDirFDs bounds the directories a FileStore keeps open. A receiver
// writes into one hour directory at a time (two around the hour), a run
// into a handful of window directories.
const maxDirFDs = 32

// dirFDs keeps the directories PutOnce writes into open, so creating,
// linking and finding a file is relative to the directory (openat, linkat)
// instead of a walk of every component of its path from the root, three
// times per object. A directory in use is never closed; an unused one is
// closed when the cache is full (least recently used first) or the store
// is closed.
type dirFDs struct {
	mu     sync.Mutex
	open   map[string]*dirFD
	tick   uint64
	closed bool
}

type dirFD struct {
	dir  string
	fd   int
	refs int
	used uint64
}

// acquire returns dir open (O_PATH is not enough: fsync needs a real
// descriptor); release it when done.
func (c *dirFDs) acquire(dir string) (*dirFD, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, fmt.Errorf("opening directory %s: store closed", dir)
	}
	c.tick++
	if d, ok := c.open[dir]; ok {
		d.refs++
		d.used = c.tick
		return d, nil
	}
	// Opening under the lock keeps two callers from opening one directory
	// twice; it happens once per directory.
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("opening directory %s: %w", dir, err)
	}
	if c.open == nil {
		c.open = make(map[string]*dirFD)
	}
	c.evictLocked(maxDirFDs - 1)
	d := &dirFD{dir: dir, fd: fd, refs: 1, used: c.tick}
	c.open[dir] = d
	return d, nil
}

// evictLocked closes the least recently used unused directories while
// more than limit are open.
func (c *dirFDs) evictLocked(limit int) {
	for len(c.open) > limit {
		var lru *dirFD
		for _, d := range c.open {
			if d.refs == 0 && (lru == nil || d.used < lru.used) {
				lru = d
			}
		}
		if lru == nil {
			return // all in use: go over the bound for now
		}
		unix.Close(lru.fd)
		delete(c.open, lru.dir)
	}
}

func (c *dirFDs) release(d *dirFD) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d.refs--
	switch {
	case c.closed && d.refs == 0:
		unix.Close(d.fd)
		delete(c.open, d.dir)
	case len(c.open) > maxDirFDs:
		// Over the bound while all were in use: shrink back.
		c.evictLocked(maxDirFDs)
	}
}

// close closes the unused directories now and the others when released.
func (c *dirFDs) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for dir, d := range c.open {
		if d.refs == 0 {
			unix.Close(d.fd)
			delete(c.open, dir)
		}
	}
}
