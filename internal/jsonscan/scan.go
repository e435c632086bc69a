// Package jsonscan validates JSON and finds values in it as raw slices, in
// one pass over a byte slice and without building any values.
//
// It accepts exactly what encoding/json accepts: RFC 8259 values, any bytes
// other than '"', '\\' and control characters inside strings (invalid UTF-8
// included), and nesting up to MaxDepth containers. Raw slices it returns
// alias the scanned input and have their capacity cut to their length, so
// appending to one never writes into the input.
package jsonscan

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"unicode/utf8"
)

// MaxDepth is encoding/json's nesting limit: a value may sit inside at most
// this many objects and arrays.
const MaxDepth = 10000

// ErrSyntax is wrapped by every error a Scanner returns for input that is
// not valid JSON.
var ErrSyntax = errors.New("invalid JSON")

// SyntaxError is a JSON syntax error at byte Offset of the input. It wraps
// ErrSyntax.
type SyntaxError struct {
	// Offset is the index of the offending byte, or the input's length when
	// the input ends too early.
	Offset int
	msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("invalid JSON at offset %d: %s", e.Offset, e.msg)
}

func (e *SyntaxError) Unwrap() error { return ErrSyntax }

// Kind is the type of a JSON value as told by its first byte.
type Kind uint8

// The kinds of JSON value. Invalid means the next byte cannot start a value
// (or the input has ended).
const (
	Invalid Kind = iota
	Object
	Array
	String
	Number
	Bool
	Null
)

var kindNames = [...]string{"invalid", "object", "array", "string", "number", "bool", "null"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", k)
}

// kindOf maps a value's first byte to its Kind.
var kindOf = func() (t [256]Kind) {
	t['{'], t['['], t['"'], t['-'], t['t'], t['f'], t['n'] = Object, Array, String, Number, Bool, Bool, Null
	for c := '0'; c <= '9'; c++ {
		t[c] = Number
	}
	return t
}()

// Valid reports whether b is one JSON value with optional surrounding
// whitespace, exactly as encoding/json's Valid does.
func Valid(b []byte) bool {
	i := skipWS(b, 0)
	end, ok := skipValue(b, i, 0)
	return ok && skipWS(b, end) == len(b)
}

// Scanner reads one JSON document from a byte slice, a token or a whole
// value at a time. Methods that consume a value validate all of it. After a
// method returns an error the Scanner's position is unspecified; Reset it
// before reuse. The zero Scanner scans an empty input. A Scanner is not safe
// for concurrent use.
//
// Iterating an object is BeginObject, then NextMember until it reports the
// end, consuming exactly one value (Skip, or Begin… and its own iteration)
// after every member it returns. Arrays go the same way with BeginArray and
// NextElement.
type Scanner struct {
	b     []byte
	i     int
	depth int  // containers open around the current position
	first bool // the last call opened a container, so no ',' is due
}

// Reset makes s scan b from its start.
func (s *Scanner) Reset(b []byte) { *s = Scanner{b: b} }

// Pos returns the offset of the next unread byte.
func (s *Scanner) Pos() int { return s.i }

// Depth returns how many containers are open around the current position.
func (s *Scanner) Depth() int { return s.depth }

func (s *Scanner) fail(at int, what string) error {
	if at >= len(s.b) {
		return &SyntaxError{Offset: len(s.b), msg: "unexpected end of input"}
	}
	if what == "" {
		what = fmt.Sprintf("invalid character %q", s.b[at])
	}
	return &SyntaxError{Offset: at, msg: what}
}

// Peek skips whitespace and returns the Kind of the value that starts there,
// without consuming it.
func (s *Scanner) Peek() Kind {
	s.i = skipWS(s.b, s.i)
	if s.i >= len(s.b) {
		return Invalid
	}
	return kindOf[s.b[s.i]]
}

// Skip validates and consumes one value (with the whitespace before it) and
// returns its bytes, without surrounding whitespace.
func (s *Scanner) Skip() ([]byte, error) {
	start := skipWS(s.b, s.i)
	end, ok := skipValue(s.b, start, s.depth)
	if !ok {
		return nil, s.fail(end, s.depthMessage(end))
	}
	s.i = end
	return s.b[start:end:end], nil
}

// depthMessage names a failure at a container opener past MaxDepth.
func (s *Scanner) depthMessage(at int) string {
	if at < len(s.b) && (s.b[at] == '{' || s.b[at] == '[') {
		return "invalid character or nesting deeper than 10000"
	}
	return ""
}

