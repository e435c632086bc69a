package vendorsim

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
)

// errMalformedCursor is returned by decodeCursor for any cursor this server
// did not issue.
var errMalformedCursor = errors.New("malformed cursor")

const cursorVersion = 1

// cursor is the position of a chain. The window and limit are those of the
// chain's first request; the position is the last record of the previous
// page (inclusive when that page's last record is repeated on the next one).
type cursor struct {
	gte, lt int64 // window, unix nanoseconds
	limit   int
	hasPos  bool
	incl    bool
	posT    int64  // unix microseconds
	posKey  uint32 // key of the record at the position
	// posTie is set when the record at the position is the second of two
	// versions of one settlement with the same updated_at (SameInstant):
	// (posT, posKey) alone would not tell them apart.
	posTie bool
	page   uint32 // number of the page this cursor asks for
	issued int64  // unix nanoseconds
}

func (c cursor) encode(seed uint64) string {
	b := make([]byte, 0, 64)
	var flags byte
	if c.hasPos {
		flags |= 1
	}
	if c.incl {
		flags |= 2
	}
	if c.posTie {
		flags |= 4
	}
	b = append(b, cursorVersion, flags)
	b = binary.AppendVarint(b, c.gte)
	b = binary.AppendVarint(b, c.lt)
	b = binary.AppendUvarint(b, uint64(c.limit))
	b = binary.AppendVarint(b, c.posT)
	b = binary.AppendUvarint(b, uint64(c.posKey))
	b = binary.AppendUvarint(b, uint64(c.page))
	b = binary.AppendVarint(b, c.issued)
	b = binary.BigEndian.AppendUint64(b, hashBytes(seed, b))
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor parses a cursor issued with seed. Returns an error wrapping
// errMalformedCursor for anything else.
func decodeCursor(s string, seed uint64) (cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return cursor{}, fmt.Errorf("decoding cursor: %w: %w", errMalformedCursor, err)
	}
	if len(b) < 2+8 {
		return cursor{}, fmt.Errorf("decoding cursor: %w: too short", errMalformedCursor)
	}
	body, mac := b[:len(b)-8], binary.BigEndian.Uint64(b[len(b)-8:])
	if hashBytes(seed, body) != mac || body[0] != cursorVersion || body[1]&^7 != 0 {
		return cursor{}, fmt.Errorf("decoding cursor: %w: not issued here", errMalformedCursor)
	}
	c := cursor{hasPos: body[1]&1 != 0, incl: body[1]&2 != 0, posTie: body[1]&4 != 0}
	rest := body[2:]
	varint := func() int64 {
		v, n := binary.Varint(rest)
		if n <= 0 {
			err = errMalformedCursor
			return 0
		}
		rest = rest[n:]
		return v
	}
	uvarint := func(maxValue uint64) uint64 {
		v, n := binary.Uvarint(rest)
		if n <= 0 || v > maxValue {
			err = errMalformedCursor
			return 0
		}
		rest = rest[n:]
		return v
	}
	c.gte = varint()
	c.lt = varint()
	c.limit = int(uvarint(maxLimit))
	c.posT = varint()
	c.posKey = uint32(uvarint(1<<32 - 1))
	c.page = uint32(uvarint(1<<32 - 1))
	c.issued = varint()
	if err != nil || len(rest) != 0 {
		return cursor{}, fmt.Errorf("decoding cursor: %w: bad fields", errMalformedCursor)
	}
	return c, nil
}

// identity is the cursor without its issue time: the page it asks for.
func (c cursor) identity() uint64 {
	var flags uint64
	if c.hasPos {
		flags |= 1
	}
	if c.incl {
		flags |= 2
	}
	if c.posTie {
		flags |= 4
	}
	return hashOf(uint64(c.gte), uint64(c.lt), uint64(c.limit), flags,
		uint64(c.posT), uint64(c.posKey), uint64(c.page))
}

func hashBytes(seed uint64, b []byte) uint64 {
	h := hashOf(seed, saltCursor, uint64(len(b)))
	for len(b) >= 8 {
		h = hashOf(h, binary.LittleEndian.Uint64(b))
		b = b[8:]
	}
	var tail [8]byte
	copy(tail[:], b)
	return hashOf(h, binary.LittleEndian.Uint64(tail[:]))
}
