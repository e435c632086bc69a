// Package firestore is the firestore:// back end of cursorstore: one
// Firestore document per key, written by a transaction that reads the
// stored version, compares it, and writes the next one.
//
// URI: firestore://<project>/<collection>[?database=<id>]. The collection
// may be a nested path (coll/doc/subcoll). Importing this package registers
// the scheme. The Go client connects to the emulator named by
// FIRESTORE_EMULATOR_HOST when that is set, and to Google otherwise, with
// Application Default Credentials.
//
// A document's id is the key escaped to a valid id ('/' becomes %2F; see
// internal/keyname); its fields are {key string, version int64, body bytes,
// updated_at server timestamp}. List queries the key field (ordered by it,
// so it needs only Firestore's automatic single-field index). A body may be
// at most about 1 MiB, Firestore's document limit.
package firestore

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	gcfs "cloud.google.com/go/firestore"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/marketplace/settle/io/cursorstore"
	"github.com/marketplace/settle/io/cursorstore/internal/keyname"
)

func init() {
	cursorstore.Register("firestore", func(ctx context.Context, u *url.URL) (cursorstore.Store, error) {
		project, collection, database, err := parseURI(u)
		if err != nil {
			return nil, err
		}
		return New(ctx, project, collection, database)
	})
}

// maxIDBytes is Firestore's limit on a document id.
const maxIDBytes = 1500

// Store is a cursorstore.Store on a Firestore collection. It is safe for
// concurrent use, also by many processes on the same collection.
type Store struct {
	client *gcfs.Client
	coll   *gcfs.CollectionRef
}

var _ cursorstore.Store = (*Store)(nil)

// doc is the stored form of a cursorstore.Doc.
type doc struct {
	Key       string    `firestore:"key"`
	Version   int64     `firestore:"version"`
	Body      []byte    `firestore:"body"`
	UpdatedAt time.Time `firestore:"updated_at,serverTimestamp"`
}

// New connects to project's database ("" means "(default)") and returns a
// store on collection, a collection path with an odd number of segments.
// opts are passed to the client (e.g. option.WithCredentialsFile). Close
// closes the client.
func New(ctx context.Context, project, collection, database string, opts ...option.ClientOption) (*Store, error) {
	if err := checkCollection(collection); err != nil {
		return nil, fmt.Errorf("opening firestore cursor store: %w", err)
	}
	if database == "" {
		database = gcfs.DefaultDatabaseID
	}
	client, err := gcfs.NewClientWithDatabase(ctx, project, database, opts...)
	if err != nil {
		return nil, fmt.Errorf("opening firestore cursor store in project %q: %w", project, err)
	}
	return &Store{client: client, coll: client.Collection(collection)}, nil
}

func parseURI(u *url.URL) (project, collection, database string, err error) {
	project = u.Host
	collection = strings.Trim(u.Path, "/")
	if project == "" || collection == "" {
		return "", "", "", fmt.Errorf("opening cursor store %q: want firestore://<project>/<collection>", u.Redacted())
	}
	if err := checkCollection(collection); err != nil {
		return "", "", "", fmt.Errorf("opening cursor store %q: %w", u.Redacted(), err)
	}
	return project, collection, u.Query().Get("database"), nil
}

func checkCollection(path string) error {
	segs := strings.Split(path, "/")
	if len(segs)%2 == 0 {
		return fmt.Errorf("collection path %q names a document, not a collection (it needs an odd number of segments)", path)
	}
	for _, s := range segs {
		if s == "" || s == "." || s == ".." {
			return fmt.Errorf("collection path %q has an empty or dot segment", path)
		}
	}
	return nil
}

func (s *Store) ref(key string) (*gcfs.DocumentRef, error) {
	if err := keyname.Validate(key); err != nil {
		return nil, err
	}
	id := keyname.Encode(key)
	if len(id) > maxIDBytes {
		return nil, fmt.Errorf("checking key %q: escaped id is %d bytes, Firestore allows %d: %w", key, len(id), maxIDBytes, cursorstore.ErrInvalidKey)
	}
	return s.coll.Doc(id), nil
}