// BeginObject consumes the '{' that opens an object.
func (s *Scanner) BeginObject() error { return s.begin('{') }

// BeginArray consumes the '[' that opens an array.
func (s *Scanner) BeginArray() error { return s.begin('[') }

func (s *Scanner) begin(open byte) error {
	s.i = skipWS(s.b, s.i)
	if s.i >= len(s.b) || s.b[s.i] != open {
		return s.fail(s.i, "")
	}
	if s.depth+1 > MaxDepth {
		return s.fail(s.i, "nesting deeper than 10000")
	}
	s.i++
	s.depth++
	s.first = true
	return nil
}

// NextMember consumes the ',' or '}' after the previous member (none after
// BeginObject) and, unless the object ends, the next member's key and ':'.
// It returns the key's raw bytes, quotes included (see Unquote), and ok
// false once the object's '}' is consumed.
func (s *Scanner) NextMember() (key []byte, ok bool, err error) {
	b := s.b
	i := skipWS(b, s.i)
	if i >= len(b) {
		return nil, false, s.fail(i, "")
	}
	switch c := b[i]; {
	case c == '}':
		s.i, s.first = i+1, false
		s.depth--
		return nil, false, nil
	case s.first:
		s.first = false
	case c == ',':
		i = skipWS(b, i+1)
	default:
		return nil, false, s.fail(i, "")
	}
	if i >= len(b) || b[i] != '"' {
		return nil, false, s.fail(i, "")
	}
	end := skipString(b, i+1)
	if end < 0 {
		return nil, false, s.fail(-end, "")
	}
	key = b[i:end:end]
	i = skipWS(b, end)
	if i >= len(b) || b[i] != ':' {
		return nil, false, s.fail(i, "")
	}
	s.i = i + 1
	return key, true, nil
}

// NextElement consumes the ',' or ']' after the previous element (none
// after BeginArray) and returns ok false once the array's ']' is consumed.
func (s *Scanner) NextElement() (ok bool, err error) {
	b := s.b
	i := skipWS(b, s.i)
	if i >= len(b) {
		return false, s.fail(i, "")
	}
	switch c := b[i]; {
	case c == ']':
		s.i, s.first = i+1, false
		s.depth--
		return false, nil
	case s.first:
		s.first = false
		s.i = i
		return true, nil
	case c == ',':
		s.i = i + 1
		return true, nil
	default:
		return false, s.fail(i, "")
	}
}

// Finish returns an error unless only whitespace is left.
func (s *Scanner) Finish() error {
	s.i = skipWS(s.b, s.i)
	if s.i != len(s.b) {
		return s.fail(s.i, "")
	}
	return nil
}

// Unquote returns the content of the JSON string raw (quotes included) as
// encoding/json decodes it: escapes resolved and invalid UTF-8 replaced by
// U+FFFD. When raw has no escapes and is valid UTF-8 the result aliases
// raw's content; otherwise it is new. ok is false if raw is not a valid
// JSON string.
func Unquote(raw []byte) (content []byte, ok bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return nil, false
	}
	c := raw[1 : len(raw)-1]
	clean := true
	for i := 0; i < len(c); {
		b := c[i]
		if b == '\\' || b == '"' || b < ' ' {
			clean = false
			break
		}
		if b < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRune(c[i:])
		if r == utf8.RuneError && size == 1 {
			clean = false
			break
		}
		i += size
	}
	if clean {
		return c, true
	}
	// The rare case: let encoding/json resolve escapes, so the two agree.
	var v string
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, false
	}
	return []byte(v), true
}

