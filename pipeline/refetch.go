package pipeline

import (
	"context"
	"fmt"
	"io"
	"path"
	"slices"
	"time"

	"github.com/marketplace/settle/io/cursorstore"
	"github.com/marketplace/settle/io/rawzone"
	"github.com/marketplace/settle/io/vendorapi"
)

// KindRefetch is the runs-ledger kind of `settle refetch`.
const KindRefetch = "refetch"

// RefetchOptions say which windows Refetch reads again.
type RefetchOptions struct {
	// All re-reads every window of the range, not only the damaged ones:
	// for windows landed before their objects were recorded, whose
	// deletions cannot be detected.
	All bool
	// DryRun prints the plan and does nothing.
	DryRun bool
	// Plan receives the plan, before anything is done (nil: discarded).
	Plan io.Writer
}

// Refetch repairs damaged windows of [from, to) on an operator's explicit
// request: it is the only thing that reads a done window again on
// purpose, and the only thing that ever removes a raw object.
//
// It finds the windows that overlap [from, to) and checks their raw zone as
// processing does (checkRaw). For each damaged window (every window with
// opts.All) it writes the plan to opts.Plan, then: moves each damaged
// object that still exists aside (its bytes kept under
// damaged/<run id>/<name>, then the name removed, so a page fetched again
// can land under it); drops the damaged names from the window's record of
// landed objects; and starts a new chain of the window from page 0 (in the
// window's epoch, so the run that owns it still finds it done afterwards).
// Every other raw object is kept. Then it
// ingests those windows, checks and processes them, and merges the result,
// like a run without the volume gate and without moving the watermark.
//
// A to later than now minus the visibility lag is refused
// (ErrInvalidRange), as for a run. With nothing to refetch, or with
// DryRun, it returns a zero Summary and a nil error.
func Refetch(ctx context.Context, cfg Config, opts Options, from, to time.Time, ro RefetchOptions) (Summary, error) {
	opts = opts.withDefaults()
	if ro.Plan == nil {
		ro.Plan = io.Discard
	}
	from, to = from.UTC(), to.UTC()
	if err := checkFromBeforeTo("refetch", from, to); err != nil {
		return Summary{}, err
	}
	ctx, b, sum, started, end, err := begin(ctx, cfg, opts, KindRefetch, func(*backends, time.Time) (time.Time, time.Time, error) {
		return from, to, nil
	})
	if err != nil {
		return sum, err
	}
	defer end()

	windows, err := replayWindows(ctx, cfg, b, from, to)
	if err != nil {
		return Summary{}, err
	}
	checked, err := checkRaw(ctx, cfg, b, windows)
	if err != nil {
		return Summary{}, err
	}
	damaged := map[rawWindow][]Damage{}
	for _, d := range checked.Damaged {
		w := rawWindow{d.Start, d.End}
		damaged[w] = append(damaged[w], d)
	}
	var chosen []rawWindow
	for _, w := range windows {
		if ro.All || len(damaged[w]) > 0 {
			chosen = append(chosen, w)
		}
	}
	latest := LatestTo(started, cfg.VisibilityLag)
	for _, w := range chosen {
		if w.End.After(latest) {
			return Summary{}, fmt.Errorf("refetch: window %s ends later than now minus the vendor's %s visibility lag (%s): wait until it has passed: %w",
				windowText(w), cfg.VisibilityLag, latest.Truncate(time.Second).Format(time.RFC3339), ErrInvalidRange)
		}
	}
	epoch := "refetch/" + sum.RunID
	writePlan(ro.Plan, cfg, sum.RunID, epoch, from, to, len(windows), chosen, damaged, ro)
	if len(chosen) == 0 || ro.DryRun {
		return Summary{}, nil
	}

	var tasks []vendorapi.Task
	for _, w := range chosen {
		we, err := reopenForRefetch(ctx, cfg, opts, b, sum.RunID, epoch, w, damaged[w])
		if err != nil {
			return recordFailure(ctx, b, opts, sum, started, err)
		}
		tasks = append(tasks, vendorapi.NewTask(cfg.Source, vendorapi.Window{Start: w.Start, End: w.End}, we))
	}
	return finish(ctx, cfg, opts, b, sum, tasks, false, started)
}

