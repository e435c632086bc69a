package vendorsim_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/marketplace/settle/testing/vendorsim"
)

// BenchmarkNew measures building the version index, and the heap it holds.
// Run: go test -run '^$' -bench New -benchtime 1x ./testing/vendorsim
func BenchmarkNew(b *testing.B) {
	for _, n := range []int{100_000, 3_000_000} {
		b.Run(fmt.Sprintf("records=%d", n), func(b *testing.B) {
			cfg := vendorsim.Config{Seed: 1, Records: n, From: day0, To: day1, Faults: vendorsim.DefaultFaults(), MetadataBytes: 1400}
			var s *vendorsim.Sim
			for b.Loop() {
				var err error
				if s, err = vendorsim.New(cfg); err != nil {
					b.Fatal(err)
				}
			}
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			b.ReportMetric(float64(s.Versions()), "versions")
			b.ReportMetric(float64(s.IndexBytes())/1e6, "index-MB")
			b.ReportMetric(float64(ms.HeapInuse)/1e6, "heap-MB")
			runtime.KeepAlive(s)
		})
	}
}

// BenchmarkPage serves full pages of 500 production-sized records (about
// 1.7 KB each) and reports the serving rate.
func BenchmarkPage(b *testing.B) {
	s, err := vendorsim.New(vendorsim.Config{
		Seed: 1, Records: 200_000, From: day0, To: day1, Token: testToken, MetadataBytes: 1400,
		Now: func() time.Time { return day1.Add(time.Hour) },
	})
	if err != nil {
		b.Fatal(err)
	}
	for _, gz := range []bool{false, true} {
		b.Run(fmt.Sprintf("gzip=%v", gz), func(b *testing.B) {
			var bytes int
			hour := 0
			for b.Loop() {
				gte := day0.Add(time.Duration(hour%24) * time.Hour)
				hour++
				r := httptest.NewRequest(http.MethodGet, query(gte, gte.Add(time.Hour), 500, ""), nil)
				r.Header.Set("Authorization", "Bearer "+testToken)
				if gz {
					r.Header.Set("Accept-Encoding", "gzip")
				}
				rr := httptest.NewRecorder()
				s.Handler().ServeHTTP(rr, r)
				if rr.Code != http.StatusOK {
					b.Fatalf("status %d", rr.Code)
				}
				bytes = rr.Body.Len()
			}
			b.ReportMetric(float64(b.N*500)/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(bytes), "body-bytes")
		})
	}
}
