package vendorapi

import (
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
)

func init() {
	beam.RegisterType(reflect.TypeOf((*Task)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*LandedPage)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*Restriction)(nil)).Elem())
	beam.RegisterCoder(reflect.TypeOf((*Restriction)(nil)).Elem(), encodeRestriction, decodeRestriction)
}

// Task is the input element of ReadPages: one window of one source. Times are
// Unix nanoseconds so the element has a stable, runner-independent encoding.
type Task struct {
	Source    string `json:"source"`
	StartNano int64  `json:"start_nano"`
	EndNano   int64  `json:"end_nano"`
	// Epoch names the run that asked for the window (its requested range).
	// A window whose stored state belongs to another epoch is read again
	// from its first page, because late records can appear anywhere in a
	// window's order; one of the same epoch resumes from its cursor, or is
	// skipped when done or parked. Redrive passes the stored epoch.
	Epoch string `json:"epoch"`
}

// Window returns the task's window.
func (t Task) Window() Window { return Window{Start: unixNano(t.StartNano), End: unixNano(t.EndNano)} }

// NewTask returns the task of window w of source for the run epoch.
func NewTask(source string, w Window, epoch string) Task {
	return Task{Source: source, StartNano: w.Start.UnixNano(), EndNano: w.End.UnixNano(), Epoch: epoch}
}

// LandedPage is ReadPages' output: one page made durable in the raw zone and
// recorded in the cursor store. It is a receipt, not data: processing reads
// the raw zone, never these elements.
type LandedPage struct {
	Window  string `json:"window"` // cursor-store key of the window
	Object  string `json:"object"` // raw zone object name
	Page    int64  `json:"page"`   // position in the chain
	Records int64  `json:"records"`
}

// Restriction is the part of one window's page chain an element may still
// read. A chain can only be walked forwards, one page after the other, so
// the restriction is never split: Claimed counts the pages claimed so far
// and Done marks the chain's end (its last page landed, or the window was
// parked, or it had been finished by an earlier run).
//
// Where the chain resumes is not stored here but in the cursor store, which
// only moves after a page is durable in the raw zone: a bundle that is
// retried, or a process that is killed, resumes from the last durable page
// whatever restriction it was handed.
type Restriction struct {
	Claimed int64 `json:"claimed"`
	Done    bool  `json:"done"`
}

func encodeRestriction(r Restriction) ([]byte, error) { return json.Marshal(r) }

func decodeRestriction(b []byte) (Restriction, error) {
	var r Restriction
	if err := json.Unmarshal(b, &r); err != nil {
		return Restriction{}, fmt.Errorf("decoding page restriction: %w", err)
	}
	return r, nil
}
