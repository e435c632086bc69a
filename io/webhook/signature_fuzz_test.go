package webhook_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/marketplace/settle/io/webhook"
)

// FuzzVerify: Verify reads a header the network hands us. For any header
// and body it returns without panicking; it accepts only a timestamp
// within Tolerance of now; a header it accepts for one body is refused for
// any other body; and a header Sign made for the body is accepted.
func FuzzVerify(f *testing.F) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	secrets := []webhook.Secret{webhook.Secret("whsec_current"), webhook.Secret("whsec_previous")}
	body := []byte(`{"id":"evt_1","type":"settlement.updated"}`)
	f.Add(webhook.Sign(body, now, secrets[0]), body, int64(0))
	f.Add(webhook.Sign(body, now.Add(-4*time.Minute), secrets[1]), body, int64(1))
	f.Add("t=1764676800,v1=00", body, int64(0))
	f.Add("t=,v1=,v1=zz,,=", []byte{}, int64(-1))
	f.Add("v1=abc,t=99999999999999999999", body, int64(0))
	f.Fuzz(func(t *testing.T, header string, b []byte, skewSeconds int64) {
		signed, err := webhook.Verify(header, b, now, secrets)
		if err == nil {
			if d := now.Sub(signed); d > webhook.Tolerance || d < -webhook.Tolerance {
				t.Errorf("Verify accepted a signature made at %s, %s from now", signed, d)
			}
			other := append(bytes.Clone(b), 'x')
			if _, err := webhook.Verify(header, other, now, secrets); err == nil {
				t.Errorf("header %q accepted for %q and for %q", header, b, other)
			}
		}
		at := now.Add(time.Duration(skewSeconds%int64(webhook.Tolerance/time.Second)) * time.Second)
		if _, err := webhook.Verify(webhook.Sign(b, at, secrets[skewSeconds&1]), b, now, secrets); err != nil {
			t.Errorf("a signature Sign made %s ago is refused: %v", now.Sub(at), err)
		}
	})
}
