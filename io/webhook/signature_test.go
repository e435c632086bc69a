package webhook_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/marketplace/settle/io/webhook"
)

func TestVerify(t *testing.T) {
	now := time.Date(2026, 11, 25, 14, 3, 7, 0, time.UTC)
	body := []byte(`{"id":"evt_1","type":"settlement.updated","data":{}}`)
	oldS, newS := webhook.Secret("whsec_old"), webhook.Secret("whsec_new")
	tests := []struct {
		name    string
		header  string
		body    []byte
		secrets []webhook.Secret
		want    error
	}{
		{"a valid signature passes", webhook.Sign(body, now, newS), body, []webhook.Secret{newS}, nil},
		{"a signature by another secret is refused", webhook.Sign(body, now, webhook.Secret("wrong")), body, []webhook.Secret{newS}, webhook.ErrBadSignature},
		{"during a rotation the old secret's value passes", webhook.Sign(body, now, oldS, newS), body, []webhook.Secret{oldS}, nil},
		{"during a rotation the new secret's value passes", webhook.Sign(body, now, oldS, newS), body, []webhook.Secret{newS}, nil},
		{"a receiver holding both secrets takes a header signed by the new one only", webhook.Sign(body, now, newS), body, []webhook.Secret{oldS, newS}, nil},
		{"a timestamp 6 minutes old is refused", webhook.Sign(body, now.Add(-6*time.Minute), newS), body, []webhook.Secret{newS}, webhook.ErrStaleSignature},
		{"a timestamp 6 minutes ahead is refused", webhook.Sign(body, now.Add(6*time.Minute), newS), body, []webhook.Secret{newS}, webhook.ErrStaleSignature},
		{"a timestamp 4 minutes off passes", webhook.Sign(body, now.Add(-4*time.Minute), newS), body, []webhook.Secret{newS}, nil},
		{"a missing header is refused", "", body, []webhook.Secret{newS}, webhook.ErrNoSignature},
		{"a header without v1 is refused", "t=1795615387", body, []webhook.Secret{newS}, webhook.ErrMalformedSignature},
		{"a header without t is refused", "v1=" + strings.Repeat("ab", 32), body, []webhook.Secret{newS}, webhook.ErrMalformedSignature},
		{"a tampered body is refused", webhook.Sign(body, now, newS), []byte(strings.Replace(string(body), "evt_1", "evt_2", 1)), []webhook.Secret{newS}, webhook.ErrBadSignature},
		{"a signature of another timestamp is refused", strings.Replace(webhook.Sign(body, now, newS), "t=", "t=1", 1), body, []webhook.Secret{newS}, webhook.ErrStaleSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := webhook.Verify(tt.header, tt.body, now, tt.secrets)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Errorf("Verify(%q) = %v, want %v", tt.header, err, tt.want)
			}
		})
	}
}

func TestVerifyShiftedTimestampWithinToleranceIsRefused(t *testing.T) {
	now := time.Date(2026, 11, 25, 14, 3, 7, 0, time.UTC)
	body := []byte(`{}`)
	s := webhook.Secret("k")
	h := webhook.Sign(body, now, s)
	// The same v1 under a t one second later: the HMAC covers t.
	shifted := strings.Replace(h, "t=1795615387", "t=1795615388", 1)
	if shifted == h {
		t.Fatalf("test setup: header %q has no t=1795615387", h)
	}
	if _, err := webhook.Verify(shifted, body, now, []webhook.Secret{s}); !errors.Is(err, webhook.ErrBadSignature) {
		t.Errorf("Verify(shifted t) = %v, want ErrBadSignature", err)
	}
}

func TestParseSecrets(t *testing.T) {
	got, err := webhook.ParseSecrets(" a , b ,")
	if err != nil || len(got) != 2 || string(got[0]) != "a" || string(got[1]) != "b" {
		t.Errorf("ParseSecrets = %q, %v, want [a b]", got, err)
	}
	if _, err := webhook.ParseSecrets(" , "); !errors.Is(err, webhook.ErrNoSecret) {
		t.Errorf("ParseSecrets(empty) = %v, want ErrNoSecret", err)
	}
	if s := webhook.Secret("topsecret").String(); strings.Contains(s, "topsecret") {
		t.Errorf("Secret.String() = %q, shows the secret", s)
	}
}
