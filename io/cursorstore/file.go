package cursorstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/marketplace/settle/io/cursorstore/internal/keyname"
)

func init() {
	Register("file", func(_ context.Context, u *url.URL) (Store, error) {
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("opening cursor store %q: file URIs name a local directory, not host %q", u.Redacted(), u.Host)
		}
		if u.Path == "" || !filepath.IsAbs(u.Path) {
			return nil, fmt.Errorf("opening cursor store %q: want file:///absolute/dir", u.Redacted())
		}
		switch mode := u.Query().Get(AccessModeParam); mode {
		case "", AccessReadWrite:
			return OpenFile(u.Path)
		case AccessReadOnly:
			return OpenFileReadOnly(u.Path)
		default:
			return nil, fmt.Errorf("opening cursor store %q: %s=%q: want %s or %s", u.Redacted(), AccessModeParam, mode, AccessReadOnly, AccessReadWrite)
		}
	})
}

// The URI query parameter that opens a store read-only
// (file:///dir?access_mode=read_only): it creates nothing, a missing
// directory reads as an empty store, and writes fail with ErrReadOnly.
const (
	AccessModeParam = "access_mode"
	AccessReadOnly  = "read_only"
	AccessReadWrite = "read_write"
)

// ErrReadOnly is returned by writes to a store opened read-only.
var ErrReadOnly = errors.New("cursor store opened read-only")

// ErrInvalidKey is returned by every back end for a key it cannot store: an
// empty key, one that is not valid UTF-8, or (file back end) one whose
// escaped form is longer than a file name may be.
var ErrInvalidKey = keyname.ErrInvalid

const (
	fileMagic    = "cursorstore/1"
	lockName     = ".lock"
	tempPrefix   = ".tmp-"
	maxNameBytes = 255
)

// FileStore is the file:// back end: one file per key in a single directory.
//
// A key's file name is its escaped form (see ErrInvalidKey for the length
// limit: each '/' or '%' in a key costs three bytes of the 255 a name may
// have). A file holds a one-line header "cursorstore/1 <version> <length>
// <sha256 of body>" and then the body, so a torn or edited file is detected
// on read rather than trusted.
//
// Put is a compare-and-set that holds across goroutines and processes on the
// same machine: it takes an exclusive flock(2) on dir/.lock, reads the stored
// version, and on a match writes a temporary file, fsyncs it, renames it over
// the key's file and fsyncs the directory before it unlocks. When Put returns
// nil the document is durable. Get and List take no lock: rename is atomic,
// so they see the old or the new document, never a mix. flock does not hold
// across machines on most network file systems: use one machine per dir.
//
// FileStore is safe for concurrent use.
type FileStore struct {
	dir      string
	readOnly bool
}

var _ Store = (*FileStore)(nil)

// OpenFile opens (creating it if needed) the file store in dir, which must
// be an absolute path. It removes temporary files a crashed writer left.
func OpenFile(dir string) (*FileStore, error) {
	if !filepath.IsAbs(dir) {
		return nil, fmt.Errorf("opening file cursor store: dir %q is not absolute", dir)
	}
	dir = filepath.Clean(dir)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("opening file cursor store: %w", err)
	}
	if err := syncDir(filepath.Dir(dir)); err != nil {
		return nil, fmt.Errorf("opening file cursor store: %w", err)
	}
	s := &FileStore{dir: dir}
	if err := s.removeTemps(); err != nil {
		return nil, fmt.Errorf("opening file cursor store in %s: %w", dir, err)
	}
	return s, nil
}

// OpenFileReadOnly opens the file store in dir, an absolute path, for
// reading only: it creates and removes nothing (not even its lock file), a
// missing dir reads as an empty store, and Put and Delete return
// ErrReadOnly.
func OpenFileReadOnly(dir string) (*FileStore, error) {
	if !filepath.IsAbs(dir) {
		return nil, fmt.Errorf("opening file cursor store: dir %q is not absolute", dir)
	}
	return &FileStore{dir: filepath.Clean(dir), readOnly: true}, nil
}

// removeTemps deletes leftover temporary files under the lock; no writer
// can have one in flight while the lock is held.
func (s *FileStore) removeTemps() error {
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	defer unlock()
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("listing directory: %w", err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tempPrefix) {
			if err := os.Remove(filepath.Join(s.dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("removing stale temporary file: %w", err)
			}
		}
	}
	return nil
}

func (s *FileStore) path(key string) (string, error) {
	if err := keyname.Validate(key); err != nil {
		return "", err
	}
	name := keyname.Encode(key)
	if len(name) > maxNameBytes {
		return "", fmt.Errorf("checking key %q: escaped name is %d bytes, the file back end allows %d: %w", key, len(name), maxNameBytes, ErrInvalidKey)
	}
	return filepath.Join(s.dir, name), nil
}

// Get returns the document at key. Returns ErrNotFound if absent and an
// error wrapping ErrInvalidKey for a key that cannot be stored.
func (s *FileStore) Get(ctx context.Context, key string) (Doc, error) {
	if err := ctx.Err(); err != nil {
		return Doc{}, fmt.Errorf("getting cursor document %q: %w", key, err)
	}
	p, err := s.path(key)
	if err != nil {
		return Doc{}, fmt.Errorf("getting cursor document: %w", err)
	}
	d, err := readDoc(p)
	if err != nil {
		return Doc{}, fmt.Errorf("getting cursor document %q: %w", key, err)
	}
	return d, nil
}

