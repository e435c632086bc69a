//go:build cgo

package duckdb_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/marketplace/settle/io/warehouse"
	"github.com/marketplace/settle/io/warehouse/duckdb"
)

// BenchmarkStagePromote stages and promotes a day of validated rows (one
// version per id, ~1.7 KB each) into an empty warehouse, then stages and
// promotes the same files again (every row matched, none changed).
// WAREHOUSE_BENCH_ROWS sets the row count (default 20000; the vendor's day
// is about 1800000). Run with -benchtime=1x. It reports peak RSS of the
// Stage+Promote section (Linux).
func BenchmarkStagePromote(b *testing.B) {
	rows := 20000
	if v := os.Getenv("WAREHOUSE_BENCH_ROWS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			b.Fatalf("WAREHOUSE_BENCH_ROWS=%q: %v", v, err)
		}
		rows = n
	}
	dir := b.TempDir()
	files, bytes := writeBenchFiles(b, dir, rows, 16)
	b.Logf("%d rows, %d files, %.1f MB of NDJSON", rows, len(files), float64(bytes)/1e6)
	b.ResetTimer()
	for i := range b.N {
		w, err := duckdb.Open(b.Context(), filepath.Join(dir, fmt.Sprintf("w%d.duckdb", i)), duckdb.DefaultConfig())
		if err != nil {
			b.Fatalf("Open() = %v", err)
		}
		resetPeakRSS(b)
		cpu := cpuSeconds()
		start := time.Now()
		st, err := w.Stage(b.Context(), warehouse.Batch{RunID: "r-1", ValidatedFiles: files})
		if err != nil {
			b.Fatalf("Stage() = %v", err)
		}
		staged := time.Since(start)
		ps, err := w.Promote(b.Context(), "r-1")
		if err != nil {
			b.Fatalf("Promote() = %v", err)
		}
		first := time.Since(start)
		if n := ps.Changed(); st.Validated != int64(rows) || n != int64(rows) {
			b.Fatalf("staged %d, promoted %d, want %d each", st.Validated, n, rows)
		}
		b.ReportMetric(staged.Seconds(), "stage-s")
		b.ReportMetric(first.Seconds(), "stage+promote-s")
		b.ReportMetric(peakRSSMB(b), "peak-rss-MB")
		b.ReportMetric(cpuSeconds()-cpu, "stage+promote-cpu-s")

		start, cpu = time.Now(), cpuSeconds()
		if _, err := w.Stage(b.Context(), warehouse.Batch{RunID: "r-2", ValidatedFiles: files}); err != nil {
			b.Fatalf("Stage(rerun) = %v", err)
		}
		if ps, err := w.Promote(b.Context(), "r-2"); err != nil || ps.Changed() != 0 {
			b.Fatalf("Promote(rerun) = %+v, %v; want no change", ps, err)
		}
		b.ReportMetric(time.Since(start).Seconds(), "rerun-s")
		b.ReportMetric(cpuSeconds()-cpu, "rerun-cpu-s")
		b.ReportMetric(peakRSSMB(b), "peak-rss-rerun-MB")
		if err := w.Close(); err != nil {
			b.Fatalf("Close() = %v", err)
		}
	}
}

func writeBenchFiles(b *testing.B, dir string, rows, nfiles int) (files []string, size int64) {
	b.Helper()
	pad := strings.Repeat("x", 1300)
	for f := range nfiles {
		path := filepath.Join(dir, fmt.Sprintf("validated-%03d.ndjson", f))
		fh, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		bw := bufio.NewWriterSize(fh, 1<<20)
		enc := json.NewEncoder(bw)
		for i := f; i < rows; i += nfiles {
			ts := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * 47 * time.Millisecond)
			order := fmt.Sprintf("ord_%09d", i)
			settledAt := ts.Add(time.Second).Format(time.RFC3339Nano)
			meta, _ := json.Marshal(map[string]any{"channel": "web", "basket": i % 97, "note": pad, "_extra": map[string]string{"k": "v"}})
			s := warehouse.Settlement{
				VendorTxnID: fmt.Sprintf("st_%012d", i), OrderID: &order, SellerID: fmt.Sprintf("sel_%05d", i%5000),
				Type: "charge", Status: "settled", Amount: fmt.Sprintf("%d.%02d", i%100000, i%100), Fee: "0.30",
				Currency: "EUR", CreatedAt: ts.Add(-time.Hour).Format(time.RFC3339Nano), UpdatedAt: ts.Format(time.RFC3339Nano),
				SettledAt: &settledAt, Metadata: string(meta), RunID: "r-ingest",
				RawRef: fmt.Sprintf("pages/vendor/date=2026-03-01/window=20260301T0000Z-20260301T0100Z/page-%05d-0123456789abcdef.json.gz", i/500),
			}
			if err := enc.Encode(s); err != nil {
				b.Fatal(err)
			}
		}
		if err := bw.Flush(); err != nil {
			b.Fatal(err)
		}
		fi, err := fh.Stat()
		if err != nil {
			b.Fatal(err)
		}
		size += fi.Size()
		if err := fh.Close(); err != nil {
			b.Fatal(err)
		}
		files = append(files, path)
	}
	return files, size
}

// cpuSeconds is the user plus system CPU time of this process so far: on a
// shared machine it varies less than wall time.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// resetPeakRSS resets the kernel's high-water mark of this process's RSS.
func resetPeakRSS(b *testing.B) {
	b.Helper()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Logf("cannot reset peak RSS (%v); the figure includes file generation", err)
	}
}

func peakRSSMB(b *testing.B) float64 {
	b.Helper()
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}
