package webhook_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"github.com/fsouza/fake-gcs-server/fakestorage"
	"google.golang.org/api/option"

	"github.com/marketplace/settle/io/rawzone"
	"github.com/marketplace/settle/io/rawzone/gcs"
	"github.com/marketplace/settle/io/webhook"
)

var (
	testNow    = time.Date(2026, 11, 25, 14, 3, 7, 412345000, time.UTC)
	testSecret = webhook.Secret("whsec_test_secret_value")
)

func event(id, typ string) []byte {
	return fmt.Appendf(nil, `{"id":%q,"type":%q,"created":"2026-11-25T14:03:07.412345Z","data":{"vendor_txn_id":"st_1","seller_id":"s1","type":"charge","status":"settled","amount":"10.00","fee":"0.00","currency":"EUR","created_at":"2026-11-25T14:00:00Z","updated_at":"2026-11-25T14:03:00Z","settled_at":null,"metadata":{}}}`, id, typ)
}

func newHandler(t *testing.T, store rawzone.Store, secrets ...webhook.Secret) (*webhook.Handler, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	h, err := webhook.NewHandler(store, secrets, webhook.WithClock(func() time.Time { return testNow }),
		webhook.WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	if err != nil {
		t.Fatalf("NewHandler = %v", err)
	}
	return h, &logs
}

func fileStore(t testing.TB) rawzone.Store {
	t.Helper()
	s, err := rawzone.NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func post(t *testing.T, h http.Handler, body []byte, sig string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if sig != "" {
		req.Header.Set(webhook.SignatureHeader, sig)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func landed(t *testing.T, s rawzone.Store) []rawzone.EventObject {
	t.Helper()
	names, err := s.List(t.Context(), "events/")
	if err != nil {
		t.Fatalf("listing events: %v", err)
	}
	var out []rawzone.EventObject
	for _, n := range names {
		data, err := s.Get(t.Context(), n)
		if err != nil {
			t.Fatalf("getting %s: %v", n, err)
		}
		e, err := rawzone.DecodeEvent(data)
		if err != nil {
			t.Fatalf("decoding %s: %v", n, err)
		}
		out = append(out, e)
	}
	return out
}

func TestHandlerAnswersAndLands(t *testing.T) {
	valid := event("evt_1", "settlement.updated")
	big := append([]byte(`{"id":"evt_big","type":"settlement.updated","data":{"metadata":"`), bytes.Repeat([]byte("x"), webhook.MaxBody)...)
	big = append(big, `"}}`...)
	tests := []struct {
		name       string
		body       []byte
		sig        string
		wantStatus int
		wantLanded int
		wantID     string
	}{
		{"a valid event is landed and acknowledged", valid, webhook.Sign(valid, testNow, testSecret), 200, 1, "evt_1"},
		{"a wrong secret gets 401 and lands nothing", valid, webhook.Sign(valid, testNow, webhook.Secret("other")), 401, 0, ""},
		{"a rotation header with the right secret second is landed", valid, webhook.Sign(valid, testNow, webhook.Secret("retired"), testSecret), 200, 1, "evt_1"},
		{"a stale timestamp gets 401", valid, webhook.Sign(valid, testNow.Add(-10*time.Minute), testSecret), 401, 0, ""},
		{"a future timestamp gets 401", valid, webhook.Sign(valid, testNow.Add(10*time.Minute), testSecret), 401, 0, ""},
		{"a missing header gets 401", valid, "", 401, 0, ""},
		{"a tampered body gets 401", bytes.Replace(valid, []byte("10.00"), []byte("99.00"), 1), webhook.Sign(valid, testNow, testSecret), 401, 0, ""},
		{"a body over 1 MiB gets 413", big, webhook.Sign(big, testNow, testSecret), 413, 0, ""},
		{"an unknown event type is landed and acknowledged", event("evt_2", "payout.paid"), webhook.Sign(event("evt_2", "payout.paid"), testNow, testSecret), 200, 1, "evt_2"},
		{"a signed body that is not JSON is landed for quarantine", []byte("not json{"), webhook.Sign([]byte("not json{"), testNow, testSecret), 200, 1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := fileStore(t)
			h, logs := newHandler(t, store, testSecret)
			rec := post(t, h, tt.body, tt.sig)
			if rec.Code != tt.wantStatus {
				t.Errorf("status = %d, want %d (%s)", rec.Code, tt.wantStatus, rec.Body)
			}
			got := landed(t, store)
			if len(got) != tt.wantLanded {
				t.Fatalf("landed %d events, want %d", len(got), tt.wantLanded)
			}
			if len(got) == 1 {
				e := got[0]
				if e.EventID != tt.wantID || !bytes.Equal(e.Body, tt.body) || !e.ReceivedAt.Equal(testNow) || e.Signature != tt.sig {
					t.Errorf("landed %+v, want id %q, the request body, receive time %s and the header", e, tt.wantID, testNow)
				}
			}
			if strings.Contains(logs.String(), string(testSecret)) {
				t.Errorf("log holds the secret:\n%s", logs)
			}
		})
	}
}

func TestHandlerDuplicateDeliveryIsIdempotent(t *testing.T) {
	store := fileStore(t)
	h, _ := newHandler(t, store, testSecret)
	body := event("evt_dup", "settlement.created")
	// The vendor's retry signs again with a later t; a duplicate within a
	// second arrives concurrently.
	var wg sync.WaitGroup
	codes := make([]int, 3)
	for i := range codes {
		wg.Go(func() {
			codes[i] = post(t, h, body, webhook.Sign(body, testNow.Add(time.Duration(i)*time.Second), testSecret)).Code
		})
	}
	wg.Wait()
	for i, c := range codes {
		if c != 200 {
			t.Errorf("delivery %d: status %d, want 200", i, c)
		}
	}
	if got := landed(t, store); len(got) != 1 {
		t.Errorf("landed %d objects for one event delivered 3 times, want 1", len(got))
	}
	if s := h.Stats(); s.Landed != 1 || s.Duplicates != 2 {
		t.Errorf("Stats = %+v, want 1 landed and 2 duplicates", s)
	}
}

// failingStore refuses every write: the handler must not acknowledge.
type failingStore struct{ rawzone.Store }

func (failingStore) PutOnce(context.Context, string, []byte) error {
	return errors.New("disk on fire")
}

func TestHandlerDoesNotAcknowledgeWhatItCouldNotLand(t *testing.T) {
	h, _ := newHandler(t, failingStore{fileStore(t)}, testSecret)
	body := event("evt_1", "settlement.created")
	if rec := post(t, h, body, webhook.Sign(body, testNow, testSecret)); rec.Code/100 == 2 {
		t.Errorf("status = %d after a failed landing, want a non-2xx so the vendor retries", rec.Code)
	}
}

func TestHandlerRefusesGet(t *testing.T) {
	h, _ := newHandler(t, fileStore(t), testSecret)
	req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET status = %d, want 405", rec.Code)
	}
}

// TestHandlerLandsIntoFakeGCS runs the receiver against fake-gcs-server
// (in-process, as the emulator harness does for GCS).
func TestHandlerLandsIntoFakeGCS(t *testing.T) {
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{Scheme: "http", Host: "127.0.0.1"})
	if err != nil {
		t.Fatalf("starting fake-gcs-server: %v", err)
	}
	t.Cleanup(srv.Stop)
	srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: "raw"})
	client, err := storage.NewClient(t.Context(), option.WithEndpoint(srv.URL()+"/storage/v1/"), option.WithoutAuthentication(), storage.WithJSONReads())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	store, err := gcs.NewWithClient(client, "raw", "zone")
	if err != nil {
		t.Fatal(err)
	}
	h, _ := newHandler(t, store, testSecret)
	body := event("evt_gcs", "settlement.created")
	for i := range 2 { // a redelivery hits the does-not-exist precondition
		if rec := post(t, h, body, webhook.Sign(body, testNow.Add(time.Duration(i)*time.Second), testSecret)); rec.Code != 200 {
			t.Fatalf("delivery %d: status %d (%s), want 200", i, rec.Code, rec.Body)
		}
	}
	bad := event("evt_bad", "settlement.created")
	if rec := post(t, h, bad, webhook.Sign(bad, testNow, webhook.Secret("wrong"))); rec.Code != 401 {
		t.Errorf("bad signature: status %d, want 401", rec.Code)
	}
	got := landed(t, store)
	if len(got) != 1 || got[0].EventID != "evt_gcs" || !bytes.Equal(got[0].Body, body) {
		t.Fatalf("landed %+v, want exactly evt_gcs with its body", got)
	}
	list, err := srv.ListObjectsWithOptionsPaginated("raw", fakestorage.ListOptions{Prefix: "zone/events/webhook/date=2026-11-25/hour=14/"})
	if err != nil || len(list.Objects) != 1 {
		t.Errorf("bucket holds %d objects under the hour of receipt (%v), want 1", len(list.Objects), err)
	}
}
