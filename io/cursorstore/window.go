package cursorstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Window statuses. The zero WindowState has Status "" : never started.
const (
	// StatusOpen: the chain is being (or is to be) read from Cursor on.
	StatusOpen = "open"
	// StatusDone: the chain reached its last page; every page is in the raw zone.
	StatusDone = "done"
	// StatusParked: a page failed past its budget; a dead letter records it
	// and a later run may retry from Cursor.
	StatusParked = "parked"
	// StatusSuperseded: the window was parked or left open, and its whole
	// range has since been read completely by later done windows (see
	// WindowState.SupersededBy); nothing is left to fetch or redrive.
	StatusSuperseded = "superseded"
)

// ErrCursorRegressed is returned by SaveWindow (and CheckAdvance) for a
// state that would move a window's cursor backwards.
var ErrCursorRegressed = errors.New("window cursor would move backwards")

// ErrInvalidWindow is returned by SaveWindow for a state that cannot be
// stored: an unknown status or a negative count.
var ErrInvalidWindow = errors.New("invalid window state")

// WindowState is the stored progress of one window's page chain, at key
// WindowKey(source, start, end).
//
// Cursor is the vendor's next_cursor after the last page made durable ("" before
// the first page and after the last). Pages and Records count the pages and
// records of the current chain already in the raw zone. ChainRestarts counts
// restarts from the first page after a 410 cursor_expired; a restart is the
// only thing that may set Pages and Records back (to the new chain's counts).
type WindowState struct {
	Cursor        string `json:"cursor"`
	Pages         int64  `json:"pages"`
	Records       int64  `json:"records"`
	Status        string `json:"status"`
	Attempts      int    `json:"attempts"`
	LastError     string `json:"last_error"`
	ChainRestarts int    `json:"chain_restarts"`
	// Epoch names the run range that owns the chain. A run of another
	// range starts a new chain (ChainRestarts grows); a rerun of the same
	// range resumes this one.
	Epoch     string    `json:"epoch,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
	// Objects lists, in landing order and without repeats, the file name
	// (the part after the window's prefix, "page-00042-<hash>.json.gz") of
	// every raw page object ingestion landed for this window, of every
	// chain and epoch: a window re-read later lands more pages, and all of
	// them stay valid vendor data. Processing checks the raw zone against
	// it (a listed object that is gone is a deleted page). A new chain
	// carries it over; only `settle refetch` drops entries, those of the
	// damaged objects it moved aside. Nil for windows landed before it
	// was recorded: their deletions cannot be detected until a new chain
	// (or a refetch) adopts the objects the raw zone holds then. A few
	// hundred entries per hour window at the vendor's volume.
	Objects []string `json:"objects,omitempty"`
	// SupersededBy names the done windows that covered this one's range
	// when it became StatusSuperseded: their keys, separated by spaces;
	// "" otherwise.
	SupersededBy string `json:"superseded_by,omitempty"`
}

// AddObject records the landed object file name, once.
func (w *WindowState) AddObject(file string) {
	if !slices.Contains(w.Objects, file) {
		w.Objects = append(w.Objects, file)
	}
}

// WindowKey returns the key of a window's state:
// "window/<source>/<start RFC3339>_<end RFC3339>", times in UTC with the
// fraction of a second when they have one (RFC3339Nano), so windows with
// sub-second bounds never share a key; a whole-second bound is written as
// before.
func WindowKey(source string, start, end time.Time) string {
	return "window/" + source + "/" + start.UTC().Format(time.RFC3339Nano) + "_" + end.UTC().Format(time.RFC3339Nano)
}

// LoadWindow reads the window state at key. An absent window yields the zero
// WindowState and version 0, ready for SaveWindow(…, 0, …).
func LoadWindow(ctx context.Context, s Store, key string) (WindowState, int64, error) {
	d, err := s.Get(ctx, key)
	if errors.Is(err, ErrNotFound) {
		return WindowState{}, 0, nil
	}
	if err != nil {
		return WindowState{}, 0, fmt.Errorf("loading window %q: %w", key, err)
	}
	var w WindowState
	if err := json.Unmarshal(d.Body, &w); err != nil {
		return WindowState{}, 0, fmt.Errorf("loading window %q: decoding version %d: %w", key, d.Version, err)
	}
	return w, d.Version, nil
}

// SaveWindow stores next at key if the stored version is still version (as
// returned by LoadWindow or the previous SaveWindow) and returns the new
// version. Returns an error wrapping ErrConflict if another writer got
// there first, ErrCursorRegressed if next would move the cursor backwards
// from the stored state (see CheckAdvance), and ErrInvalidWindow for an
// unknown status or a negative count; in each case nothing is written.
//
// The stored state is read again, so the rule holds even for a caller
// whose in-memory state is stale. UpdatedAt is stored as given, in UTC.
func SaveWindow(ctx context.Context, s Store, key string, version int64, next WindowState) (int64, error) {
	if err := validateWindow(next); err != nil {
		return 0, fmt.Errorf("saving window %q: %w", key, err)
	}
	prev, stored, err := LoadWindow(ctx, s, key)
	if err != nil {
		return 0, fmt.Errorf("saving window %q: %w", key, err)
	}
	if stored != version {
		return 0, fmt.Errorf("saving window %q at version %d: stored version is %d: %w", key, version, stored, ErrConflict)
	}
	if err := CheckAdvance(prev, next); err != nil {
		return 0, fmt.Errorf("saving window %q at version %d: %w", key, version, err)
	}
	next.UpdatedAt = next.UpdatedAt.UTC()
	body, err := json.Marshal(next)
	if err != nil {
		return 0, fmt.Errorf("saving window %q: encoding: %w", key, err)
	}
	v, err := putCAS(ctx, s, key, version, body)
	if err != nil {
		return 0, fmt.Errorf("saving window %q: %w", key, err)
	}
	return v, nil
}

// CheckAdvance reports whether a window may go from prev to next. Returns an
// error wrapping ErrCursorRegressed when:
//   - ChainRestarts decreases;
//   - without a chain restart, Pages or Records decrease;
//   - without a chain restart, Pages stay the same but Cursor changes (a
//     cursor belongs to one page count: a new cursor comes with a new page).
//
// A chain restart (ChainRestarts grows) may set everything back.
func CheckAdvance(prev, next WindowState) error {
	switch {
	case next.ChainRestarts < prev.ChainRestarts:
		return fmt.Errorf("chain restarts %d -> %d: %w", prev.ChainRestarts, next.ChainRestarts, ErrCursorRegressed)
	case next.ChainRestarts > prev.ChainRestarts:
		return nil
	case next.Pages < prev.Pages:
		return fmt.Errorf("pages %d -> %d without a chain restart: %w", prev.Pages, next.Pages, ErrCursorRegressed)
	case next.Records < prev.Records:
		return fmt.Errorf("records %d -> %d without a chain restart: %w", prev.Records, next.Records, ErrCursorRegressed)
	case next.Pages == prev.Pages && next.Cursor != prev.Cursor:
		return fmt.Errorf("cursor changed at page %d without a new page or chain restart: %w", prev.Pages, ErrCursorRegressed)
	}
	return nil
}

func validateWindow(w WindowState) error {
	switch w.Status {
	case StatusOpen, StatusDone, StatusParked, StatusSuperseded:
	default:
		return fmt.Errorf("status %q is not %q, %q, %q or %q: %w", w.Status, StatusOpen, StatusDone, StatusParked, StatusSuperseded, ErrInvalidWindow)
	}
	if w.Pages < 0 || w.Records < 0 || w.Attempts < 0 || w.ChainRestarts < 0 {
		return fmt.Errorf("negative count in pages=%d records=%d attempts=%d chain_restarts=%d: %w",
			w.Pages, w.Records, w.Attempts, w.ChainRestarts, ErrInvalidWindow)
	}
	return nil
}
