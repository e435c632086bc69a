// Package decimal holds exact decimal numbers for money: parsed from the
// vendor's decimal strings and JSON number literals, never through float64.
//
// A Decimal is a sign, a string of unscaled digits and a scale (the number of
// fractional digits it was written with), so "1234.50" keeps its two
// fractional digits and prints back as "1234.50".
//
// Accepted forms:
//
//   - Parse (decimal strings, as in the vendor's "amount"): an optional "-",
//     one or more digits, and optionally "." followed by one or more digits.
//     Leading zeros are accepted ("007.50" is 7.50). Rejected: "", "+1",
//     ".5", "5.", exponents ("1e2"), whitespace, "NaN", "Inf", hex, "1_000",
//     "1,5" and anything else.
//   - FromJSONNumber (JSON number literals, RFC 8259): -?(0|[1-9]\d*)(\.\d+)?
//     ([eE][+-]?\d+)?. The exponent is applied exactly: "1e2" is 100 (scale
//     0), "1.50e1" is 15.0 (scale 1), "15e-3" is 0.015 (scale 3).
//
// A Decimal has at most MaxDigits digits before and MaxDigits after the
// point, and input text is at most 4*MaxDigits bytes, so a hostile literal
// like "1e999999999" is rejected (ErrRange) instead of allocating gigabytes;
// so is any exponent beyond ±2^40, even on zero. Negative zero is zero: "-0.00" prints as "0.00" and has Sign 0.
package decimal

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// MaxDigits bounds the number of integer digits, and separately the number of
// fractional digits, of a Decimal. It is far above what a money column holds
// (38 digits).
const MaxDigits = 400

// maxExponent bounds a JSON exponent so the scale arithmetic stays far from
// int64 overflow; any larger exponent is out of range anyway.
const maxExponent = 1 << 40

var (
	// ErrSyntax is returned for text that is not a decimal of the accepted form.
	ErrSyntax = errors.New("invalid decimal syntax")
	// ErrRange is returned for a decimal with more than MaxDigits integer or
	// fractional digits, or text longer than 4*MaxDigits bytes.
	ErrRange = errors.New("decimal out of range")
	// ErrInexact is returned by WithScale when reducing the scale would drop
	// a non-zero digit.
	ErrInexact = errors.New("decimal cannot be rescaled exactly")
)

// Decimal is an exact decimal number with a scale. The zero value is 0 with
// scale 0. Decimals are immutable values, safe for concurrent use.
type Decimal struct {
	neg    bool   // never true for zero
	digits string // unscaled magnitude: no leading zeros, "" means 0
	scale  int32  // fractional digits, >= 0
}

// Parse parses a plain decimal string (see the package doc for the grammar).
// It returns an error wrapping ErrSyntax or ErrRange.
func Parse(s string) (Decimal, error) {
	d, err := parse(s, false)
	if err != nil {
		return Decimal{}, fmt.Errorf("parsing decimal %q: %w", clip(s), err)
	}
	return d, nil
}

// FromJSONNumber converts a JSON number literal exactly, applying any
// exponent (see the package doc). It returns an error wrapping ErrSyntax or
// ErrRange.
func FromJSONNumber(n json.Number) (Decimal, error) {
	d, err := parse(string(n), true)
	if err != nil {
		return Decimal{}, fmt.Errorf("converting JSON number %q: %w", clip(string(n)), err)
	}
	return d, nil
}

// clip shortens hostile input before it goes into an error message.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// parse implements both grammars; jsonNumber selects the JSON one (no
// leading zeros, optional exponent).
func parse(s string, jsonNumber bool) (Decimal, error) {
	if len(s) > 4*MaxDigits {
		return Decimal{}, ErrRange
	}
	i := 0
	neg := false
	if i < len(s) && s[i] == '-' {
		neg = true
		i++
	}
	intStart := i
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	intPart := s[intStart:i]
	if intPart == "" {
		return Decimal{}, ErrSyntax
	}
	if jsonNumber && len(intPart) > 1 && intPart[0] == '0' {
		return Decimal{}, ErrSyntax
	}
	fracPart := ""
	if i < len(s) && s[i] == '.' {
		i++
		fracStart := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		fracPart = s[fracStart:i]
		if fracPart == "" {
			return Decimal{}, ErrSyntax
		}
	}
	exp := int64(0)
	if jsonNumber && i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		expStart := i
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		digitStart := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		if i == digitStart {
			return Decimal{}, ErrSyntax
		}
		e, err := strconv.ParseInt(s[expStart:i], 10, 64)
		if err != nil || e > maxExponent || e < -maxExponent {
			// Syntax was checked above, so err is an overflow.
			return Decimal{}, ErrRange
		}
		exp = e
	}
	if i != len(s) {
		return Decimal{}, ErrSyntax
	}
	// value = (intPart fracPart) * 10^(exp - len(fracPart))
	digits := intPart + fracPart
	scale := int64(len(fracPart)) - exp
	digits = strings.TrimLeft(digits, "0")
	// Bound the result before building it; |exp| <= maxExponent, so these
	// int64 sums cannot overflow.
	if scale > MaxDigits || (digits != "" && int64(len(digits))-scale > MaxDigits) {
		return Decimal{}, ErrRange
	}
	if scale < 0 {
		if digits != "" {
			digits += strings.Repeat("0", int(-scale))
		}
		scale = 0
	}
	if digits == "" {
		neg = false
	}
	return Decimal{neg: neg, digits: digits, scale: int32(scale)}, nil
}

