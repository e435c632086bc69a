package decimal_test

import (
	"testing"

	"github.com/marketplace/settle/transforms/decimal"
)

func TestAddAndSub(t *testing.T) {
	tests := []struct {
		name      string
		a, b      string
		sum, diff string
	}{
		{"two cents add up exactly", "0.10", "0.20", "0.30", "-0.10"},
		{"the larger scale is kept", "1.5", "0.001", "1.501", "1.499"},
		{"wide values never round", "99999999999999999999.999999999", "0.000000001", "100000000000000000000.000000000", "99999999999999999999.999999998"},
		{"opposites sum to zero without a sign", "-12.34", "12.34", "0.00", "-24.68"},
		{"integers stay integers", "5", "7", "12", "-2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, _ := decimal.Parse(tt.a)
			b, _ := decimal.Parse(tt.b)
			sum, err := a.Add(b)
			if err != nil || sum.String() != tt.sum {
				t.Errorf("%s + %s = %s, %v; want %s", tt.a, tt.b, sum, err, tt.sum)
			}
			diff, err := a.Sub(b)
			if err != nil || diff.String() != tt.diff {
				t.Errorf("%s - %s = %s, %v; want %s", tt.a, tt.b, diff, err, tt.diff)
			}
		})
	}
}
