package emulator

import (
	"strings"
	"testing"
)

func TestCheckLoopback(t *testing.T) {
	tests := []struct {
		name    string
		host    string
		wantErr bool
	}{
		{"127.0.0.1 is allowed", "127.0.0.1:8080", false},
		{"another loopback address is allowed", "127.0.0.5:8080", false},
		{"localhost is allowed", "localhost:8080", false},
		{"IPv6 loopback is allowed", "[::1]:8080", false},
		{"a private address is refused", "10.0.0.1:8080", true},
		{"a host name is refused", "firestore.example.com:443", true},
		{"a host without a port is refused", "127.0.0.1", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkLoopback(tt.host)
			if gotErr := err != nil; gotErr != tt.wantErr {
				t.Errorf("checkLoopback(%q) = %v, want error %v", tt.host, err, tt.wantErr)
			}
		})
	}
}

func TestTailBufferKeepsTheLastBytes(t *testing.T) {
	b := &tailBuffer{max: 10}
	for _, s := range []string{"0123456789", "abcdef", "XYZ"} {
		b.Write([]byte(s))
	}
	if got, want := b.tail(100), "9abcdefXYZ"; got != want {
		t.Errorf("tail(100) = %q, want %q", got, want)
	}
	if got := b.tail(3); got != "…XYZ" {
		t.Errorf("tail(3) = %q, want %q", got, "…XYZ")
	}
	if got := b.tail(100); strings.Contains(got, "012345678") {
		t.Errorf("tail kept %q, more than max bytes", got)
	}
}
