// Package keyname turns cursor-store keys into names that file systems and
// Firestore accept as single path elements, and back.
//
// A key may hold any valid UTF-8 text ('/', ':', spaces, letters of any
// script). Encode keeps it readable: it escapes, as %XX, only the bytes a
// file name or a Firestore document id cannot hold or must not start with:
// '%' itself, '/', '\\', control bytes, a leading '.' (so "." and ".." and
// hidden files cannot arise) and a leading '_' (Firestore reserves ids of the
// form __x__). Decode reverses it exactly.
package keyname

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// ErrInvalid is returned for keys no back end can store and for names that
// Encode cannot have produced.
var ErrInvalid = errors.New("invalid cursor store key")

const hexDigits = "0123456789ABCDEF"

// Validate reports whether key is storable: non-empty and valid UTF-8.
func Validate(key string) error {
	if key == "" {
		return fmt.Errorf("checking key: empty: %w", ErrInvalid)
	}
	if !utf8.ValidString(key) {
		return fmt.Errorf("checking key %q: not valid UTF-8: %w", key, ErrInvalid)
	}
	return nil
}

// Encode returns the escaped form of key. The result never contains '/' or
// NUL, never starts with '.' or '_', and Decode(Encode(k)) == k.
func Encode(key string) string {
	var b strings.Builder
	b.Grow(len(key) + 8)
	for i := 0; i < len(key); i++ {
		c := key[i]
		if mustEscape(c, i == 0) {
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&0xF])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func mustEscape(c byte, first bool) bool {
	switch {
	case c < 0x20 || c == 0x7F:
		return true
	case c == '%' || c == '/' || c == '\\':
		return true
	case first && (c == '.' || c == '_'):
		return true
	}
	return false
}

// Decode reverses Encode. Returns an error wrapping ErrInvalid for a name
// Encode cannot have produced (a bad escape, or a byte left unescaped that
// Encode escapes), so stray files are told apart from keys.
func Decode(name string) (string, error) {
	var b strings.Builder
	b.Grow(len(name))
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c != '%' {
			if mustEscape(c, i == 0) {
				return "", fmt.Errorf("decoding name %q: unescaped byte %#x at %d: %w", name, c, i, ErrInvalid)
			}
			b.WriteByte(c)
			continue
		}
		if i+2 >= len(name) {
			return "", fmt.Errorf("decoding name %q: truncated escape at %d: %w", name, i, ErrInvalid)
		}
		hi, lo := unhex(name[i+1]), unhex(name[i+2])
		if hi < 0 || lo < 0 {
			return "", fmt.Errorf("decoding name %q: bad escape at %d: %w", name, i, ErrInvalid)
		}
		d := byte(hi<<4 | lo)
		if !mustEscape(d, i == 0) {
			return "", fmt.Errorf("decoding name %q: needless escape of %q at %d: %w", name, d, i, ErrInvalid)
		}
		b.WriteByte(d)
		i += 2
	}
	key := b.String()
	if err := Validate(key); err != nil {
		return "", fmt.Errorf("decoding name %q: %w", name, err)
	}
	return key, nil
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'A' <= c && c <= 'F':
		return int(c - 'A' + 10)
	}
	return -1
}