// Put writes body at key if the stored version equals version (0: absent)
// and returns the new version. Returns an error wrapping ErrConflict, having
// written nothing, when the stored version differs. Blocks while another
// goroutine or process holds the store's lock (a short critical section
// with no network I/O); ctx is checked before the lock is taken.
func (s *FileStore) Put(ctx context.Context, key string, version int64, body []byte) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("putting cursor document %q: %w", key, err)
	}
	p, err := s.path(key)
	if err != nil {
		return 0, fmt.Errorf("putting cursor document: %w", err)
	}
	if version < 0 {
		return 0, fmt.Errorf("putting cursor document %q: negative version %d", key, version)
	}
	if s.readOnly {
		return 0, fmt.Errorf("putting cursor document %q: %w", key, ErrReadOnly)
	}
	unlock, err := s.lock()
	if err != nil {
		return 0, fmt.Errorf("putting cursor document %q: %w", key, err)
	}
	defer unlock()

	var stored int64
	switch cur, err := readDoc(p); {
	case err == nil:
		stored = cur.Version
	case errors.Is(err, ErrNotFound):
		stored = 0
	default:
		return 0, fmt.Errorf("putting cursor document %q: %w", key, err)
	}
	if stored != version {
		return 0, fmt.Errorf("putting cursor document %q at version %d: stored version is %d: %w", key, version, stored, ErrConflict)
	}
	next := version + 1
	if err := s.writeAtomic(p, encodeDoc(next, body)); err != nil {
		return 0, fmt.Errorf("putting cursor document %q: %w", key, err)
	}
	return next, nil
}

// List returns the keys that start with prefix, sorted byte-wise.
func (s *FileStore) List(ctx context.Context, prefix string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("listing cursor documents %q: %w", prefix, err)
	}
	keys := []string{}
	entries, err := os.ReadDir(s.dir)
	if s.readOnly && errors.Is(err, fs.ErrNotExist) {
		return keys, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing cursor documents %q: %w", prefix, err)
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || !e.Type().IsRegular() {
			continue // lock and temporary files
		}
		key, err := keyname.Decode(name)
		if err != nil {
			continue // not written by this store
		}
		if strings.HasPrefix(key, prefix) {
			keys = append(keys, key)
		}
	}
	sort.Strings(keys)
	return keys, nil
}

// Close releases nothing: a FileStore holds no open files between calls.
func (s *FileStore) Close() error { return nil }

// lock takes the store-wide exclusive lock. Each call opens the lock file
// anew, so goroutines of one process exclude each other too (flock locks
// belong to the open file description).
func (s *FileStore) lock() (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(s.dir, lockName), os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("opening lock file: %w", err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", f.Name(), err)
	}
	return func() {
		// Closing the descriptor releases the lock.
		f.Close()
	}, nil
}

func (s *FileStore) writeAtomic(p string, data []byte) (err error) {
	tmp, err := os.CreateTemp(s.dir, tempPrefix+"*")
	if err != nil {
		return fmt.Errorf("creating temporary file: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("writing temporary file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("syncing temporary file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("closing temporary file: %w", err)
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return fmt.Errorf("renaming temporary file into place: %w", err)
	}
	if err := syncDir(s.dir); err != nil {
		return err
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("opening directory to sync: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	return nil
}

func encodeDoc(version int64, body []byte) []byte {
	sum := sha256.Sum256(body)
	header := fmt.Sprintf("%s %d %d %s\n", fileMagic, version, len(body), hex.EncodeToString(sum[:]))
	out := make([]byte, 0, len(header)+len(body))
	out = append(out, header...)
	return append(out, body...)
}

// readDoc reads and checks one document file. Returns ErrNotFound if the
// file does not exist.
func readDoc(p string) (Doc, error) {
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return Doc{}, ErrNotFound
	}
	if err != nil {
		return Doc{}, fmt.Errorf("reading document file: %w", err)
	}
	return decodeDoc(data)
}

func decodeDoc(data []byte) (Doc, error) {
	header, body, ok := bytes.Cut(data, []byte{'\n'})
	if !ok {
		return Doc{}, errors.New("decoding document file: no header line")
	}
	f := strings.Fields(string(header))
	if len(f) != 4 || f[0] != fileMagic {
		return Doc{}, fmt.Errorf("decoding document file: header %q is not %q <version> <length> <sha256>", header, fileMagic)
	}
	version, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil || version < 1 {
		return Doc{}, fmt.Errorf("decoding document file: bad version %q", f[1])
	}
	n, err := strconv.Atoi(f[2])
	if err != nil || n != len(body) {
		return Doc{}, fmt.Errorf("decoding document file: header says %s body bytes, file has %d (torn or edited file)", f[2], len(body))
	}
	sum := sha256.Sum256(body)
	if hex.EncodeToString(sum[:]) != f[3] {
		return Doc{}, errors.New("decoding document file: body checksum mismatch (torn or edited file)")
	}
	return Doc{Version: version, Body: body}, nil
}
