package pipeline

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/marketplace/settle/io/cursorstore"
	"github.com/marketplace/settle/io/rawzone"
)

// ErrRawZoneDamaged is wrapped by *DamagedRawZoneError.
var ErrRawZoneDamaged = errors.New("raw zone damaged")

// Damage is one raw page object that does not hold what ingestion landed.
type Damage struct {
	Start, End time.Time // its window
	// Object is the object's name; for a page missing from a window landed
	// before objects were recorded, the name's pattern (page-00007-*).
	Object  string
	Problem string
}

// DamagedRawZoneError lists every damaged or missing page object found
// before processing, and says how to repair them. Nothing was staged or
// promoted.
type DamagedRawZoneError struct {
	Source  string
	Damaged []Damage
}

// Windows returns the damaged windows, oldest first.
func (e *DamagedRawZoneError) Windows() [][2]time.Time {
	var out [][2]time.Time
	for _, d := range e.Damaged {
		w := [2]time.Time{d.Start, d.End}
		if !slices.Contains(out, w) {
			out = append(out, w)
		}
	}
	slices.SortFunc(out, func(a, b [2]time.Time) int {
		if c := a[0].Compare(b[0]); c != 0 {
			return c
		}
		return a[1].Compare(b[1])
	})
	return out
}

func (e *DamagedRawZoneError) Error() string {
	var b strings.Builder
	ws := e.Windows()
	fmt.Fprintf(&b, "%s: %d page object(s) of %d window(s) do not hold what ingestion landed; nothing was promoted:",
		ErrRawZoneDamaged, len(e.Damaged), len(ws))
	for _, d := range e.Damaged {
		fmt.Fprintf(&b, "\n  %s: %s", d.Object, d.Problem)
	}
	from, to := ws[0][0], ws[len(ws)-1][1]
	fmt.Fprintf(&b, "\nrepair: `settle refetch --from %s --to %s` re-reads the damaged window(s) from the vendor from their first page"+
		" (it first moves the damaged objects aside under %s and says what it will do; add --dry-run to only see that),"+
		" then run this command again",
		from.Format(time.RFC3339Nano), to.Format(time.RFC3339Nano), rawzone.DamagedRoot)
	return b.String()
}

// Unwrap makes errors.Is(err, ErrRawZoneDamaged) true.
func (e *DamagedRawZoneError) Unwrap() error { return ErrRawZoneDamaged }

// rawWindow is one window whose raw objects are to be processed.
type rawWindow struct{ Start, End time.Time }

// checkedRaw is what checkRaw found.
type checkedRaw struct {
	Objects    []string // every page object of the windows, in window order
	Damaged    []Damage
	Unrecorded []rawWindow // windows without a record of their landed objects
}

