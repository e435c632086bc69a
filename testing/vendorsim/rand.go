package vendorsim

// Salts separate the independent random streams derived from one seed, so
// that adding a draw to one stream never shifts another.
const (
	saltTimes uint64 = iota + 1
	saltFields
	saltMeta
	saltDefect
	saltLate
	saltTie
	saltResend
	saltPage
	saltFault
	saltSticky
	saltPoison
	saltRequestID
	saltCursor
	saltPerm
	saltNewest
	saltPush
)

// mix64 is the splitmix64 finaliser: a bijective avalanche of 64 bits.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// hashOf folds its parts into one well-mixed 64-bit value.
func hashOf(parts ...uint64) uint64 {
	h := uint64(0x6a09e667f3bcc909)
	for _, p := range parts {
		h = mix64(h ^ mix64(p+0x9e3779b97f4a7c15))
	}
	return h
}

// unit maps a hash to [0, 1).
func unit(h uint64) float64 { return float64(h>>11) / (1 << 53) }

// rng is a splitmix64 stream.
type rng struct{ s uint64 }

func newRNG(parts ...uint64) rng { return rng{s: hashOf(parts...)} }

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	return mix64(r.s)
}

// below returns a value in [0, n); n must be positive.
func (r *rng) below(n uint64) uint64 { return r.next() % n }

func (r *rng) float() float64 { return unit(r.next()) }

const alnum = "abcdefghijklmnopqrstuvwxyz0123456789"

func (r *rng) appendAlnum(b []byte, n int) []byte {
	for range n {
		b = append(b, alnum[r.below(uint64(len(alnum)))])
	}
	return b
}

// perm is a seeded bijection on uint32: xor, multiply by odd constants and
// xorshifts are each invertible.
type perm struct{ k1, k2 uint32 }

func newPerm(seed uint64) perm {
	h := hashOf(seed, saltPerm)
	return perm{k1: uint32(h), k2: uint32(h >> 32)}
}

const (
	permM1 uint32 = 0x9e3779b1
	permM2 uint32 = 0x85ebca77
)

func (p perm) apply(x uint32) uint32 {
	x ^= p.k1
	x *= permM1
	x ^= x >> 15
	x *= permM2
	x ^= x >> 13
	return x ^ p.k2
}

func (p perm) invert(x uint32) uint32 {
	x ^= p.k2
	x = unXorShift(x, 13)
	x *= modInverse(permM2)
	x = unXorShift(x, 15)
	x *= modInverse(permM1)
	return x ^ p.k1
}

func unXorShift(y uint32, s uint) uint32 {
	x := y
	for range 32/s + 1 {
		x = y ^ x>>s
	}
	return x
}

// modInverse returns the inverse of odd a modulo 2^32 (Newton's iteration).
func modInverse(a uint32) uint32 {
	inv := a
	for range 5 {
		inv *= 2 - a*inv
	}
	return inv
}
