package firestore

import (
	"context"
	"errors"
	"fmt"

	gcfs "cloud.google.com/go/firestore"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/marketplace/settle/io/cursorstore"
)

var _ cursorstore.Deleter = (*Store)(nil)

// Delete removes the document at key if its stored version equals version,
// in one Firestore transaction. Returns an error wrapping ErrConflict
// (nothing removed) when the version differs or the transaction kept
// aborting under contention, and one wrapping ErrNotFound when the key is
// absent. Any other error leaves the outcome unknown: read the key again.
func (s *Store) Delete(ctx context.Context, key string, version int64) error {
	ref, err := s.ref(key)
	if err != nil {
		return fmt.Errorf("deleting cursor document: %w", err)
	}
	var stored int64
	err = s.client.RunTransaction(ctx, func(ctx context.Context, tx *gcfs.Transaction) error {
		snap, err := tx.Get(ref)
		if status.Code(err) == codes.NotFound {
			return cursorstore.ErrNotFound
		}
		if err != nil {
			return err
		}
		d, err := decode(snap)
		if err != nil {
			return err
		}
		if stored = d.Version; stored != version {
			return cursorstore.ErrConflict
		}
		return tx.Delete(ref)
	})
	switch {
	case errors.Is(err, cursorstore.ErrNotFound):
		return fmt.Errorf("deleting cursor document %q: %w", key, cursorstore.ErrNotFound)
	case errors.Is(err, cursorstore.ErrConflict):
		return fmt.Errorf("deleting cursor document %q at version %d: stored version is %d: %w", key, version, stored, cursorstore.ErrConflict)
	case status.Code(err) == codes.Aborted:
		return fmt.Errorf("deleting cursor document %q at version %d: transaction aborted under contention (%v): %w", key, version, err, cursorstore.ErrConflict)
	case err != nil:
		return fmt.Errorf("deleting cursor document %q: %w", key, err)
	}
	return nil
}