// checkRaw lists the raw zone of each window and checks it against what
// ingestion recorded in the window's state, before anything is processed:
//
//   - every object ingestion recorded (WindowState.Objects) must exist;
//   - every object must decode and its body must hash to the hash in its
//     name, computed when it landed over the bytes the vendor sent (a body
//     the vendor sent that is no page is intact: processing quarantines it);
//   - a window landed before objects were recorded can only be checked for
//     the page numbers of its last chain (a done window's Pages).
//
// It returns every object to process and every damage found (all of them,
// not the first). Errors are for a raw zone or cursor store that cannot be
// read.
func checkRaw(ctx context.Context, cfg Config, b *backends, windows []rawWindow) (checkedRaw, error) {
	var out checkedRaw
	var refs []rawzone.PageRef
	for _, w := range windows {
		prefix := rawzone.WindowPrefix(cfg.Source, w.Start, w.End)
		names, err := b.raw.List(ctx, prefix)
		if err != nil {
			return out, fmt.Errorf("listing raw zone of window %s: %w", windowText(w), err)
		}
		listed := map[string]bool{}
		pages := map[int64]bool{}
		for _, n := range names {
			r, err := rawzone.ParsePageRef(n)
			if err != nil || r.Source != cfg.Source || !r.Start.Equal(w.Start) || !r.End.Equal(w.End) {
				continue
			}
			refs = append(refs, r)
			listed[n], pages[r.Page] = true, true
		}
		st, _, err := cursorstore.LoadWindow(ctx, b.cursors, cursorstore.WindowKey(cfg.Source, w.Start, w.End))
		if err != nil {
			return out, err
		}
		if st.Objects == nil {
			if len(listed) > 0 || st.Pages > 0 {
				out.Unrecorded = append(out.Unrecorded, w)
			}
			if st.Status == cursorstore.StatusDone {
				for p := range st.Pages {
					if !pages[p] {
						out.Damaged = append(out.Damaged, Damage{Start: w.Start, End: w.End, Object: fmt.Sprintf("%spage-%05d-*", prefix, p),
							Problem: fmt.Sprintf("missing: the window is done with %d pages in its last chain, and no object of page %d is in the raw zone", st.Pages, p)})
					}
				}
			}
			continue
		}
		for _, f := range st.Objects {
			if n := prefix + f; !listed[n] {
				out.Damaged = append(out.Damaged, Damage{Start: w.Start, End: w.End, Object: n,
					Problem: "missing: ingestion landed and recorded it, the raw zone no longer has it (deleted)"})
			}
		}
	}
	rawzone.SortPageRefs(refs)

	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(4, 2*runtime.GOMAXPROCS(0)))
	for _, r := range refs {
		out.Objects = append(out.Objects, r.Name)
		g.Go(func() error {
			problem := ""
			data, err := b.raw.Get(gctx, r.Name)
			switch {
			case errors.Is(err, rawzone.ErrNotFound):
				problem = "missing: listed, then gone before it could be read (deleted)"
			case err != nil:
				return fmt.Errorf("checking raw object: %w", err)
			default:
				if _, err := rawzone.CheckPage(r, data); err != nil {
					problem = damageText(r.Name, err)
				}
			}
			if problem != "" {
				mu.Lock()
				out.Damaged = append(out.Damaged, Damage{Start: r.Start, End: r.End, Object: r.Name, Problem: problem})
				mu.Unlock()
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return out, err
	}
	slices.SortFunc(out.Damaged, func(a, b Damage) int { return strings.Compare(a.Object, b.Object) })
	return out, nil
}

// damageText is CheckPage's error without the object's name (printed
// beside it), saying truncated/corrupt or altered.
func damageText(name string, err error) string {
	s := strings.TrimPrefix(err.Error(), name+": ")
	s = strings.TrimPrefix(s, rawzone.ErrDamaged.Error()+": ")
	if strings.Contains(s, "hashes to") {
		return "altered: " + s
	}
	return "truncated or corrupt: " + s
}

// verifiedObjects runs checkRaw and returns the objects to process, or a
// *DamagedRawZoneError. Windows without a record are warned about once.
func verifiedObjects(ctx context.Context, cfg Config, opts Options, b *backends, runID string, windows []rawWindow) ([]string, error) {
	c, err := checkRaw(ctx, cfg, b, windows)
	if err != nil {
		return nil, err
	}
	if n := len(c.Unrecorded); n > 0 {
		opts.Logger.Warn("raw zone: window(s) landed before settle recorded their objects; a deleted page there cannot be detected "+
			"(only missing page numbers of a done window's last chain); every object's body hash was checked. "+
			"`settle refetch --all --from … --to …` re-reads them and records their objects",
			logKeyRun, runID, logKeyWindows, n, "first", windowText(c.Unrecorded[0]), "last", windowText(c.Unrecorded[n-1]))
	}
	if len(c.Damaged) > 0 {
		return nil, &DamagedRawZoneError{Source: cfg.Source, Damaged: c.Damaged}
	}
	return c.Objects, nil
}

// replayWindows returns every window that overlaps [from, to): those with
// page objects in the raw zone, and those the cursor store says landed
// pages (a window whose every object was deleted has none listed).
func replayWindows(ctx context.Context, cfg Config, b *backends, from, to time.Time) ([]rawWindow, error) {
	refs, err := rawzone.ListPageRefs(ctx, b.raw, cfg.Source, from, to)
	if err != nil {
		return nil, fmt.Errorf("listing raw zone for replay: %w", err)
	}
	var out []rawWindow
	seen := map[rawWindow]bool{}
	add := func(w rawWindow) {
		w = rawWindow{w.Start.UTC(), w.End.UTC()}
		if !seen[w] {
			seen[w] = true
			out = append(out, w)
		}
	}
	for _, r := range refs {
		add(rawWindow{r.Start, r.End})
	}
	keys, err := b.cursors.List(ctx, "window/"+cfg.Source+"/")
	if err != nil {
		return nil, fmt.Errorf("listing windows: %w", err)
	}
	for _, k := range keys {
		start, end, err := cursorstore.ParseWindowKey(cfg.Source, k)
		if err != nil || !start.Before(to) || !end.After(from) || seen[rawWindow{start, end}] {
			continue
		}
		st, _, err := cursorstore.LoadWindow(ctx, b.cursors, k)
		if err != nil {
			return nil, err
		}
		if len(st.Objects) > 0 || (st.Status == cursorstore.StatusDone && st.Pages > 0) {
			add(rawWindow{start, end})
		}
	}
	slices.SortFunc(out, func(a, b rawWindow) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return a.End.Compare(b.End)
	})
	return out, nil
}

func windowText(w rawWindow) string {
	return w.Start.UTC().Format(time.RFC3339Nano) + "/" + w.End.UTC().Format(time.RFC3339Nano)
}

// intactBody reports whether body hashes to the hash in the page object's
// name: the bytes the vendor sent, as they landed.
func intactBody(name string, body []byte) bool {
	ref, err := rawzone.ParsePageRef(name)
	return err == nil && ref.Hash == rawzone.BodyHash(body)
}
