package rawzone_test

import (
	"errors"
	"testing"
	"time"

	"github.com/marketplace/settle/io/rawzone"
)

// TestPutRefusesOtherContentUnderItsName: a page or event whose name holds
// another object (other content, or bytes that do not decode) is not
// written and not counted as written; the error wraps ErrContentMismatch.
func TestPutRefusesOtherContentUnderItsName(t *testing.T) {
	at := time.Date(2026, 11, 25, 14, 30, 0, 0, time.UTC)
	ev := rawzone.EventObject{Source: "webhook", EventID: "evt_1", ReceivedAt: at, Body: []byte(`{"id":"evt_1"}`)}
	p := samplePage(t)
	tests := []struct {
		name   string
		stored func(name string) []byte
		put    func(s rawzone.Store) (string, bool, error)
		encode func() (string, error)
	}{
		{"an event over undecodable bytes",
			func(string) []byte { return []byte("not an event") },
			func(s rawzone.Store) (string, bool, error) { return rawzone.PutEvent(t.Context(), s, ev) },
			func() (string, error) { n, _, err := rawzone.EncodeEvent(ev); return n, err }},
		{"an event over another event of the same name",
			func(string) []byte {
				other := ev
				other.Body = []byte(`{"id":"evt_1","x":1}`)
				_, data, err := rawzone.EncodeEvent(other)
				if err != nil {
					t.Fatal(err)
				}
				return data
			},
			func(s rawzone.Store) (string, bool, error) { return rawzone.PutEvent(t.Context(), s, ev) },
			func() (string, error) { n, _, err := rawzone.EncodeEvent(ev); return n, err }},
		{"a page over undecodable bytes",
			func(string) []byte { return []byte("not a page") },
			func(s rawzone.Store) (string, bool, error) { return rawzone.PutPage(t.Context(), s, p) },
			func() (string, error) { n, _, err := rawzone.EncodePage(p); return n, err }},
		{"a page over another page of the same name",
			func(string) []byte {
				other := p
				other.Page++
				_, data, err := rawzone.EncodePage(other)
				if err != nil {
					t.Fatal(err)
				}
				return data
			},
			func(s rawzone.Store) (string, bool, error) { return rawzone.PutPage(t.Context(), s, p) },
			func() (string, error) { n, _, err := rawzone.EncodePage(p); return n, err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newFileStore(t)
			name, err := tt.encode()
			if err != nil {
				t.Fatal(err)
			}
			if err := s.PutOnce(t.Context(), name, tt.stored(name)); err != nil {
				t.Fatal(err)
			}
			got, existed, err := tt.put(s)
			if !errors.Is(err, rawzone.ErrContentMismatch) || existed {
				t.Errorf("put over other content = %q, existed %v, %v; want an error wrapping ErrContentMismatch", got, existed, err)
			}
		})
	}
}
