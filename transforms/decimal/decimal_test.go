package decimal_test

import (
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/marketplace/settle/transforms/decimal"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		want      string
		wantScale int32
		wantSign  int
		wantErr   error
	}{
		{name: "a plain amount keeps its two fractional digits", in: "1234.50", want: "1234.50", wantScale: 2, wantSign: 1},
		{name: "an integer has scale zero", in: "1200", want: "1200", wantScale: 0, wantSign: 1},
		{name: "zero with a scale keeps the scale", in: "0.00", want: "0.00", wantScale: 2, wantSign: 0},
		{name: "negative zero is zero", in: "-0.00", want: "0.00", wantScale: 2, wantSign: 0},
		{name: "a negative amount keeps its sign", in: "-12.5", want: "-12.5", wantScale: 1, wantSign: -1},
		{name: "leading zeros are dropped", in: "007.50", want: "7.50", wantScale: 2, wantSign: 1},
		{name: "a pure fraction keeps one integer zero", in: "0.0015", want: "0.0015", wantScale: 4, wantSign: 1},
		{name: "many digits stay exact", in: "123456789012345678901234567890.123456789", want: "123456789012345678901234567890.123456789", wantScale: 9, wantSign: 1},
		{name: "an empty string is a syntax error", in: "", wantErr: decimal.ErrSyntax},
		{name: "a leading plus is a syntax error", in: "+1", wantErr: decimal.ErrSyntax},
		{name: "a missing integer part is a syntax error", in: ".5", wantErr: decimal.ErrSyntax},
		{name: "a trailing point is a syntax error", in: "5.", wantErr: decimal.ErrSyntax},
		{name: "an exponent in a string is a syntax error", in: "1e2", wantErr: decimal.ErrSyntax},
		{name: "NaN is a syntax error", in: "NaN", wantErr: decimal.ErrSyntax},
		{name: "infinity is a syntax error", in: "Inf", wantErr: decimal.ErrSyntax},
		{name: "hex is a syntax error", in: "0x10", wantErr: decimal.ErrSyntax},
		{name: "surrounding whitespace is a syntax error", in: " 1.00", wantErr: decimal.ErrSyntax},
		{name: "a decimal comma is a syntax error", in: "1,50", wantErr: decimal.ErrSyntax},
		{name: "a lone minus is a syntax error", in: "-", wantErr: decimal.ErrSyntax},
		{name: "a double minus is a syntax error", in: "--1", wantErr: decimal.ErrSyntax},
		{name: "too many integer digits is out of range", in: strings.Repeat("9", decimal.MaxDigits+1), wantErr: decimal.ErrRange},
		{name: "too many fractional digits is out of range", in: "0." + strings.Repeat("1", decimal.MaxDigits+1), wantErr: decimal.ErrRange},
		{name: "the largest integer part is accepted", in: strings.Repeat("9", decimal.MaxDigits), want: strings.Repeat("9", decimal.MaxDigits), wantSign: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := decimal.Parse(tt.in)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Parse(%q) error = %v, want %v", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q) error = %v, want nil", tt.in, err)
			}
			if got := d.String(); got != tt.want {
				t.Errorf("Parse(%q).String() = %q, want %q", tt.in, got, tt.want)
			}
			if got := d.Scale(); got != tt.wantScale {
				t.Errorf("Parse(%q).Scale() = %d, want %d", tt.in, got, tt.wantScale)
			}
			if got := d.Sign(); got != tt.wantSign {
				t.Errorf("Parse(%q).Sign() = %d, want %d", tt.in, got, tt.wantSign)
			}
		})
	}
}

