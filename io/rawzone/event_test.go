package rawzone_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/marketplace/settle/io/rawzone"
)

func TestEventRoundTripAndListing(t *testing.T) {
	s, err := rawzone.NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 25, 14, 59, 59, 0, time.UTC)
	tests := []struct {
		name string
		e    rawzone.EventObject
	}{
		{"an event with a plain id", rawzone.EventObject{Source: "webhook", EventID: "evt_1", ReceivedAt: at, Body: []byte(`{"id":"evt_1"}`)}},
		{"an event with an id unfit for a name", rawzone.EventObject{Source: "webhook", EventID: "evt/../1", ReceivedAt: at.Add(-time.Second), Body: []byte(`{"id":"evt/../1"}`)}},
		{"a body that is not JSON", rawzone.EventObject{Source: "webhook", ReceivedAt: at, Body: []byte{0xff, 'x', 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name, existed, err := rawzone.PutEvent(t.Context(), s, tt.e)
			if err != nil || existed {
				t.Fatalf("PutEvent = %q, %v, %v", name, existed, err)
			}
			ref, err := rawzone.ParseEventName(name)
			if err != nil || ref.Hour != tt.e.ReceivedAt.Truncate(time.Hour) || !rawzone.IsEventName(name) {
				t.Errorf("ParseEventName(%q) = %+v, %v, want hour %s", name, ref, err, tt.e.ReceivedAt.Truncate(time.Hour))
			}
			data, _ := s.Get(t.Context(), name)
			got, err := rawzone.DecodeEvent(data)
			if err != nil || !bytes.Equal(got.Body, tt.e.Body) || got.EventID != tt.e.EventID {
				t.Errorf("DecodeEvent = %+v, %v, want the body and id put", got, err)
			}
			// A redelivery a second later in the same hour is the same object.
			again := tt.e
			again.ReceivedAt = again.ReceivedAt.Add(-time.Second)
			again.Signature = "t=2"
			if n2, existed, err := rawzone.PutEvent(t.Context(), s, again); err != nil || !existed || n2 != name {
				t.Errorf("PutEvent(redelivery) = %q, %v, %v, want %q existing", n2, existed, err, name)
			}
		})
	}
	refs, err := rawzone.ListEventRefs(t.Context(), s, "webhook", at.Truncate(time.Hour), at.Add(time.Minute))
	if err != nil || len(refs) != 3 {
		t.Errorf("ListEventRefs = %d refs, %v, want 3", len(refs), err)
	}
	refs, err = rawzone.ListEventRefs(t.Context(), s, "webhook", at.Add(time.Hour), at.Add(2*time.Hour))
	if err != nil || len(refs) != 0 {
		t.Errorf("ListEventRefs(next hour) = %d refs, %v, want 0", len(refs), err)
	}
	if _, err := rawzone.DecodeEvent([]byte(`{}`)); !errors.Is(err, rawzone.ErrInvalidEvent) {
		t.Errorf("DecodeEvent({}) = %v, want ErrInvalidEvent", err)
	}
}
