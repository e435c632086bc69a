package rawzone

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
)

// TestFileStorePutOnceClosesItsDescriptors: PutOnce works on bare
// descriptors (no *os.File to close them when collected); concurrent new
// objects, same-content retries and content mismatches leave none open.
func TestFileStorePutOnceClosesItsDescriptors(t *testing.T) {
	s, err := NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	count := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skipf("cannot count descriptors: %v", err)
		}
		return len(ents)
	}
	put := func(i int, body string) error {
		return s.PutOnce(ctx, fmt.Sprintf("events/webhook/date=2026-11-01/hour=%02d/evt-%d.json", i%3, i), []byte(body))
	}
	if err := put(-1, "warm"); err != nil { // the directories exist from here on
		t.Fatal(err)
	}
	before := count()
	var wg sync.WaitGroup
	errs := make(chan error, 300)
	for i := range 100 {
		wg.Go(func() { errs <- put(i, "v1") })
	}
	wg.Wait()
	for i := range 100 {
		wg.Go(func() { errs <- put(i, "v1") }) // a retry: the same bytes
		wg.Go(func() {
			if err := put(i, "v2"); !errors.Is(err, ErrContentMismatch) {
				errs <- fmt.Errorf("PutOnce of other bytes = %v, want ErrContentMismatch", err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if after := count(); after != before {
		t.Errorf("%d descriptors open after the puts, %d before", after, before)
	}
}
