// Package webhook receives the vendor's pushed settlement events: it checks
// each request's signature and lands its raw body in the raw zone before it
// acknowledges it (see ../shared/vendor-webhooks.md).
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// SignatureHeader is the header that carries the vendor's signature.
const SignatureHeader = "Vendor-Signature"

// Tolerance is the largest difference between a signature's timestamp and
// the receiver's clock that is accepted, either way (replay protection).
const Tolerance = 5 * time.Minute

// Errors of Verify. None of them holds a secret or a signature value.
var (
	// ErrNoSignature is returned when the header is absent or empty.
	ErrNoSignature = errors.New("no signature header")
	// ErrMalformedSignature is returned for a header without one t= and at
	// least one v1=.
	ErrMalformedSignature = errors.New("malformed signature header")
	// ErrStaleSignature is returned for a timestamp more than Tolerance
	// away from now, in the past or the future.
	ErrStaleSignature = errors.New("signature timestamp outside tolerance")
	// ErrBadSignature is returned when no v1 value matches any secret.
	ErrBadSignature = errors.New("signature does not match")
	// ErrNoSecret is returned by ParseSecrets for an empty list.
	ErrNoSecret = errors.New("no webhook signing secret")
)

// Secret is one signing secret. Its String and LogValue never show it.
type Secret []byte

// String redacts the secret.
func (Secret) String() string { return "[redacted]" }

// LogValue redacts the secret in slog output.
func (Secret) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// ParseSecrets splits a comma-separated list of secrets (two during a
// rotation) and drops surrounding white space. Returns ErrNoSecret if none
// is left; the error never repeats the value.
func ParseSecrets(list string) ([]Secret, error) {
	var out []Secret
	for s := range strings.SplitSeq(list, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, Secret(s))
		}
	}
	if len(out) == 0 {
		return nil, ErrNoSecret
	}
	return out, nil
}

// Sign returns the Vendor-Signature header value for body at time t, with
// one v1 value per secret (as the vendor sends it during a rotation).
func Sign(body []byte, t time.Time, secrets ...Secret) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	var b strings.Builder
	b.WriteString("t=" + ts)
	for _, s := range secrets {
		b.WriteString(",v1=")
		b.WriteString(hex.EncodeToString(mac(s, ts, body)))
	}
	return b.String()
}

func mac(secret Secret, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks header against body with any of secrets at now: the header's
// t must be within Tolerance of now, and one of its v1 values must equal
// the HMAC-SHA256 of "<t>.<body>" under one of the secrets, compared in
// constant time. It returns the signed time. Returns ErrNoSignature,
// ErrMalformedSignature, ErrStaleSignature or ErrBadSignature (wrapped).
func Verify(header string, body []byte, now time.Time, secrets []Secret) (time.Time, error) {
	if strings.TrimSpace(header) == "" {
		return time.Time{}, ErrNoSignature
	}
	var ts string
	var sigs [][]byte
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		switch k {
		case "t":
			if ts != "" {
				return time.Time{}, fmt.Errorf("verifying signature: two timestamps: %w", ErrMalformedSignature)
			}
			ts = v
		case "v1":
			if sig, err := hex.DecodeString(v); err == nil && len(sig) == sha256.Size {
				sigs = append(sigs, sig)
			}
		}
	}
	if ts == "" || len(sigs) == 0 {
		return time.Time{}, fmt.Errorf("verifying signature: want t= and v1=: %w", ErrMalformedSignature)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sec < 0 {
		return time.Time{}, fmt.Errorf("verifying signature: timestamp is not unix seconds: %w", ErrMalformedSignature)
	}
	signed := time.Unix(sec, 0).UTC()
	if d := now.Sub(signed); d > Tolerance || d < -Tolerance {
		return time.Time{}, fmt.Errorf("verifying signature: signed %s, %s from now: %w", signed.Format(time.RFC3339), d.Round(time.Second), ErrStaleSignature)
	}
	// Every candidate is compared, whatever matched, so the time taken does
	// not say which secret or value matched.
	match := 0
	for _, s := range secrets {
		want := mac(s, ts, body)
		for _, sig := range sigs {
			match |= subtle.ConstantTimeCompare(want, sig)
		}
	}
	if match == 0 {
		return time.Time{}, fmt.Errorf("verifying signature: %w", ErrBadSignature)
	}
	return signed, nil
}
