package rawzone

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// Remover is the optional capability of a back end to delete an object.
// Raw objects are write-once: nothing in the pipeline removes one. The one
// caller is MoveAside, run by `settle refetch` on an operator's explicit
// request, which keeps the content under DamagedRoot first.
type Remover interface {
	// Remove deletes the object. Returns ErrNotFound if it is absent.
	Remove(ctx context.Context, name string) error
}

// DamagedRoot is the prefix under which MoveAside keeps the content of the
// damaged objects it removes: outside pages/, so no listing of pages sees
// them again.
const DamagedRoot = "damaged/"

// MoveAside keeps the bytes of the object name under
// damaged/<tag>/<name> and then removes name, so that a page fetched again
// can be written under it. tag (one name segment, e.g. the refetch's run
// id) keeps several repairs of one name apart. It returns the name the
// content was kept under, or "" if name was already absent (a deleted
// object: nothing to keep, and no error). The store must implement
// Remover; the content is durable under keptAs before name is removed.
func MoveAside(ctx context.Context, s Store, name, tag string) (keptAs string, err error) {
	rm, ok := s.(Remover)
	if !ok {
		return "", fmt.Errorf("moving raw object %q aside: the raw zone (%T) cannot remove objects", name, s)
	}
	data, err := s.Get(ctx, name)
	if errors.Is(err, ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("moving raw object %q aside: %w", name, err)
	}
	keptAs = DamagedRoot + tag + "/" + name
	if err := s.PutOnce(ctx, keptAs, data); err != nil {
		return "", fmt.Errorf("moving raw object %q aside: keeping its content: %w", name, err)
	}
	if err := rm.Remove(ctx, name); err != nil && !errors.Is(err, ErrNotFound) {
		return "", fmt.Errorf("moving raw object %q aside: content kept as %s: %w", name, keptAs, err)
	}
	return keptAs, nil
}

var _ Remover = (*FileStore)(nil)

// Remove deletes the object's file and syncs its directory. Returns
// ErrNotFound if it is absent.
func (s *FileStore) Remove(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("removing raw object %q: %w", name, err)
	}
	if err := CheckName(name); err != nil {
		return fmt.Errorf("removing raw object: %w", err)
	}
	if s.readOnly {
		return fmt.Errorf("removing raw object %q: %w", name, ErrReadOnly)
	}
	p := s.path(name)
	if st, err := os.Lstat(p); err == nil && st.IsDir() {
		return fmt.Errorf("removing raw object %q: %w", name, ErrNotFound)
	}
	if err := os.Remove(p); err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return fmt.Errorf("removing raw object %q: %w", name, ErrNotFound)
		}
		return fmt.Errorf("removing raw object %q: %w", name, err)
	}
	if err := syncDir(filepath.Dir(p)); err != nil {
		return fmt.Errorf("removing raw object %q: %w", name, err)
	}
	return nil
}
