// Package rawzone keeps every vendor page exactly as it was fetched, written
// once under a deterministic name, and the dead letters of pages that could
// not be fetched. Processing reads only from here, so nothing in flight can
// be lost: a page is either durably in the raw zone or will be fetched again.
package rawzone

import (
	"context"
	"errors"

	"github.com/marketplace/settle/io/internal/scheme"
)

var (
	// ErrNotFound is returned by Get when no object has that name.
	ErrNotFound = errors.New("raw object not found")
	// ErrContentMismatch is returned by PutOnce when an object of that name
	// already exists with different content. Its message names both.
	ErrContentMismatch = errors.New("raw object exists with different content")
	// ErrReadOnly is returned by writes to a raw zone opened read-only.
	ErrReadOnly = errors.New("raw zone opened read-only")
)

// The URI query parameter that opens a raw zone read-only
// (file:///dir?access_mode=read_only): it creates nothing, a missing
// directory reads as an empty zone, and writes fail with ErrReadOnly.
const (
	AccessModeParam = "access_mode"
	AccessReadOnly  = "read_only"
	AccessReadWrite = "read_write"
)

// Store is the contract every back end meets (see testing/rawzonetest).
// Implementations are safe for concurrent use.
type Store interface {
	// PutOnce writes data under name unless an object of that name exists.
	// If it exists with the same bytes, PutOnce succeeds (a retry); with
	// other bytes it returns an error wrapping ErrContentMismatch. When
	// PutOnce returns nil the object is durable.
	PutOnce(ctx context.Context, name string, data []byte) error
	// Get returns the object's bytes. Returns ErrNotFound if absent.
	Get(ctx context.Context, name string) ([]byte, error)
	// List returns the names that start with prefix, sorted.
	List(ctx context.Context, prefix string) ([]string, error)
	Close() error
}

var registry = scheme.New[Store]("raw zone")

// Register makes a back end available to Open under a URI scheme. It is
// called from init functions and panics on a duplicate scheme.
func Register(name string, o scheme.Opener[Store]) { registry.Register(name, o) }

// Open opens the raw zone at uri: file:///dir or gs://bucket/prefix.
func Open(ctx context.Context, uri string) (Store, error) { return registry.Open(ctx, uri) }
