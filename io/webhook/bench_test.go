package webhook_test

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/marketplace/settle/io/webhook"
)

// BenchmarkHandler lands signed ~1.7 KB events through the handler into a
// local raw zone, from parallel goroutines (no network): the receiver's
// own cost per event, fsyncs included. make bench-webhook measures the
// whole receiver over HTTP.
func BenchmarkHandler(b *testing.B) {
	store := fileStore(b)
	h, err := webhook.NewHandler(store, []webhook.Secret{testSecret}, webhook.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		b.Fatal(err)
	}
	pad := bytes.Repeat([]byte("m"), 1300)
	var n atomic.Int64
	b.SetParallelism(64)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			body := fmt.Appendf(nil, `{"id":"evt_%d","type":"settlement.updated","data":{"vendor_txn_id":"st_%d","metadata":{"pad":%q}}}`, i, i, pad)
			req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
			req.Header.Set(webhook.SignatureHeader, webhook.Sign(body, time.Now(), testSecret))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != 200 {
				b.Fatalf("status %d", rec.Code)
			}
		}
	})
}
