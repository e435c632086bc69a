package cursorstore

import (
	"context"
	"fmt"
	"os"
)

var _ Deleter = (*FileStore)(nil)

// Delete removes the document at key if its stored version equals version,
// under the store's lock, and syncs the directory before it returns: when
// it returns nil the removal is durable. Returns an error wrapping
// ErrConflict (nothing removed) when the version differs, ErrNotFound when
// the key is absent, and ErrInvalidKey for a key that cannot be stored.
func (s *FileStore) Delete(ctx context.Context, key string, version int64) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("deleting cursor document %q: %w", key, err)
	}
	p, err := s.path(key)
	if err != nil {
		return fmt.Errorf("deleting cursor document: %w", err)
	}
	if s.readOnly {
		return fmt.Errorf("deleting cursor document %q: %w", key, ErrReadOnly)
	}
	unlock, err := s.lock()
	if err != nil {
		return fmt.Errorf("deleting cursor document %q: %w", key, err)
	}
	defer unlock()
	cur, err := readDoc(p)
	if err != nil {
		return fmt.Errorf("deleting cursor document %q: %w", key, err)
	}
	if cur.Version != version {
		return fmt.Errorf("deleting cursor document %q at version %d: stored version is %d: %w", key, version, cur.Version, ErrConflict)
	}
	if err := os.Remove(p); err != nil {
		return fmt.Errorf("deleting cursor document %q: %w", key, err)
	}
	if err := syncDir(s.dir); err != nil {
		return fmt.Errorf("deleting cursor document %q: %w", key, err)
	}
	return nil
}
