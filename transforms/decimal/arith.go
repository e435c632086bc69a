package decimal

import (
	"math/big"
	"strings"
)

// Add returns d + e exactly, with the larger of their scales. It returns
// ErrRange if the sum has more than MaxDigits integer digits.
func (d Decimal) Add(e Decimal) (Decimal, error) {
	scale := max(d.scale, e.scale)
	sum := new(big.Int).Add(d.unscaled(scale), e.unscaled(scale))
	out := Decimal{scale: scale}
	if sum.Sign() < 0 {
		out.neg = true
		sum.Neg(sum)
	}
	if sum.Sign() != 0 {
		out.digits = sum.String()
	}
	if out.IntDigits() > MaxDigits {
		return Decimal{}, ErrRange
	}
	return out, nil
}

// Neg returns -d.
func (d Decimal) Neg() Decimal {
	if d.digits != "" {
		d.neg = !d.neg
	}
	return d
}

// Sub returns d - e exactly (see Add).
func (d Decimal) Sub(e Decimal) (Decimal, error) { return d.Add(e.Neg()) }

// unscaled returns d times 10^scale as an integer; scale >= d.scale.
func (d Decimal) unscaled(scale int32) *big.Int {
	n := new(big.Int)
	if d.digits == "" {
		return n
	}
	n.SetString(d.digits+strings.Repeat("0", int(scale-d.scale)), 10)
	if d.neg {
		n.Neg(n)
	}
	return n
}
