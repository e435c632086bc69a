package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/marketplace/settle/io/cursorstore"
	"github.com/marketplace/settle/io/vendorapi"
)

// advanceWatermark moves the watermark to the end of the run's leading
// run of done windows: a parked window holds it back, so the next
// scheduled run reads from there again.
func advanceWatermark(ctx context.Context, cfg Config, b *backends, tasks []vendorapi.Task) error {
	st, err := windowStates(ctx, cfg, b.cursors, tasks)
	if err != nil {
		return err
	}
	var mark time.Time
	for _, w := range st {
		if w.State.Status != cursorstore.StatusDone {
			break
		}
		mark = w.End
	}
	if mark.IsZero() {
		return nil
	}
	return moveWatermark(ctx, cfg, b, mark)
}

// moveWatermark moves the source's watermark to mark if mark is later,
// under the run's lease, by compare-and-set: a watermark only moves
// forward, so moving it twice (a retried bundle) changes nothing.
func moveWatermark(ctx context.Context, cfg Config, b *backends, mark time.Time) error {
	old, ver, err := cursorstore.LoadWatermark(ctx, b.cursors, cfg.Source)
	if err != nil {
		return fmt.Errorf("reading watermark: %w", err)
	}
	if !mark.After(old) {
		return nil
	}
	if err := b.lease.hold(ctx); err != nil {
		return fmt.Errorf("saving watermark %s: %w", mark.Format(time.RFC3339), err)
	}
	if _, err := cursorstore.SaveWatermark(ctx, b.cursors, cfg.Source, ver, mark); err != nil {
		return fmt.Errorf("saving watermark %s: %w", mark.Format(time.RFC3339), err)
	}
	return nil
}

// windowState is one window's stored state.
type windowState struct {
	Key        string
	Start, End time.Time
	Version    int64
	State      cursorstore.WindowState
}

func windowStates(ctx context.Context, cfg Config, cursors cursorstore.Store, tasks []vendorapi.Task) ([]windowState, error) {
	out := make([]windowState, 0, len(tasks))
	for _, t := range tasks {
		w := t.Window()
		key := cursorstore.WindowKey(cfg.Source, w.Start, w.End)
		st, ver, err := cursorstore.LoadWindow(ctx, cursors, key)
		if err != nil {
			return nil, err
		}
		out = append(out, windowState{Key: key, Start: w.Start, End: w.End, Version: ver, State: st})
	}
	return out, nil
}

// ParkedWindows lists the source's parked windows, oldest first.
func ParkedWindows(ctx context.Context, cfg Config, cursors cursorstore.Store) ([]windowState, error) {
	prefix := "window/" + cfg.Source + "/"
	keys, err := cursors.List(ctx, prefix)
	if err != nil {
		return nil, fmt.Errorf("listing windows: %w", err)
	}
	var out []windowState
	for _, k := range keys {
		st, ver, err := cursorstore.LoadWindow(ctx, cursors, k)
		if err != nil {
			return nil, err
		}
		if st.Status != cursorstore.StatusParked {
			continue
		}
		bounds := strings.SplitN(strings.TrimPrefix(k, prefix), "_", 2)
		if len(bounds) != 2 {
			return nil, fmt.Errorf("window key %q: want <start>_<end>", k)
		}
		start, err1 := time.Parse(time.RFC3339, bounds[0])
		end, err2 := time.Parse(time.RFC3339, bounds[1])
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("window key %q: %w", k, err)
		}
		out = append(out, windowState{Key: k, Start: start, End: end, Version: ver, State: st})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	return out, nil
}