// reopenForRefetch moves the window's damaged objects aside and starts a
// new chain of it from page 0, keeping the record of every other object,
// and returns the epoch its task must carry. The chain keeps the window's
// epoch (newEpoch only for a window without one), so a rerun of the run
// that owns the window finds it done again and does not read it a third
// time.
func reopenForRefetch(ctx context.Context, cfg Config, opts Options, b *backends, runID, newEpoch string, w rawWindow, damaged []Damage) (epoch string, err error) {
	drop := map[string]bool{}
	for _, d := range damaged {
		if _, err := rawzone.ParsePageRef(d.Object); err != nil {
			continue // a missing page number of an unrecorded window: no name
		}
		kept, err := rawzone.MoveAside(ctx, b.raw, d.Object, runID)
		if err != nil {
			return "", fmt.Errorf("refetch of window %s: %w", windowText(w), err)
		}
		if kept != "" {
			opts.Logger.Warn("moved a damaged raw object aside", logKeyRun, runID, "object", d.Object, "kept_as", kept, "problem", d.Problem)
		}
		drop[path.Base(d.Object)] = true
	}
	key := cursorstore.WindowKey(cfg.Source, w.Start, w.End)
	st, ver, err := cursorstore.LoadWindow(ctx, b.cursors, key)
	if err != nil {
		return "", err
	}
	epoch = st.Epoch
	if epoch == "" {
		epoch = newEpoch
	}
	recorded := st.Objects
	if recorded == nil {
		// Landed before objects were recorded: adopt what is there now
		// (the damaged objects were just moved aside).
		if recorded, err = rawzone.WindowObjects(ctx, b.raw, cfg.Source, w.Start, w.End); err != nil {
			return "", err
		}
	}
	objects := slices.DeleteFunc(slices.Clone(recorded), func(f string) bool { return drop[f] })
	next := cursorstore.WindowState{
		Status:        cursorstore.StatusOpen,
		Epoch:         epoch,
		ChainRestarts: st.ChainRestarts + 1,
		UpdatedAt:     opts.Now(),
		Objects:       objects,
	}
	if _, err := cursorstore.SaveWindow(ctx, b.cursors, key, ver, next); err != nil {
		return "", fmt.Errorf("refetch of window %s: starting a new chain: %w", windowText(w), err)
	}
	opts.Logger.Info("window reopened for refetch from page 0", logKeyRun, runID, "window", windowText(w),
		"objects_dropped_from_record", len(drop), "chain", next.ChainRestarts, "epoch", epoch)
	return epoch, nil
}

func writePlan(out io.Writer, cfg Config, runID, epoch string, from, to time.Time, seen int, chosen []rawWindow, damaged map[rawWindow][]Damage, ro RefetchOptions) {
	fmt.Fprintf(out, "settle refetch %s: %s .. %s holds %d window(s) of %s; %d to read again from the vendor.\n",
		runID, from.Format(time.RFC3339Nano), to.Format(time.RFC3339Nano), seen, cfg.Source, len(chosen))
	if len(chosen) == 0 {
		fmt.Fprintln(out, "Nothing to refetch: every recorded object is there and intact (--all re-reads every window of the range).")
		return
	}
	for _, w := range chosen {
		ds := damaged[w]
		if len(ds) == 0 {
			fmt.Fprintf(out, "  window %s: not damaged (--all)\n", windowText(w))
			continue
		}
		fmt.Fprintf(out, "  window %s: %d damaged object(s)\n", windowText(w), len(ds))
		for _, d := range ds {
			fmt.Fprintf(out, "    %s: %s\n", d.Object, d.Problem)
		}
	}
	fmt.Fprintf(out, `For each of these windows it will:
  1. move every damaged object that still exists aside: its bytes are kept under %s%s/<object name>,
     then the object is removed (refetch is the only command that ever removes a raw object);
  2. drop the damaged and missing objects from the window's record of landed objects;
  3. read the window again from the vendor from page 0, in a new chain of the window (it keeps
     its run's epoch, so a rerun of that run finds it done; %s for a window without one); every
     other raw object is kept, and pages read again land beside them (a page with the same body
     under the same name);
  4. check the window's raw zone again, process it and merge it (newest version wins: rows
     already right do not change); the watermark does not move.
`, rawzone.DamagedRoot, runID, epoch)
	if ro.DryRun {
		fmt.Fprintln(out, "--dry-run: nothing was done.")
	}
}
