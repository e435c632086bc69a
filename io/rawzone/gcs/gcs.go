// Package gcs is the rawzone back end on Google Cloud Storage
// (gs://bucket/optional/prefix). Importing it registers the "gs" scheme.
//
// Write-once is a server-side precondition (ifGenerationMatch=0): of two
// writers of one name exactly one creates the object; the other gets HTTP 412,
// reads what is stored and compares. The client honours
// STORAGE_EMULATOR_HOST, so tests and local runs can point it at an emulator.
package gcs

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"

	"github.com/marketplace/settle/io/rawzone"
)

func init() { rawzone.Register("gs", open) }

// Store is a raw zone in a GCS bucket, under an optional prefix. Object
// names given to it are relative to the prefix. It is safe for concurrent
// use and holds one storage client for its lifetime.
type Store struct {
	client     *storage.Client
	bucket     *storage.BucketHandle
	prefix     string // "" or ends in "/"
	ownsClient bool
}

var _ rawzone.Store = (*Store)(nil)

func open(ctx context.Context, u *url.URL) (rawzone.Store, error) {
	if u.Host == "" || u.Opaque != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("opening raw zone %q: want gs://bucket[/prefix]", u.Redacted())
	}
	return New(ctx, u.Host, u.Path)
}

// New opens the raw zone in bucket under prefix ("" for the bucket's root;
// slashes around it are ignored) with a storage client of its own, created
// from opts and the environment (Application Default Credentials, or
// STORAGE_EMULATOR_HOST). Close closes the client. It makes no request.
func New(ctx context.Context, bucket, prefix string, opts ...option.ClientOption) (*Store, error) {
	p, err := cleanPrefix(bucket, prefix)
	if err != nil {
		return nil, err
	}
	// JSON API reads: the XML API that the client reads through by default
	// is not served by emulators reached with option.WithEndpoint.
	client, err := storage.NewClient(ctx, append([]option.ClientOption{storage.WithJSONReads()}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("opening raw zone gs://%s/%s: creating storage client: %w", bucket, p, err)
	}
	return &Store{client: client, bucket: client.Bucket(bucket), prefix: p, ownsClient: true}, nil
}

// NewWithClient is New with a client the caller owns; Close leaves it open.
// Against an emulator the client needs storage.WithJSONReads().
func NewWithClient(client *storage.Client, bucket, prefix string) (*Store, error) {
	p, err := cleanPrefix(bucket, prefix)
	if err != nil {
		return nil, err
	}
	return &Store{client: client, bucket: client.Bucket(bucket), prefix: p}, nil
}

func cleanPrefix(bucket, prefix string) (string, error) {
	if bucket == "" {
		return "", errors.New("opening raw zone: empty bucket name")
	}
	p := strings.Trim(prefix, "/")
	if p == "" {
		return "", nil
	}
	if err := rawzone.CheckName(p); err != nil {
		return "", fmt.Errorf("opening raw zone gs://%s: prefix: %w", bucket, err)
	}
	return p + "/", nil
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// PutOnce creates the object unless it exists (precondition
// ifGenerationMatch=0). On HTTP 412 it reads the stored object: the same
// bytes are a retry and succeed, other bytes give a
// *rawzone.ContentMismatchError. The upload carries a CRC32C that the
// server checks. When PutOnce returns nil the object is durable.
func (s *Store) PutOnce(ctx context.Context, name string, data []byte) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("putting raw object %q: %w", name, err)
	}
	if err := rawzone.CheckName(name); err != nil {
		return fmt.Errorf("putting raw object: %w", err)
	}
	w := s.bucket.Object(s.prefix + name).If(storage.Conditions{DoesNotExist: true}).NewWriter(ctx)
	w.ContentType = contentType(name)
	w.CRC32C = crc32.Checksum(data, castagnoli)
	w.SendCRC32C = true
	_, werr := w.Write(data)
	cerr := w.Close()
	err := errors.Join(werr, cerr)
	if err == nil {
		return nil
	}
	if !preconditionFailed(err) {
		return fmt.Errorf("putting raw object %q: %w", name, err)
	}
	stored, err := s.Get(ctx, name)
	if err != nil {
		return fmt.Errorf("putting raw object %q: reading the existing object: %w", name, err)
	}
	if err := rawzone.CompareContent(name, stored, data); err != nil {
		return fmt.Errorf("putting raw object: %w", err)
	}
	return nil
}

