// Package cursorstore holds ingestion state that must survive a crash: the
// cursor of every window's page chain, the run lease and the watermark.
//
// A Store is a small versioned document store with compare-and-set. Every
// write names the version it read; a write that lost a race fails with
// ErrConflict and changes nothing. Back ends are selected by URI (file:// for
// the embedded default, firestore:// in the cloud) and all pass the same
// contract suite in testing/cursorstoretest.
package cursorstore

import (
	"context"
	"errors"

	"github.com/marketplace/settle/io/internal/scheme"
)

var (
	// ErrNotFound is returned by Get when the key has no document.
	ErrNotFound = errors.New("cursor document not found")
	// ErrConflict is returned by Put when the stored version is not the
	// one the caller read: somebody else wrote first.
	ErrConflict = errors.New("cursor compare-and-set lost")
)

// Doc is a stored document. Version is 0 for a document that does not exist
// yet and grows by one on every successful Put.
type Doc struct {
	Version int64
	Body    []byte
}

// Store is the contract every back end meets. Implementations are safe for
// concurrent use, also across processes on the same back end.
type Store interface {
	// Get returns the document at key. Returns ErrNotFound if absent.
	Get(ctx context.Context, key string) (Doc, error)
	// Put writes body at key if the stored version equals version (0: the
	// key must be absent) and returns the new version. Returns ErrConflict
	// otherwise, having written nothing.
	Put(ctx context.Context, key string, version int64, body []byte) (int64, error)
	// List returns the keys that start with prefix, sorted.
	List(ctx context.Context, prefix string) ([]string, error)
	Close() error
}

var registry = scheme.New[Store]("cursor store")

// Register makes a back end available to Open under a URI scheme. It is
// called from init functions and panics on a duplicate scheme.
func Register(name string, o scheme.Opener[Store]) { registry.Register(name, o) }

// Open opens the store at uri: file:///dir or firestore://project/collection.
func Open(ctx context.Context, uri string) (Store, error) { return registry.Open(ctx, uri) }
