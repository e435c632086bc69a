package rawzone

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
)

// openFDs counts the process's open descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count descriptors: %v", err)
	}
	return len(ents)
}

// TestFileStoreKeepsABoundedSetOfDirectoriesOpen writes concurrently into
// many more directories than the store keeps open: every object lands,
// the store never holds more than maxDirFDs directories once they are
// unused, and Close leaves no descriptor behind.
func TestFileStoreKeepsABoundedSetOfDirectoriesOpen(t *testing.T) {
	s, err := NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	before := openFDs(t)
	ctx := context.Background()
	const dirs, perDir = 3 * maxDirFDs, 4
	var wg sync.WaitGroup
	errs := make(chan error, dirs*perDir)
	for d := range dirs {
		for i := range perDir {
			wg.Go(func() {
				name := fmt.Sprintf("events/webhook/date=2026-11-01/hour=%02d/d%03d/evt-%d.json", d%24, d, i)
				errs <- s.PutOnce(ctx, name, fmt.Appendf(nil, "%d/%d", d, i))
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("PutOnce = %v", err)
		}
	}
	s.dirs.mu.Lock()
	held := len(s.dirs.open)
	s.dirs.mu.Unlock()
	if held > maxDirFDs {
		t.Errorf("store holds %d directories open, want at most %d", held, maxDirFDs)
	}
	if held == 0 {
		t.Errorf("store holds no directory open: the cache is not used")
	}
	for d := range dirs {
		for i := range perDir {
			name := fmt.Sprintf("events/webhook/date=2026-11-01/hour=%02d/d%03d/evt-%d.json", d%24, d, i)
			got, err := s.Get(ctx, name)
			if want := fmt.Sprintf("%d/%d", d, i); err != nil || string(got) != want {
				t.Fatalf("Get(%s) = %q, %v; want %q", name, got, err, want)
			}
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if after := openFDs(t); after > before {
		t.Errorf("after Close %d descriptors are open, before the writes %d", after, before)
	}
	if err := s.PutOnce(ctx, "events/webhook/date=2026-11-01/hour=00/late.json", []byte("x")); err == nil {
		t.Errorf("PutOnce after Close succeeded; want an error")
	}
}

// TestDirFDsNeverCloseADirectoryInUse fills the cache with directories in
// use: none is evicted (the bound is exceeded instead), and each is closed
// on its release once the cache is closed.
func TestDirFDsNeverCloseADirectoryInUse(t *testing.T) {
	root := t.TempDir()
	var c dirFDs
	var held []*dirFD
	for i := range maxDirFDs + 3 {
		dir := fmt.Sprintf("%s/%d", root, i)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		d, err := c.acquire(dir)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, d)
	}
	for _, d := range held {
		if _, err := os.Stat(fmt.Sprintf("/proc/self/fd/%d", d.fd)); err != nil {
			t.Fatalf("directory %s in use was closed: %v", d.dir, err)
		}
	}
	c.close()
	if len(c.open) != len(held) {
		t.Fatalf("close dropped directories in use: %d of %d left", len(c.open), len(held))
	}
	for _, d := range held {
		c.release(d)
	}
	if len(c.open) != 0 {
		t.Errorf("%d directories open after all were released from a closed cache", len(c.open))
	}
}
