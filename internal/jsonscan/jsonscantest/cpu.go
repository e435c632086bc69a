package jsonscantest

import (
	"runtime"
	"testing"
)

// ReportCPU makes benchmark b also report the CPU time its goroutine's
// thread spent per operation ("cpu-ns/op") and, when bytes > 0, the
// throughput that CPU time gives ("cpu-MB/s"). On a machine shared with
// other work these are steadier than wall-clock ns/op. Call it before the
// benchmark loop; where the platform cannot tell thread CPU time it reports
// nothing.
func ReportCPU(b *testing.B, bytes int64) {
	b.Helper()
	start, ok := threadCPU()
	if !ok {
		return
	}
	runtime.LockOSThread()
	b.Cleanup(func() {
		end, _ := threadCPU()
		runtime.UnlockOSThread()
		if b.N == 0 {
			return
		}
		per := float64(end-start) / float64(b.N)
		b.ReportMetric(per, "cpu-ns/op")
		if bytes > 0 && per > 0 {
			b.ReportMetric(float64(bytes)/per*1e3, "cpu-MB/s")
		}
	})
}
