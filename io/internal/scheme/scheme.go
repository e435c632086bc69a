// Package scheme is the URI-scheme registry behind the back-end seams
// (cursorstore, rawzone, warehouse): a back end registers an opener for its
// scheme in init, and Open picks it from the URI.
package scheme

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"sync"
)

// Opener opens a back end of type T from its parsed URI.
type Opener[T any] func(ctx context.Context, u *url.URL) (T, error)

// Registry maps URI schemes to openers. The zero value is not usable; call
// New. It is safe for concurrent use.
type Registry[T any] struct {
	what    string
	mu      sync.Mutex
	openers map[string]Opener[T]
}

// New returns an empty registry; what names the seam in error messages
// ("cursor store").
func New[T any](what string) *Registry[T] {
	return &Registry[T]{what: what, openers: map[string]Opener[T]{}}
}

// Register adds an opener for scheme. It panics on a duplicate scheme: that
// is a programming error found at start-up.
func (r *Registry[T]) Register(scheme string, o Opener[T]) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.openers[scheme]; dup {
		panic(fmt.Sprintf("%s: scheme registered twice: %s", r.what, scheme))
	}
	r.openers[scheme] = o
}

// Open parses uri and calls the opener of its scheme. On error it returns
// the zero T (a nil interface), never what the opener returned with it.
func (r *Registry[T]) Open(ctx context.Context, uri string) (T, error) {
	var zero T
	u, err := url.Parse(uri)
	if err != nil {
		return zero, fmt.Errorf("parsing %s uri: %w", r.what, err)
	}
	r.mu.Lock()
	o, ok := r.openers[u.Scheme]
	known := make([]string, 0, len(r.openers))
	for k := range r.openers {
		known = append(known, k)
	}
	r.mu.Unlock()
	if !ok {
		sort.Strings(known)
		return zero, fmt.Errorf("opening %s %q: no back end for scheme %q (registered: %v; is its package imported?)", r.what, uri, u.Scheme, known)
	}
	v, err := o(ctx, u)
	if err != nil {
		// An opener returning a typed nil pointer with its error would
		// give the caller a non-nil interface: closing it would panic.
		return zero, err
	}
	return v, nil
}