func contentType(name string) string {
	switch {
	case strings.HasSuffix(name, ".gz"):
		return "application/gzip"
	case strings.HasSuffix(name, ".json"):
		return "application/json"
	}
	return "application/octet-stream"
}

func preconditionFailed(err error) bool {
	ge, ok := errors.AsType[*googleapi.Error](err)
	return ok && ge.Code == http.StatusPreconditionFailed
}

// Get returns the object's bytes. PutOnce never sets Content-Encoding, so
// GCS serves the stored bytes untranscoded. Returns rawzone.ErrNotFound if
// the object is absent, and also if the bucket is (GCS answers both with
// 404; PutOnce and List do report a missing bucket).
func (s *Store) Get(ctx context.Context, name string) ([]byte, error) {
	if err := rawzone.CheckName(name); err != nil {
		return nil, fmt.Errorf("getting raw object: %w", err)
	}
	r, err := s.bucket.Object(s.prefix + name).NewReader(ctx)
	if err != nil {
		if errors.Is(err, storage.ErrObjectNotExist) {
			return nil, fmt.Errorf("getting raw object %q: %w", name, rawzone.ErrNotFound)
		}
		return nil, fmt.Errorf("getting raw object %q: %w", name, err)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("getting raw object %q: %w", name, err)
	}
	return data, nil
}

// List returns the names (relative to the store's prefix) of the objects
// that start with prefix, sorted bytewise. Objects whose names
// rawzone.CheckName rejects (folder placeholders ending in "/", names
// written by other tools) are left out, so every listed name can be read.
func (s *Store) List(ctx context.Context, prefix string) ([]string, error) {
	if err := rawzone.CheckPrefix(prefix); err != nil {
		return nil, fmt.Errorf("listing raw objects: %w", err)
	}
	q := &storage.Query{Prefix: s.prefix + prefix, Projection: storage.ProjectionNoACL}
	if err := q.SetAttrSelection([]string{"Name"}); err != nil {
		return nil, fmt.Errorf("listing raw objects under %q: %w", prefix, err)
	}
	var names []string
	it := s.bucket.Objects(ctx, q)
	for {
		attrs, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("listing raw objects under %q: %w", prefix, err)
		}
		name, ok := strings.CutPrefix(attrs.Name, s.prefix)
		if !ok || rawzone.CheckName(name) != nil {
			continue
		}
		names = append(names, name)
	}
	slices.Sort(names)
	return names, nil
}

// Close closes the storage client if New created it.
func (s *Store) Close() error {
	if !s.ownsClient {
		return nil
	}
	if err := s.client.Close(); err != nil {
		return fmt.Errorf("closing raw zone: %w", err)
	}
	return nil
}

var _ rawzone.Remover = (*Store)(nil)

// Remove deletes the object. Returns rawzone.ErrNotFound if it is absent.
// The pipeline's workers are not allowed to delete raw objects; only the
// operator's `settle refetch` calls this.
func (s *Store) Remove(ctx context.Context, name string) error {
	if err := rawzone.CheckName(name); err != nil {
		return fmt.Errorf("removing raw object: %w", err)
	}
	if err := s.bucket.Object(s.prefix + name).Delete(ctx); err != nil {
		if errors.Is(err, storage.ErrObjectNotExist) {
			return fmt.Errorf("removing raw object %q: %w", name, rawzone.ErrNotFound)
		}
		return fmt.Errorf("removing raw object %q: %w", name, err)
	}
	return nil
}
