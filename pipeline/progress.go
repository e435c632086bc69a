package pipeline

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"

	"github.com/marketplace/settle/io/cursorstore"
	"github.com/marketplace/settle/io/vendorapi"
	"github.com/marketplace/settle/io/warehouse"
)

// startProgress prints a progress line every opts.ProgressEvery while the
// ingest pipeline runs: windows, pages, records, request rate, 429s and an
// ETA. It reads the cursor store (which every worker advances) and the
// vendor client's process-wide counters. The returned stop prints a last
// line and waits for the printer to end.
func startProgress(ctx context.Context, cfg Config, opts Options, cursors cursorstore.Store, tasks []vendorapi.Task) (stop func()) {
	if opts.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	start := opts.Now()
	base := vendorapi.ProcessStats()
	line := func() {
		states, err := windowStates(ctx, cfg, cursors, tasks)
		if err != nil {
			fmt.Fprintf(opts.Progress, "progress: %v\n", err)
			return
		}
		var finished, parked int
		var pages, records int64
		for i, w := range states {
			if w.State.Epoch != tasks[i].Epoch {
				continue
			}
			pages += w.State.Pages
			records += w.State.Records
			switch w.State.Status {
			case cursorstore.StatusDone:
				finished++
			case cursorstore.StatusParked:
				parked++
			}
		}
		st := vendorapi.ProcessStats().Sub(base)
		elapsed := opts.Now().Sub(start)
		rps := float64(st.Requests) / max(elapsed.Seconds(), 1e-9)
		eta := "unknown"
		if n := finished + parked; n > 0 && n < len(tasks) {
			eta = (time.Duration(float64(elapsed) / float64(n) * float64(len(tasks)-n))).Round(time.Second).String()
		} else if n == len(tasks) {
			eta = "0s"
		}
		last := ""
		if lf := vendorapi.LastFailure(); !lf.At.Before(start) {
			last = fmt.Sprintf(", last error %s ago (%s): %s", opts.Now().Sub(lf.At).Round(time.Second), lf.Class, briefErr(lf.Err, 110))
		}
		fmt.Fprintf(opts.Progress, "ingest %s: windows %d/%d done (%d parked), pages %d, records %d, requests %d (%.1f/s, limit %.1f/s), 429s %d, retries %d, ETA %s%s\n",
			elapsed.Round(time.Second), finished, len(tasks), parked, pages, records, st.Requests, rps, cfg.Rate, st.RateLimited, st.Retries, eta, last)
	}
	go func() {
		defer wg.Done()
		t := time.NewTicker(opts.ProgressEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				line()
				return
			case <-ctx.Done():
				return
			case <-t.C:
				line()
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
	}
}

// listStaged lists the load files Process wrote under dir and counts their
// rows.
func listStaged(ctx context.Context, dir string) ([]StagedFile, error) {
	var out []StagedFile
	for _, kind := range []string{KindValidated, KindQuarantine} {
		glob := dir + "/" + kind + "/*.ndjson"
		fs, err := filesystem.New(ctx, glob)
		if err != nil {
			return nil, fmt.Errorf("opening filesystem for %s: %w", glob, err)
		}
		names, err := fs.List(ctx, glob)
		fs.Close()
		if err != nil {
			return nil, fmt.Errorf("listing load files %s: %w", glob, err)
		}
		for _, n := range names {
			out = append(out, StagedFile{Path: n, Kind: kind})
		}
	}
	return out, nil
}

// quarantineReasons counts the quarantine rows of the load files by reason.
func quarantineReasons(ctx context.Context, files []StagedFile) (map[string]int64, error) {
	by := map[string]int64{}
	for _, f := range files {
		if f.Kind != KindQuarantine {
			continue
		}
		if err := eachLine(ctx, f.Path, func(line []byte) error {
			var q warehouse.Quarantined
			if err := json.Unmarshal(line, &q); err != nil {
				return err
			}
			by[q.Reason]++
			return nil
		}); err != nil {
			return nil, fmt.Errorf("counting quarantine reasons in %s: %w", f.Path, err)
		}
	}
	return by, nil
}

func eachLine(ctx context.Context, p string, fn func([]byte) error) error {
	fs, err := filesystem.New(ctx, p)
	if err != nil {
		return err
	}
	defer fs.Close()
	r, err := fs.OpenRead(ctx, p)
	if err != nil {
		return err
	}
	defer r.Close()
	return scanLines(r, fn)
}

func scanLines(r io.Reader, fn func([]byte) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	for sc.Scan() {
		if len(sc.Bytes()) == 0 {
			continue
		}
		if err := fn(sc.Bytes()); err != nil {
			return err
		}
	}
	return sc.Err()
}