// Scale returns the number of fractional digits d carries.
func (d Decimal) Scale() int32 { return d.scale }

// Sign returns -1, 0 or +1. Negative zero has sign 0.
func (d Decimal) Sign() int {
	switch {
	case d.digits == "":
		return 0
	case d.neg:
		return -1
	default:
		return 1
	}
}

// IntDigits returns the number of digits before the decimal point, without
// leading zeros (0 for |d| < 1).
func (d Decimal) IntDigits() int {
	n := len(d.digits) - int(d.scale)
	if n < 0 {
		return 0
	}
	return n
}

// String returns the canonical text of d: an optional "-", the integer part
// without leading zeros (at least "0"), and exactly Scale() fractional
// digits. It never uses an exponent; Parse(d.String()) == d.
func (d Decimal) String() string {
	var b strings.Builder
	scale := int(d.scale)
	b.Grow(len(d.digits) + scale + 3)
	if d.neg {
		b.WriteByte('-')
	}
	digits := d.digits
	if pad := scale + 1 - len(digits); pad > 0 {
		digits = strings.Repeat("0", pad) + digits
	}
	b.WriteString(digits[:len(digits)-scale])
	if scale > 0 {
		b.WriteByte('.')
		b.WriteString(digits[len(digits)-scale:])
	}
	return b.String()
}

// WithScale returns d written with exactly scale fractional digits: zeros are
// appended, or trailing zeros removed. It returns ErrInexact if a non-zero
// digit would be dropped and ErrRange if scale is negative or too large.
func (d Decimal) WithScale(scale int32) (Decimal, error) {
	if scale < 0 || scale > MaxDigits {
		return Decimal{}, ErrRange
	}
	switch {
	case scale == d.scale:
		return d, nil
	case scale > d.scale:
		if d.digits != "" {
			d.digits += strings.Repeat("0", int(scale-d.scale))
		}
	default:
		drop := int(d.scale - scale)
		if drop >= len(d.digits) {
			if strings.Trim(d.digits, "0") != "" {
				return Decimal{}, ErrInexact
			}
			d.digits = ""
		} else {
			if strings.Trim(d.digits[len(d.digits)-drop:], "0") != "" {
				return Decimal{}, ErrInexact
			}
			d.digits = d.digits[:len(d.digits)-drop]
		}
		if d.digits == "" {
			d.neg = false
		}
	}
	d.scale = scale
	return d, nil
}

// Cmp compares the values of d and e (ignoring scale: 1.5 == 1.50) and
// returns -1, 0 or +1.
func (d Decimal) Cmp(e Decimal) int {
	if ds, es := d.Sign(), e.Sign(); ds != es {
		if ds < es {
			return -1
		}
		return 1
	}
	c := cmpMagnitude(d, e)
	if d.neg {
		return -c
	}
	return c
}

func cmpMagnitude(d, e Decimal) int {
	di, ei := d.IntDigits(), e.IntDigits()
	if di != ei {
		if di < ei {
			return -1
		}
		return 1
	}
	// Same number of integer digits: align the fractions and compare text.
	scale := max(d.scale, e.scale)
	a := d.digits + strings.Repeat("0", int(scale-d.scale))
	b := e.digits + strings.Repeat("0", int(scale-e.scale))
	// Equal integer digit counts and equal scale give equal lengths once
	// leading zeros of pure fractions are restored.
	if n := max(len(a), len(b)); len(a) < n || len(b) < n {
		a = strings.Repeat("0", n-len(a)) + a
		b = strings.Repeat("0", n-len(b)) + b
	}
	return strings.Compare(a, b)
}
