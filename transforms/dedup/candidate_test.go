package dedup_test

import (
	"testing"

	"github.com/marketplace/settle/transforms/dedup"
)

func TestNewer(t *testing.T) {
	base := dedup.Candidate{UpdatedAt: 100, Digest: "aa", Ref: "r1", Index: 1}
	with := func(f func(*dedup.Candidate)) dedup.Candidate {
		c := base
		f(&c)
		return c
	}
	tests := []struct {
		name string
		a, b dedup.Candidate
		want bool
	}{
		{name: "a later updated_at wins whatever the digest", a: with(func(c *dedup.Candidate) { c.UpdatedAt = 101; c.Digest = "00" }), b: base, want: true},
		{name: "an earlier updated_at loses whatever the digest", a: with(func(c *dedup.Candidate) { c.UpdatedAt = 99; c.Digest = "ff" }), b: base, want: false},
		{name: "on equal updated_at the larger digest wins", a: with(func(c *dedup.Candidate) { c.Digest = "ab" }), b: base, want: true},
		{name: "of copies of one version the smaller ref wins", a: with(func(c *dedup.Candidate) { c.Ref = "r0"; c.Index = 9 }), b: base, want: true},
		{name: "of copies in one object the smaller index wins", a: with(func(c *dedup.Candidate) { c.Index = 0 }), b: base, want: true},
		{name: "a candidate is not newer than itself", a: base, b: base, want: false},
		{name: "negative times order correctly", a: dedup.Candidate{UpdatedAt: -1}, b: dedup.Candidate{UpdatedAt: -2}, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := dedup.Newer(tt.a, tt.b); got != tt.want {
				t.Errorf("Newer(%v, %v) = %v, want %v", tt.a, tt.b, got, tt.want)
			}
			if tt.a != tt.b {
				if got := dedup.Newer(tt.b, tt.a); got == tt.want {
					t.Errorf("Newer(%v, %v) = %v, want %v (antisymmetry)", tt.b, tt.a, got, !tt.want)
				}
			}
		})
	}
}

func TestNewCandidate(t *testing.T) {
	c := dedup.NewCandidate([]byte(`{"vendor_txn_id":"st_1"}`), 42, "pages/p-1", 7)
	if len(c.Digest) != dedup.DigestLen {
		t.Errorf("len(Digest) = %d, want %d", len(c.Digest), dedup.DigestLen)
	}
	// sha256 of the bytes above, first 16 bytes.
	if want := "71798f21042f0298e8c0b7345838929c"; c.Digest != want {
		t.Errorf("Digest = %s, want %s", c.Digest, want)
	}
	if c.UpdatedAt != 42 || c.Ref != "pages/p-1" || c.Index != 7 {
		t.Errorf("NewCandidate = %+v, want UpdatedAt 42, Ref pages/p-1, Index 7", c)
	}
	if other := dedup.NewCandidate([]byte(`{"vendor_txn_id":"st_2"}`), 42, "pages/p-1", 7); other.Digest == c.Digest {
		t.Errorf("different bytes gave the same digest %s", c.Digest)
	}
}
