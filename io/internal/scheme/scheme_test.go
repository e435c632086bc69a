package scheme_test

import (
	"context"
	"errors"
	"net/url"
	"testing"

	"github.com/marketplace/settle/io/internal/scheme"
)

type closer interface{ Close() error }

type backend struct{ closed bool }

func (b *backend) Close() error {
	b.closed = true // panics on a nil *backend
	return nil
}

// TestAFailedOpenReturnsANilInterface: an opener that returns a typed nil
// pointer with its error (the natural `return OpenURL(ctx, u)`) must not
// hand the caller a non-nil interface whose Close panics.
func TestAFailedOpenReturnsANilInterface(t *testing.T) {
	r := scheme.New[closer]("test seam")
	errRefused := errors.New("lock refused")
	r.Register("x", func(context.Context, *url.URL) (closer, error) {
		var b *backend
		return b, errRefused
	})
	c, err := r.Open(t.Context(), "x:///somewhere")
	if !errors.Is(err, errRefused) {
		t.Fatalf("Open error = %v, want %v", err, errRefused)
	}
	if c != nil {
		t.Fatalf("Open returned %#v with its error, want a nil interface (closing it would panic)", c)
	}
}

func TestOpenPassesASuccessfulBackEndThrough(t *testing.T) {
	r := scheme.New[closer]("test seam")
	want := &backend{}
	r.Register("x", func(context.Context, *url.URL) (closer, error) { return want, nil })
	c, err := r.Open(t.Context(), "x:///somewhere")
	if err != nil || c != want {
		t.Fatalf("Open = %v, %v; want the opener's back end", c, err)
	}
}