// Get returns the document at key. Returns ErrNotFound if absent and an
// error wrapping ErrInvalidKey for a key that cannot be stored.
func (s *Store) Get(ctx context.Context, key string) (cursorstore.Doc, error) {
	ref, err := s.ref(key)
	if err != nil {
		return cursorstore.Doc{}, fmt.Errorf("getting cursor document: %w", err)
	}
	snap, err := ref.Get(ctx)
	if status.Code(err) == codes.NotFound {
		return cursorstore.Doc{}, fmt.Errorf("getting cursor document %q: %w", key, cursorstore.ErrNotFound)
	}
	if err != nil {
		return cursorstore.Doc{}, fmt.Errorf("getting cursor document %q: %w", key, err)
	}
	d, err := decode(snap)
	if err != nil {
		return cursorstore.Doc{}, fmt.Errorf("getting cursor document %q: %w", key, err)
	}
	return cursorstore.Doc{Version: d.Version, Body: d.Body}, nil
}

// Put writes body at key if the stored version equals version (0: absent)
// and returns the new version, in one Firestore transaction. Returns an
// error wrapping ErrConflict, having written nothing, if the stored version
// differs or the transaction kept aborting under contention. Any other
// error leaves the outcome unknown: read the document again.
func (s *Store) Put(ctx context.Context, key string, version int64, body []byte) (int64, error) {
	ref, err := s.ref(key)
	if err != nil {
		return 0, fmt.Errorf("putting cursor document: %w", err)
	}
	if version < 0 {
		return 0, fmt.Errorf("putting cursor document %q: negative version %d", key, version)
	}
	if body == nil {
		body = []byte{}
	}
	var stored int64
	err = s.client.RunTransaction(ctx, func(ctx context.Context, tx *gcfs.Transaction) error {
		stored = 0
		snap, err := tx.Get(ref)
		switch {
		case status.Code(err) == codes.NotFound:
		case err != nil:
			return err
		default:
			d, err := decode(snap)
			if err != nil {
				return err
			}
			stored = d.Version
		}
		if stored != version {
			return cursorstore.ErrConflict
		}
		return tx.Set(ref, doc{Key: key, Version: version + 1, Body: body})
	})
	switch {
	case errors.Is(err, cursorstore.ErrConflict):
		return 0, fmt.Errorf("putting cursor document %q at version %d: stored version is %d: %w", key, version, stored, cursorstore.ErrConflict)
	case status.Code(err) == codes.Aborted:
		return 0, fmt.Errorf("putting cursor document %q at version %d: transaction aborted under contention (%v): %w", key, version, err, cursorstore.ErrConflict)
	case err != nil:
		return 0, fmt.Errorf("putting cursor document %q: %w", key, err)
	}
	return version + 1, nil
}

// List returns the keys that start with prefix, sorted byte-wise (which is
// Firestore's string order).
func (s *Store) List(ctx context.Context, prefix string) ([]string, error) {
	q := s.coll.Select("key").OrderBy("key", gcfs.Asc)
	if prefix != "" {
		q = q.Where("key", ">=", prefix)
	}
	it := q.Documents(ctx)
	defer it.Stop()
	keys := []string{}
	for {
		snap, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("listing cursor documents %q: %w", prefix, err)
		}
		k, err := snap.DataAt("key")
		if err != nil {
			return nil, fmt.Errorf("listing cursor documents %q: document %s: %w", prefix, snap.Ref.ID, err)
		}
		key, ok := k.(string)
		if !ok {
			return nil, fmt.Errorf("listing cursor documents %q: document %s: key is %T, not a string", prefix, snap.Ref.ID, k)
		}
		if !strings.HasPrefix(key, prefix) {
			break // ordered by key: nothing later has the prefix either
		}
		keys = append(keys, key)
	}
	return keys, nil
}

// Close closes the Firestore client.
func (s *Store) Close() error {
	if err := s.client.Close(); err != nil {
		return fmt.Errorf("closing firestore cursor store: %w", err)
	}
	return nil
}

func decode(snap *gcfs.DocumentSnapshot) (doc, error) {
	var d doc
	if err := snap.DataTo(&d); err != nil {
		return doc{}, fmt.Errorf("decoding document %s: %w", snap.Ref.ID, err)
	}
	if d.Version < 1 {
		return doc{}, fmt.Errorf("decoding document %s: version %d is not positive", snap.Ref.ID, d.Version)
	}
	return d, nil
}
