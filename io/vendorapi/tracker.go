package vendorapi

import (
	"fmt"
	"reflect"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
)

func init() {
	beam.RegisterType(reflect.TypeOf((*pageTracker)(nil)))
}

// claimPage and claimEnd are the positions a pageTracker accepts.
type (
	// claimPage asks to fetch the next page of the chain.
	claimPage struct{}
	// claimEnd records that the chain ended (or the window was parked or
	// already done): nothing more may be claimed.
	claimEnd struct{}
)

// pageTracker is the restriction tracker of one window's page chain.
//
// Lifecycle: ProcessElement claims claimPage{} before every fetch; a false
// answer means the runner stopped the element, and ProcessElement returns
// at once without fetching (its progress is safe in the cursor store). When
// the chain ends it claims claimEnd{}, which always succeeds and makes the
// tracker done. Splits are refused: pages are sequential, and the runner's
// parallelism comes from running windows side by side.
type pageTracker struct {
	rest Restriction
	err  error
}

func newPageTracker(r Restriction) *pageTracker { return &pageTracker{rest: r} }

// TryClaim implements sdf.RTracker.
func (t *pageTracker) TryClaim(pos any) bool {
	if t.err != nil || t.rest.Done {
		return false
	}
	switch pos.(type) {
	case claimPage:
		t.rest.Claimed++
		return true
	case claimEnd:
		t.rest.Done = true
		return true
	default:
		t.err = fmt.Errorf("page tracker: unexpected claim %T", pos)
		return false
	}
}

// GetError implements sdf.RTracker.
func (t *pageTracker) GetError() error { return t.err }

// TrySplit implements sdf.RTracker. It refuses every split, including the
// runner's checkpoint (fraction 0): the chain goes on from the cursor store.
func (t *pageTracker) TrySplit(float64) (primary, residual any, err error) {
	return t.rest, nil, nil
}

// GetProgress implements sdf.RTracker: pages claimed so far, and one page
// (an unknown number) remaining until the chain ends.
func (t *pageTracker) GetProgress() (done, remaining float64) {
	if t.rest.Done {
		return float64(t.rest.Claimed), 0
	}
	return float64(t.rest.Claimed), 1
}

// IsDone implements sdf.RTracker.
func (t *pageTracker) IsDone() bool { return t.rest.Done || t.err != nil }

// GetRestriction implements sdf.RTracker.
func (t *pageTracker) GetRestriction() any { return t.rest }

// IsBounded implements sdf.BoundableRTracker: a chain always ends.
func (t *pageTracker) IsBounded() bool { return true }
