package parse

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// maxDepth is encoding/json's nesting limit; the scanner enforces the same
// limit so that Key and ParseRecord accept exactly the same records.
const maxDepth = 10000

// scanner is a validating JSON skipper over a byte slice. It accepts exactly
// what encoding/json accepts (RFC 8259, invalid UTF-8 allowed inside
// strings, nesting up to maxDepth) without building any values.
type scanner struct {
	b []byte
	i int
}

// ws skips whitespace. Records rarely have any, so the check for none is
// kept small enough to inline.
func (s *scanner) ws() {
	if s.i < len(s.b) && s.b[s.i] > ' ' {
		return
	}
	s.skipWS()
}

func (s *scanner) skipWS() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek returns the current byte, or 0 at the end.
func (s *scanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// plain marks the bytes that can be skipped inside a string without a
// closer look: everything except '"', '\\' and control characters.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// str scans the string whose opening quote is at s.i. It returns the bounds
// of its content and whether the content may differ from its Go value (it
// has an escape or a non-ASCII byte, so it must go through needsUnquote).
func (s *scanner) str() (start, end int, decode, ok bool) {
	b := s.b
	i := s.i + 1
	start = i
	var high uint64 // the bytes skipped, OR-ed, for their top bits
	for i < len(b) {
		// Skip plain bytes with a local index, eight at a time while there
		// are eight: this loop is most of the scanner's time.
		for i+8 <= len(b) {
			w := binary.LittleEndian.Uint64(b[i:])
			if m := specialLanes(w); m != 0 {
				n := bits.TrailingZeros64(m) &^ 7 // bits before the first special byte
				high |= w & (1<<n - 1)
				i += n >> 3
				break
			}
			high |= w
			i += 8
		}
		for i < len(b) && plain[b[i]] {
			high |= uint64(b[i])
			i++
		}
		if i >= len(b) {
			break
		}
		switch c := b[i]; {
		case c == '"':
			s.i = i + 1
			return start, i, decode || high&lanesHigh != 0, true
		case c == '\\':
			decode = true
			i++
			if i >= len(b) {
				return 0, 0, false, false
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				if i+5 > len(b) {
					return 0, 0, false, false
				}
				for _, h := range b[i+1 : i+5] {
					if !isHex(h) {
						return 0, 0, false, false
					}
				}
				i += 5
			default:
				return 0, 0, false, false
			}
		default: // control character
			return 0, 0, false, false
		}
	}
	return 0, 0, false, false
}

// Bytes repeated in each lane of a uint64, for specialLanes.
const (
	lanesLow   = 0x0101010101010101
	lanesHigh  = 0x8080808080808080
	lanesLow7  = 0x7f7f7f7f7f7f7f7f
	lanesQuote = lanesLow * '"'
	lanesSlash = lanesLow * '\\'
)

// specialLanes returns the top bit (0x80) of each of the eight bytes packed
// in x that is not plain: a '"', a '\\' or a control character, and no
// other bit. Adding to the low seven bits of a lane never carries into the
// next lane, so each lane is tested exactly.
func specialLanes(x uint64) uint64 {
	quote, slash := x^lanesQuote, x^lanesSlash
	notQuote := (quote&lanesLow7 + lanesLow7) | quote  // top bit set: byte != '"'
	notSlash := (slash&lanesLow7 + lanesLow7) | slash  // top bit set: byte != '\\'
	notCtl := (x&lanesLow7 + lanesLow*(0x80-0x20)) | x // top bit set: byte >= 0x20
	return ^(notQuote & notSlash & notCtl) & lanesHigh
}

func isHex(c byte) bool {
	return isDigit(c) || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}

// number scans a JSON number starting at s.i.
func (s *scanner) number() bool {
	b := s.b
	if s.peek() == '-' {
		s.i++
	}
	switch {
	case s.peek() == '0':
		s.i++
	case '1' <= s.peek() && s.peek() <= '9':
		for s.i < len(b) && isDigit(b[s.i]) {
			s.i++
		}
	default:
		return false
	}
	if s.peek() == '.' {
		s.i++
		if !isDigit(s.peek()) {
			return false
		}
		for s.i < len(b) && isDigit(b[s.i]) {
			s.i++
		}
	}
	if c := s.peek(); c == 'e' || c == 'E' {
		s.i++
		if c := s.peek(); c == '+' || c == '-' {
			s.i++
		}
		if !isDigit(s.peek()) {
			return false
		}
		for s.i < len(b) && isDigit(b[s.i]) {
			s.i++
		}
	}
	return true
}

func (s *scanner) literal(word string) bool {
	if bytes.HasPrefix(s.b[s.i:], []byte(word)) {
		s.i += len(word)
		return true
	}
	return false
}

// value skips one JSON value starting at s.i (no leading whitespace);
// depth is the number of containers already open around it.
func (s *scanner) value(depth int) bool {
	switch c := s.peek(); {
	case c == '"':
		_, _, _, ok := s.str()
		return ok
	case c == '{':
		if depth+1 > maxDepth {
			return false
		}
		s.i++
		s.ws()
		if s.peek() == '}' {
			s.i++
			return true
		}
		for {
			s.ws()
			if s.peek() != '"' {
				return false
			}
			if _, _, _, ok := s.str(); !ok {
				return false
			}
			s.ws()
			if s.peek() != ':' {
				return false
			}
			s.i++
			s.ws()
			if !s.value(depth + 1) {
				return false
			}
			s.ws()
			switch s.peek() {
			case ',':
				s.i++
			case '}':
				s.i++
				return true
			default:
				return false
			}
		}
	case c == '[':
		if depth+1 > maxDepth {
			return false
		}
		s.i++
		s.ws()
		if s.peek() == ']' {
			s.i++
			return true
		}
		for {
			s.ws()
			if !s.value(depth + 1) {
				return false
			}
			s.ws()
			switch s.peek() {
			case ',':
				s.i++
			case ']':
				s.i++
				return true
			default:
				return false
			}
		}
	case c == '-' || isDigit(c):
		return s.number()
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	default:
		return false
	}
}

// str returns the Go value of v when it is a JSON string, decoded exactly as
// encoding/json decodes it (escapes resolved, invalid UTF-8 replaced by
// U+FFFD); ok is false when v is absent or not a string.
func (v rawValue) str() (string, bool) {
	if len(v.b) < 2 || v.b[0] != '"' {
		return "", false
	}
	content := v.b[1 : len(v.b)-1]
	if !v.decode || !needsUnquote(content) {
		return string(content), true
	}
	return string(appendUnquoted(make([]byte, 0, len(content)+utf8.UTFMax), content)), true
}

// appendContent appends the Go value of v, a JSON string, to dst.
func (v rawValue) appendContent(dst []byte) []byte {
	content := v.b[1 : len(v.b)-1]
	if v.decode && needsUnquote(content) {
		return appendUnquoted(dst, content)
	}
	return append(dst, content...)
}

// needsUnquote reports whether the content of a scanned JSON string differs
// from its Go value: it has an escape or invalid UTF-8.
func needsUnquote(content []byte) bool {
	return bytes.IndexByte(content, '\\') >= 0 || !utf8.Valid(content)
}

// appendUnquoted appends the Go value of the content (between the quotes)
// of a JSON string the scanner accepted, decoded exactly as encoding/json's
// unquote does: escapes resolved, a \u escape of a lone or mismatched UTF-16
// surrogate and each byte of invalid UTF-8 replaced by U+FFFD.
func appendUnquoted(dst, content []byte) []byte {
	s := content
	for r := 0; r < len(s); {
		switch c := s[r]; {
		case c == '\\':
			switch s[r+1] {
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			case 'u':
				rr := getu4(s[r:])
				r += 6
				if utf16.IsSurrogate(rr) {
					if dec := utf16.DecodeRune(rr, getu4(s[r:])); dec != unicode.ReplacementChar {
						r += 6
						dst = utf8.AppendRune(dst, dec)
						continue
					}
					rr = unicode.ReplacementChar
				}
				dst = utf8.AppendRune(dst, rr)
				continue
			default: // '"', '\\', '/': the scanner let no other escape through
				dst = append(dst, s[r+1])
			}
			r += 2
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			r++
		default:
			rr, size := utf8.DecodeRune(s[r:])
			dst = utf8.AppendRune(dst, rr)
			r += size
		}
	}
	return dst
}

// getu4 decodes the \uXXXX escape at the start of s, or returns -1 if s
// does not start with one.
func getu4(s []byte) rune {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range s[2:6] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}
