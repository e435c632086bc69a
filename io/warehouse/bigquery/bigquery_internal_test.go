package bigquery

import (
	"math/big"
	"net/url"
	"regexp"
	"testing"
)

func TestRunKey(t *testing.T) {
	tests := []struct {
		name, a, b string
	}{
		{"ids that sanitise alike get different keys", "run-1", "run_1"},
		{"long ids that share a prefix get different keys", string(make([]byte, 100)) + "a", string(make([]byte, 100)) + "b"},
	}
	valid := regexp.MustCompile(`^[A-Za-z0-9_]{1,80}$`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ka, kb := runKey(tt.a), runKey(tt.b)
			if ka == kb {
				t.Errorf("runKey(%q) = runKey(%q) = %q, want different keys", tt.a, tt.b, ka)
			}
			for _, k := range []string{ka, kb} {
				if !valid.MatchString(k) {
					t.Errorf("runKey() = %q, want a table-name suffix of at most 80 safe characters", k)
				}
			}
			if got := runKey(tt.a); got != ka {
				t.Errorf("runKey(%q) = %q then %q, want the same key", tt.a, ka, got)
			}
		})
	}
}

func TestDecimalText(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"1000", "1000"},
		{"1234.50", "1234.5"},
		{"0.000000001", "0.000000001"},
		{"12345678901234567890.12", "12345678901234567890.12"},
		{"-0.5", "-0.5"},
		{"0", "0"},
	}
	for _, tt := range tests {
		r, ok := new(big.Rat).SetString(tt.in)
		if !ok {
			t.Fatalf("parsing %q", tt.in)
		}
		if got := decimalText(r); got != tt.want {
			t.Errorf("decimalText(%s) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := decimalText(nil); got != "" {
		t.Errorf("decimalText(nil) = %q, want empty", got)
	}
}

func TestOpenURLRefusesBadURIs(t *testing.T) {
	for _, uri := range []string{
		"bigquery:///dataset",
		"bigquery://project",
		"bigquery://project/data-set",
		"bigquery://project/a/b",
		"bigquery://project/dataset?region=EU",
	} {
		u, err := url.Parse(uri)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := OpenURL(t.Context(), u); err == nil {
			t.Errorf("OpenURL(%q) = nil error, want a refusal", uri)
		}
	}
}