// skipWS returns the index of the first byte at or after i that is not
// JSON whitespace.
func skipWS(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// special returns a mask whose lowest set bit is the high bit of the first
// byte of x (in memory order) that is '"', '\\' or below 0x20, or 0 when
// there is none. Bits above the lowest may be false positives.
func special(x uint64) uint64 {
	q := x ^ (ones * '"')
	e := x ^ (ones * '\\')
	return (((q - ones) &^ q) | ((e - ones) &^ e) | ((x - ones*0x20) &^ x)) & highs
}

// plain marks the bytes a string may hold without a closer look.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// skipString scans a string's content from i (just past its opening quote)
// and returns the index just past its closing quote, or -(offset of the
// error) if it is not a valid string. Offsets are positive here: a string's
// content never starts at 0.
func skipString(b []byte, i int) int {
	for {
		if i+8 <= len(b) {
			m := special(binary.LittleEndian.Uint64(b[i:]))
			if m == 0 {
				i += 8
				continue
			}
			i += bits.TrailingZeros64(m) >> 3
		} else {
			for i < len(b) && plain[b[i]] {
				i++
			}
			if i >= len(b) {
				return -len(b)
			}
		}
		switch b[i] {
		case '"':
			return i + 1
		case '\\':
			i++
			if i >= len(b) {
				return -len(b)
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				for k := 1; k <= 4; k++ {
					if i+k >= len(b) {
						return -len(b)
					}
					if !isHex(b[i+k]) {
						return -(i + k)
					}
				}
				i += 5
			default:
				return -i
			}
		default: // a control character
			return -i
		}
	}
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// skipNumber scans the number starting at i and returns the index just past
// it, or -(offset of the error) - 1.
func skipNumber(b []byte, i int) int {
	if b[i] == '-' {
		i++
	}
	switch {
	case i >= len(b):
		return -i - 1
	case b[i] == '0':
		i++
	case '1' <= b[i] && b[i] <= '9':
		i++
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	default:
		return -i - 1
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || !isDigit(b[i]) {
			return -i - 1
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return -i - 1
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	return i
}

// skipValue validates the value starting at i (no whitespace before it),
// which sits inside depth containers. It returns the index just past the
// value and true, or the offset of the first error and false.
func skipValue(b []byte, i, depth int) (int, bool) {
	// stack holds the opener of every container open inside this value.
	var small [64]byte
	stack := small[:0]
	for {
		// Scan one value at i.
		if i >= len(b) {
			return i, false
		}
		switch c := b[i]; c {
		case '"':
			j := skipString(b, i+1)
			if j < 0 {
				return -j, false
			}
			i = j
		case '{', '[':
			if depth+len(stack)+1 > MaxDepth {
				return i, false
			}
			i++
			if i < len(b) && b[i] <= ' ' {
				i = skipWS(b, i)
			}
			if i < len(b) && b[i] == c+2 { // '}' or ']'
				i++
				break
			}
			stack = append(stack, c)
			if c == '{' {
				var ok bool
				if i, ok = skipKey(b, i); !ok {
					return i, false
				}
			}
			continue
		case 't':
			if len(b)-i < 4 || string(b[i:i+4]) != "true" {
				return literalError(b, i, "true"), false
			}
			i += 4
		case 'f':
			if len(b)-i < 5 || string(b[i:i+5]) != "false" {
				return literalError(b, i, "false"), false
			}
			i += 5
		case 'n':
			if len(b)-i < 4 || string(b[i:i+4]) != "null" {
				return literalError(b, i, "null"), false
			}
			i += 4
		default:
			if c != '-' && !isDigit(c) {
				return i, false
			}
			j := skipNumber(b, i)
			if j < 0 {
				return -j - 1, false
			}
			i = j
		}
		// A value ended at i: close containers until one goes on.
		for {
			if len(stack) == 0 {
				return i, true
			}
			if i < len(b) && b[i] <= ' ' {
				i = skipWS(b, i)
			}
			if i >= len(b) {
				return i, false
			}
			c, top := b[i], stack[len(stack)-1]
			if c == ',' {
				i++
				if i < len(b) && b[i] <= ' ' {
					i = skipWS(b, i)
				}
				if top == '{' {
					var ok bool
					if i, ok = skipKey(b, i); !ok {
						return i, false
					}
				}
				break
			}
			if c != top+2 {
				return i, false
			}
			i++
			stack = stack[:len(stack)-1]
		}
	}
}

// skipKey scans `"key" :` and the whitespace after it, from i.
func skipKey(b []byte, i int) (int, bool) {
	if i >= len(b) || b[i] != '"' {
		return i, false
	}
	j := skipString(b, i+1)
	if j < 0 {
		return -j, false
	}
	i = j
	if i < len(b) && b[i] <= ' ' {
		i = skipWS(b, i)
	}
	if i >= len(b) || b[i] != ':' {
		return i, false
	}
	i++
	if i < len(b) && b[i] <= ' ' {
		i = skipWS(b, i)
	}
	return i, true
}

// literalError returns the offset of the first byte at i that departs from
// word.
func literalError(b []byte, i int, word string) int {
	for k := 0; k < len(word); k++ {
		if i+k >= len(b) || b[i+k] != word[k] {
			return i + k
		}
	}
	return i
}
