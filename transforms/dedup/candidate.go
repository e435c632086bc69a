// Package dedup picks the newest version of each settlement (latest
// updated_at wins, with a deterministic tiebreak) without carrying whole
// records through the shuffle.
package dedup

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
)

// DigestLen is the length in hex characters of Candidate.Digest: the first
// 16 bytes of a SHA-256.
const DigestLen = 32

// Candidate is the small shuffle value that stands for one record version:
// enough to order versions and to find the winner in the raw zone again.
// A Candidate is a plain value, safe to copy.
type Candidate struct {
	// UpdatedAt is the record's updated_at in UTC unix nanoseconds.
	UpdatedAt int64 `json:"updated_at"`
	// Digest is the hex of the first 16 bytes of the SHA-256 of the
	// record's raw bytes (DigestLen characters); see NewCandidate.
	Digest string `json:"digest"`
	// Ref names the raw object (page) holding the record.
	Ref string `json:"ref"`
	// Index is the record's position in that page's data array.
	Index int32 `json:"index"`
}

// NewCandidate builds the Candidate of a raw record whose updated_at (unix
// nanoseconds) has already been parsed, for example by parse.Key.
func NewCandidate(raw []byte, updatedAtNanos int64, ref string, index int32) Candidate {
	sum := sha256.Sum256(raw)
	return Candidate{
		UpdatedAt: updatedAtNanos,
		Digest:    hex.EncodeToString(sum[:DigestLen/2]),
		Ref:       ref,
		Index:     index,
	}
}

// Compare orders candidates by UpdatedAt, then Digest, then Ref, then Index,
// returning -1, 0 or +1. It is a total order: Compare(a, b) == 0 only when
// a == b.
//
// The Digest tiebreak makes two different records with the same updated_at
// resolve the same way whatever order they arrive in. Ref and Index only
// break ties between copies of identical bytes, so which copy wins never
// changes the row that is stored.
func Compare(a, b Candidate) int {
	if c := cmp.Compare(a.UpdatedAt, b.UpdatedAt); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Digest, b.Digest); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Ref, b.Ref); c != 0 {
		return c
	}
	return cmp.Compare(a.Index, b.Index)
}

// Newer reports whether a wins over b: a is strictly greater in the order
// of Compare.
func Newer(a, b Candidate) bool { return Compare(a, b) > 0 }
