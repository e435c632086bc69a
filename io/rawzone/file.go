package rawzone

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func init() { Register("file", openFile) }

// FileStore is the local back end (file:///abs/dir): one read-only file per
// object at dir/<name>. PutOnce writes the object to a file without a name
// (or, where the system has no O_TMPFILE, a temporary one under .tmp/),
// makes its contents durable, hard-links it into place (the link fails if
// the name exists, so of two concurrent writers exactly one wins) and
// fsyncs the directory. A name cannot be both an object and a directory here ("a" and
// "a/b"), which GCS would allow; the raw zone's own names never do that.
//
// A FileStore is safe for concurrent use, also by several processes on one
// directory of a local file system that supports hard links.
type FileStore struct {
	root     string
	readOnly bool
	// durable holds the directories (absolute paths) whose entry in their
	// parent is known to be fsynced, so PutOnce syncs each parent once.
	durable sync.Map
	// dirSyncs holds a *groupSync per directory: concurrent PutOnce calls
	// into one directory share its fsyncs (group commit).
	dirSyncs sync.Map
	// dataSync is the group commit of the new files' contents (see
	// syncFile).
	dataSync *groupSync
	// namedTemps makes PutOnce use named temporary files even where
	// O_TMPFILE works (tests of that path).
	namedTemps bool
	// tmpSeq and tmpReady pick and remember the temporary directories.
	tmpSeq   atomic.Uint64
	tmpReady sync.Map
}

// minSyncInterval spaces the group commits of a FileStore (see groupSync).
const minSyncInterval = 2 * time.Millisecond

// syncDirShared fsyncs dir, sharing the fsync with concurrent callers
// (see groupSync).
func (s *FileStore) syncDirShared(dir string) error {
	v, ok := s.dirSyncs.Load(dir)
	if !ok {
		v, _ = s.dirSyncs.LoadOrStore(dir, newGroupSync(minSyncInterval))
	}
	return v.(*groupSync).run(func() error { return syncDir(dir) })
}

var _ Store = (*FileStore)(nil)

func openFile(_ context.Context, u *url.URL) (Store, error) {
	if u.Opaque != "" || (u.Host != "" && u.Host != "localhost") || !path.IsAbs(u.Path) {
		return nil, fmt.Errorf("opening raw zone %q: want file:///absolute/dir", u.Redacted())
	}
	q := u.Query()
	mode := q.Get(AccessModeParam)
	q.Del(AccessModeParam)
	if len(q) > 0 || u.Fragment != "" {
		return nil, fmt.Errorf("opening raw zone %q: unexpected query or fragment", u.Redacted())
	}
	switch mode {
	case "", AccessReadWrite:
		return NewFileStore(filepath.FromSlash(u.Path))
	case AccessReadOnly:
		return NewFileStoreReadOnly(filepath.FromSlash(u.Path))
	default:
		return nil, fmt.Errorf("opening raw zone %q: %s=%q: want %s or %s", u.Redacted(), AccessModeParam, mode, AccessReadOnly, AccessReadWrite)
	}
}

// NewFileStore opens the raw zone rooted at dir, an absolute path, creating
// the directory if needed.
func NewFileStore(dir string) (*FileStore, error) {
	if !filepath.IsAbs(dir) {
		return nil, fmt.Errorf("opening raw zone %q: not an absolute path", dir)
	}
	root := filepath.Clean(dir)
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("creating raw zone directory: %w", err)
	}
	if err := syncDir(filepath.Dir(root)); err != nil {
		return nil, fmt.Errorf("creating raw zone directory: %w", err)
	}
	return &FileStore{root: root, dataSync: newGroupSync(minSyncInterval)}, nil
}

// NewFileStoreReadOnly opens the raw zone rooted at dir, an absolute path,
// for reading only: it creates nothing, a missing dir reads as an empty
// zone, and PutOnce and Remove return ErrReadOnly.
func NewFileStoreReadOnly(dir string) (*FileStore, error) {
	if !filepath.IsAbs(dir) {
		return nil, fmt.Errorf("opening raw zone %q: not an absolute path", dir)
	}
	return &FileStore{root: filepath.Clean(dir), readOnly: true}, nil
}

func (s *FileStore) path(name string) string {
	return filepath.Join(s.root, filepath.FromSlash(name))
}

// PutOnce writes data under name unless the object exists. A retry with the
// same bytes succeeds; other bytes give a *ContentMismatchError. When it
// returns nil the file and its directory entry are fsynced.
func (s *FileStore) PutOnce(ctx context.Context, name string, data []byte) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("putting raw object %q: %w", name, err)
	}
	if err := CheckName(name); err != nil {
		return fmt.Errorf("putting raw object: %w", err)
	}
	if s.readOnly {
		return fmt.Errorf("putting raw object %q: %w", name, ErrReadOnly)
	}
	dst := s.path(name)
	dir := filepath.Dir(dst)
	if err := s.ensureDir(dir); err != nil {
		return fmt.Errorf("putting raw object %q: creating directory: %w", name, err)
	}

	// The link is the existence check: it fails if the name exists, and
	// then the stored object is compared. A retry thus writes its bytes
	// once more before finding the object (retries are rare; a lookup
	// before every write cost 6 % of the webhook receiver's CPU). The file
	// is only ever linked complete and durable, so a reader never sees a
	// part of it; the directory may not be synced yet by its writer.
	if err := s.linkNew(dir, dst, data); err != nil {
		if !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("putting raw object %q: linking into place: %w", name, err)
		}
		stored, err := os.ReadFile(dst)
		if err != nil {
			return fmt.Errorf("putting raw object %q: reading existing: %w", name, err)
		}
		return s.existing(name, dir, stored, data)
	}
	if err := s.syncDirShared(dir); err != nil {
		return fmt.Errorf("putting raw object %q: %w", name, err)
	}
	return nil
}

