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

// Digest returns the version digest of a raw record: the hex of the first
// 16 bytes of the SHA-256 of its bytes exactly as the vendor listed them
// (DigestLen characters). It is the tiebreak between versions of one
// settlement with the same updated_at, in the pipeline and in the
// warehouse (warehouse.Settlement.VersionDigest).
func Digest(raw []byte) string {
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:DigestLen/2])
}

// NewCandidate builds the Candidate of a raw record whose updated_at (unix
// nanoseconds) has already been parsed, for example by parse.Key.
func NewCandidate(raw []byte, updatedAtNanos int64, ref string, index int32) Candidate {
	return Candidate{
		UpdatedAt: updatedAtNanos,
		Digest:    Digest(raw),
		Ref:       ref,
		Index:     index,
	}
}

// Compare orders candidates, returning -1, 0 or +1: by UpdatedAt, then by
// Digest (the greater is newer), then, between copies of one version, the
// copy in the smaller Ref and then at the smaller Index ranks higher. It is
// a total order: Compare(a, b) == 0 only when a == b.
//
// This is the project's one rule for versions (see the warehouse package
// doc), and the warehouse applies the same one across chunks and runs: the
// newest version wins, a tie of updated_at goes to the greater digest, and
// of the copies of the winning version the first in raw-zone name order is
// the one whose raw_ref is stored. So the winner never depends on arrival
// order, batching or which copy was read last.
func Compare(a, b Candidate) int {
	if c := cmp.Compare(a.UpdatedAt, b.UpdatedAt); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Digest, b.Digest); c != 0 {
		return c
	}
	if c := cmp.Compare(b.Ref, a.Ref); c != 0 {
		return c
	}
	return cmp.Compare(b.Index, a.Index)
}

// Newer reports whether a wins over b: a is strictly greater in the order
// of Compare.
func Newer(a, b Candidate) bool { return Compare(a, b) > 0 }
