package cursorstore

import "context"

// Deleter is the optional capability of a Store to remove a document, found
// by type assertion. Both back ends have it; housekeeping (pruning old
// window states) uses it and does without it on a store that lacks it.
type Deleter interface {
	// Delete removes the document at key if its stored version equals
	// version. Returns an error wrapping ErrConflict, having removed
	// nothing, when the stored version differs, and one wrapping
	// ErrNotFound when the key has no document. A later Put at version 0
	// creates the key anew, at version 1.
	Delete(ctx context.Context, key string, version int64) error
}