func TestFromJSONNumber(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    string
		wantErr error
	}{
		{name: "a number with two decimals is kept exactly", in: "1234.50", want: "1234.50"},
		{name: "an integer number has scale zero", in: "42", want: "42"},
		{name: "a positive exponent shifts digits into the integer part", in: "1e2", want: "100"},
		{name: "an upper-case exponent with a plus sign works", in: "1.5E+3", want: "1500"},
		{name: "an exponent keeps fractional digits that remain", in: "1.50e1", want: "15.0"},
		{name: "a negative exponent adds fractional digits", in: "15e-3", want: "0.015"},
		{name: "a tiny number is exact, not a float", in: "0.1e-1", want: "0.01"},
		{name: "a number that is inexact in float64 stays exact", in: "0.30000000000000004441", want: "0.30000000000000004441"},
		{name: "a huge mantissa stays exact", in: "12345678901234567890123456789.99", want: "12345678901234567890123456789.99"},
		{name: "negative zero with an exponent is zero", in: "-0e5", want: "0"},
		{name: "a leading zero is a syntax error in JSON", in: "01", wantErr: decimal.ErrSyntax},
		{name: "a leading plus is a syntax error in JSON", in: "+1", wantErr: decimal.ErrSyntax},
		{name: "an exponent without digits is a syntax error", in: "1e", wantErr: decimal.ErrSyntax},
		{name: "an exponent with only a sign is a syntax error", in: "1e+", wantErr: decimal.ErrSyntax},
		{name: "NaN is a syntax error", in: "NaN", wantErr: decimal.ErrSyntax},
		{name: "an empty number is a syntax error", in: "", wantErr: decimal.ErrSyntax},
		{name: "a huge exponent is out of range, not a huge allocation", in: "1e999999999", wantErr: decimal.ErrRange},
		{name: "a huge negative exponent is out of range", in: "1e-999999999", wantErr: decimal.ErrRange},
		{name: "an exponent overflowing int64 is out of range", in: "1e99999999999999999999", wantErr: decimal.ErrRange},
		{name: "the most negative int64 exponent is out of range", in: "1e-9223372036854775808", wantErr: decimal.ErrRange},
		{name: "the largest allowed integer part from an exponent is accepted", in: "1e399", want: "1" + strings.Repeat("0", 399)},
		{name: "one more integer digit is out of range", in: "1e400", wantErr: decimal.ErrRange},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := decimal.FromJSONNumber(json.Number(tt.in))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("FromJSONNumber(%q) error = %v, want %v", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("FromJSONNumber(%q) error = %v, want nil", tt.in, err)
			}
			if got := d.String(); got != tt.want {
				t.Errorf("FromJSONNumber(%q).String() = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestWithScale(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		scale   int32
		want    string
		wantErr error
	}{
		{name: "raising the scale appends zeros", in: "1234.5", scale: 2, want: "1234.50"},
		{name: "raising the scale of zero pads zeros", in: "0", scale: 2, want: "0.00"},
		{name: "lowering the scale drops trailing zeros", in: "1234.500", scale: 2, want: "1234.50"},
		{name: "lowering to scale zero drops a zero fraction", in: "1200.00", scale: 0, want: "1200"},
		{name: "lowering the scale of a zero fraction gives zero", in: "-0.000", scale: 0, want: "0"},
		{name: "dropping a non-zero digit is inexact", in: "1234.505", scale: 2, wantErr: decimal.ErrInexact},
		{name: "dropping a non-zero pure fraction is inexact", in: "0.001", scale: 0, wantErr: decimal.ErrInexact},
		{name: "a negative scale is out of range", in: "1", scale: -1, wantErr: decimal.ErrRange},
		{name: "the same scale changes nothing", in: "-7.25", scale: 2, want: "-7.25"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := mustParse(t, tt.in)
			got, err := d.WithScale(tt.scale)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Parse(%q).WithScale(%d) error = %v, want %v", tt.in, tt.scale, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q).WithScale(%d) error = %v", tt.in, tt.scale, err)
			}
			if got.String() != tt.want || got.Scale() != tt.scale {
				t.Errorf("Parse(%q).WithScale(%d) = %q (scale %d), want %q", tt.in, tt.scale, got, got.Scale(), tt.want)
			}
		})
	}
}

func TestCmp(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		want int
	}{
		{name: "equal values with different scales are equal", a: "1.5", b: "1.50", want: 0},
		{name: "a longer integer part is larger", a: "10", b: "9.99", want: 1},
		{name: "pure fractions compare by value", a: "0.05", b: "0.5", want: -1},
		{name: "a negative is below zero", a: "-0.01", b: "0", want: -1},
		{name: "a larger magnitude negative is smaller", a: "-10", b: "-9", want: -1},
		{name: "zero equals negative zero", a: "0.00", b: "-0", want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mustParse(t, tt.a).Cmp(mustParse(t, tt.b)); got != tt.want {
				t.Errorf("Cmp(%s, %s) = %d, want %d", tt.a, tt.b, got, tt.want)
			}
			if got := mustParse(t, tt.b).Cmp(mustParse(t, tt.a)); got != -tt.want {
				t.Errorf("Cmp(%s, %s) = %d, want %d", tt.b, tt.a, got, -tt.want)
			}
		})
	}
}