// existing handles a PutOnce that found the object already there.
func (s *FileStore) existing(name, dir string, stored, data []byte) error {
	if err := CompareContent(name, stored, data); err != nil {
		return fmt.Errorf("putting raw object: %w", err)
	}
	// Whoever linked it may not have synced the directory yet.
	if err := s.syncDirShared(dir); err != nil {
		return fmt.Errorf("putting raw object %q: %w", name, err)
	}
	return nil
}

// linkTemp writes data to a temporary file, makes it durable and links it
// to dst (an error wrapping fs.ErrExist if dst exists).
func (s *FileStore) linkTemp(dst string, data []byte) error {
	tmpDir, err := s.tmpDir()
	if err != nil {
		return err
	}
	tmp, err := s.writeTemp(tmpDir, data)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	return os.Link(tmp, dst)
}

// tmpShards is the number of directories temporary files are spread over
// (root/.tmp/<n>): creating and removing them in the object's own
// directory would contend for its lock with every concurrent writer of
// that directory (all events of an hour share one).
const tmpShards = 16

// tmpDir returns one of the temporary directories, round robin, creating
// it on first use. Its entries need no fsync: only the link into the
// object's directory is made durable.
func (s *FileStore) tmpDir() (string, error) {
	d := filepath.Join(s.root, ".tmp", strconv.FormatUint(s.tmpSeq.Add(1)%tmpShards, 10))
	if _, ok := s.tmpReady.Load(d); ok {
		return d, nil
	}
	if err := os.MkdirAll(d, 0o755); err != nil {
		return "", fmt.Errorf("creating temporary directory: %w", err)
	}
	s.tmpReady.Store(d, struct{}{})
	return d, nil
}

// writeTemp writes data to a new hidden, read-only file in dir, makes its
// contents durable (syncFile), closes it and returns its path.
func (s *FileStore) writeTemp(dir string, data []byte) (string, error) {
	var f *os.File
	var name string
	for {
		name = filepath.Join(dir, ".tmp-"+strconv.FormatUint(rand.Uint64(), 36))
		var err error
		f, err = os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o444)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrExist) {
			return "", fmt.Errorf("creating temporary file: %w", err)
		}
	}
	_, werr := f.Write(data)
	if werr == nil {
		werr = s.syncFile(f)
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		os.Remove(name)
		return "", fmt.Errorf("writing temporary file: %w", werr)
	}
	return name, nil
}

// ensureDir creates dir and its parents below the root as needed, and makes
// sure each one's entry in its parent is fsynced before it is used.
func (s *FileStore) ensureDir(dir string) error {
	if dir == s.root {
		return nil
	}
	if _, ok := s.durable.Load(dir); ok {
		return nil
	}
	parent := filepath.Dir(dir)
	if err := s.ensureDir(parent); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	// Sync the parent even when the directory existed: a concurrent
	// creator may not have synced it yet.
	if err := syncDir(parent); err != nil {
		return err
	}
	s.durable.Store(dir, struct{}{})
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing directory: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("syncing directory: %w", err)
	}
	return nil
}

// Get returns the object's bytes. Returns ErrNotFound if absent.
func (s *FileStore) Get(ctx context.Context, name string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("getting raw object %q: %w", name, err)
	}
	if err := CheckName(name); err != nil {
		return nil, fmt.Errorf("getting raw object: %w", err)
	}
	data, err := os.ReadFile(s.path(name))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.EISDIR) {
			return nil, fmt.Errorf("getting raw object %q: %w", name, ErrNotFound)
		}
		return nil, fmt.Errorf("getting raw object %q: %w", name, err)
	}
	return data, nil
}

// List returns the names of the objects that start with prefix, sorted
// bytewise. prefix may end inside a segment ("pages/s/date=2024-0").
func (s *FileStore) List(ctx context.Context, prefix string) ([]string, error) {
	if err := CheckPrefix(prefix); err != nil {
		return nil, fmt.Errorf("listing raw objects: %w", err)
	}
	// Walk from the prefix's last complete directory.
	base := ""
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		base = prefix[:i]
	}
	start := s.path(base)
	var names []string
	err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == start && (errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)) {
				return fs.SkipAll
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if p == start {
			return nil
		}
		rel, err := filepath.Rel(s.root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil // a temporary file
		}
		if d.IsDir() {
			if strings.HasPrefix(rel+"/", prefix) || strings.HasPrefix(prefix, rel+"/") {
				return nil
			}
			return fs.SkipDir
		}
		if d.Type().IsRegular() && strings.HasPrefix(rel, prefix) {
			names = append(names, rel)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing raw objects under %q: %w", prefix, err)
	}
	// Directory order is not name order ("a-c" < "a/b").
	slices.Sort(names)
	return names, nil
}

// Close releases nothing; it exists to meet Store.
func (s *FileStore) Close() error { return nil }
