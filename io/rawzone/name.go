package rawzone

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// ErrInvalidName is returned by every back end for an object name (or list
// prefix) that CheckName rejects.
var ErrInvalidName = errors.New("invalid raw object name")

// CheckName reports whether name is a valid object name: a non-empty,
// slash-separated relative path of valid UTF-8 with no empty segment, no
// segment that begins with a dot (this rules out "." and "..", and keeps
// back ends' temporary files out of the name space), no backslash and no
// control character. Every back end applies the same rule so that a name
// valid on one is valid on all. Returns an error wrapping ErrInvalidName.
func CheckName(name string) error {
	if name == "" {
		return fmt.Errorf("checking name %q: empty: %w", name, ErrInvalidName)
	}
	if strings.HasSuffix(name, "/") {
		return fmt.Errorf("checking name %q: ends with a slash: %w", name, ErrInvalidName)
	}
	return checkPath(name)
}

// CheckPrefix reports whether prefix is valid for List: "" (everything), or
// a name prefix whose segments obey CheckName's rules. A trailing slash and
// a partial last segment ("pages/s/date=2024-0") are allowed. Returns an
// error wrapping ErrInvalidName.
func CheckPrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	return checkPath(strings.TrimSuffix(prefix, "/"))
}

func checkPath(p string) error {
	if !utf8.ValidString(p) {
		return fmt.Errorf("checking name %q: not valid UTF-8: %w", p, ErrInvalidName)
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f || r == '\\' {
			return fmt.Errorf("checking name %q: contains %q: %w", p, r, ErrInvalidName)
		}
	}
	if strings.HasPrefix(p, "/") {
		return fmt.Errorf("checking name %q: absolute: %w", p, ErrInvalidName)
	}
	for seg := range strings.SplitSeq(p, "/") {
		switch {
		case seg == "":
			return fmt.Errorf("checking name %q: empty segment: %w", p, ErrInvalidName)
		case strings.HasPrefix(seg, "."):
			return fmt.Errorf("checking name %q: segment %q begins with a dot: %w", p, seg, ErrInvalidName)
		}
	}
	return nil
}

// ContentMismatchError is the error PutOnce returns when an object already
// exists under Name with other bytes. It wraps ErrContentMismatch and names
// the object and both contents by their SHA-256 (lower-case hex).
type ContentMismatchError struct {
	Name         string
	StoredSHA256 string
	NewSHA256    string
}

func (e *ContentMismatchError) Error() string {
	return fmt.Sprintf("raw object %q exists with different content: stored sha256 %s, new sha256 %s",
		e.Name, e.StoredSHA256, e.NewSHA256)
}

// Unwrap makes errors.Is(err, ErrContentMismatch) true.
func (e *ContentMismatchError) Unwrap() error { return ErrContentMismatch }

// CompareContent is the check a back end makes when PutOnce finds name
// already written: nil if stored equals data byte for byte (a retry),
// otherwise a *ContentMismatchError.
func CompareContent(name string, stored, data []byte) error {
	if bytes.Equal(stored, data) {
		return nil
	}
	return &ContentMismatchError{Name: name, StoredSHA256: sha256Hex(stored), NewSHA256: sha256Hex(data)}
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