func TestZeroValueIsZero(t *testing.T) {
	var d decimal.Decimal
	if got := d.String(); got != "0" {
		t.Errorf("Decimal{}.String() = %q, want %q", got, "0")
	}
	if d.Sign() != 0 || d.Scale() != 0 {
		t.Errorf("Decimal{} sign, scale = %d, %d, want 0, 0", d.Sign(), d.Scale())
	}
}

func mustParse(t *testing.T, s string) decimal.Decimal {
	t.Helper()
	d, err := decimal.Parse(s)
	if err != nil {
		t.Fatalf("Parse(%q): %v", s, err)
	}
	return d
}

// rat is the reference value of a decimal or JSON number text.
func rat(t *testing.T, s string) *big.Rat {
	t.Helper()
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		t.Fatalf("big.Rat cannot parse %q", s)
	}
	return r
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"1234.50", "0", "-0.00", "007.5", "", "+1", ".5", "1e2", "NaN", "99999999999999999999.999999999", "-1.0000000001"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := decimal.Parse(s)
		if err != nil {
			if !errors.Is(err, decimal.ErrSyntax) && !errors.Is(err, decimal.ErrRange) {
				t.Fatalf("Parse(%q) error = %v, want ErrSyntax or ErrRange", s, err)
			}
			return
		}
		text := d.String()
		again, err := decimal.Parse(text)
		if err != nil {
			t.Fatalf("Parse(String(Parse(%q))) = Parse(%q) error: %v", s, text, err)
		}
		if again != d {
			t.Fatalf("Parse(%q) = %#v, want %#v (round trip of %q)", text, again, d, s)
		}
		if again.String() != text {
			t.Fatalf("String is not stable: %q then %q", text, again.String())
		}
		if got, want := rat(t, text), rat(t, s); got.Cmp(want) != 0 {
			t.Fatalf("Parse(%q).String() = %q, a different value", s, text)
		}
		if i := strings.IndexByte(s, '.'); i >= 0 && int(d.Scale()) != len(s)-i-1 {
			t.Fatalf("Parse(%q).Scale() = %d, want %d", s, d.Scale(), len(s)-i-1)
		}
	})
}

func FuzzFromJSONNumber(f *testing.F) {
	for _, s := range []string{"1234.50", "0", "-0", "1e2", "1.50e1", "15e-3", "1E+400", "1e-400", "01", "-", "1.", "1e99999999999999999999", "0.1e-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := decimal.FromJSONNumber(json.Number(s))
		isNumber := json.Valid([]byte(s)) && len(s) > 0 && (s[0] == '-' || ('0' <= s[0] && s[0] <= '9')) && strings.TrimSpace(s) == s
		if err != nil {
			if errors.Is(err, decimal.ErrSyntax) && isNumber {
				t.Fatalf("FromJSONNumber(%q) = syntax error for a valid JSON number", s)
			}
			if !errors.Is(err, decimal.ErrSyntax) && !errors.Is(err, decimal.ErrRange) {
				t.Fatalf("FromJSONNumber(%q) error = %v, want ErrSyntax or ErrRange", s, err)
			}
			return
		}
		if !isNumber {
			t.Fatalf("FromJSONNumber(%q) accepted text that is not a JSON number", s)
		}
		text := d.String()
		if strings.ContainsAny(text, "eE") {
			t.Fatalf("FromJSONNumber(%q).String() = %q, has an exponent", s, text)
		}
		if got, want := rat(t, text), rat(t, s); got.Cmp(want) != 0 {
			t.Fatalf("FromJSONNumber(%q).String() = %q, a different value", s, text)
		}
		again, err := decimal.Parse(text)
		if err != nil || again != d {
			t.Fatalf("Parse(%q) = %#v, %v, want %#v", text, again, err, d)
		}
	})
}
