package keyname

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestEncode(t *testing.T) {
	tests := []struct {
		name string
		key  string
		want string
	}{
		{"a plain key is kept as is", "abc-1.json", "abc-1.json"},
		{"slashes are escaped", "window/src/a", "window%2Fsrc%2Fa"},
		{"colons and spaces stay readable", "a:b c", "a:b c"},
		{"a percent sign is escaped", "100%", "100%25"},
		{"a leading dot is escaped", "..", "%2E."},
		{"a leading underscore is escaped", "__name__", "%5F_name__"},
		{"control bytes are escaped", "a\x00b\n", "a%00b%0A"},
		{"non-ASCII letters stay readable", "sélection/日本", "sélection%2F日本"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Encode(tt.key); got != tt.want {
				t.Errorf("Encode(%q) = %q, want %q", tt.key, got, tt.want)
			}
			got, err := Decode(tt.want)
			if err != nil || got != tt.key {
				t.Errorf("Decode(%q) = %q, %v, want %q, nil", tt.want, got, err, tt.key)
			}
		})
	}
}

func TestDecodeRejectsNamesEncodeCannotProduce(t *testing.T) {
	for _, name := range []string{"", "%", "%2", "%zz", "%41", ".hidden", "_x", "a/b", "%2e", "%FF"} {
		if got, err := Decode(name); !errors.Is(err, ErrInvalid) {
			t.Errorf("Decode(%q) = %q, %v, want ErrInvalid", name, got, err)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		key     string
		wantErr bool
	}{
		{"an empty key is invalid", "", true},
		{"invalid UTF-8 is invalid", "a\xffb", true},
		{"any valid text is valid", "window/x/2024-01-01T00:00:00Z_2024-01-01T01:00:00Z", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(tt.key)
			if gotErr := err != nil; gotErr != tt.wantErr {
				t.Errorf("Validate(%q) = %v, want error %v", tt.key, err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrInvalid) {
				t.Errorf("Validate(%q) = %v, want it to wrap ErrInvalid", tt.key, err)
			}
		})
	}
}

func FuzzEncodeRoundTrip(f *testing.F) {
	for _, s := range []string{"a", "window/s/2024-01-01T00:00:00Z_2024-01-01T01:00:00Z", ".", "..", "__x__", "%2F", "日本/語"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		if Validate(key) != nil {
			return
		}
		name := Encode(key)
		if strings.ContainsAny(name, "/\x00") || name[0] == '.' || name[0] == '_' || !utf8.ValidString(name) {
			t.Fatalf("Encode(%q) = %q, not a safe single path element", key, name)
		}
		got, err := Decode(name)
		if err != nil || got != key {
			t.Fatalf("Decode(Encode(%q)) = %q, %v, want the key back", key, got, err)
		}
	})
}
