package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	history "github.com/marketplace/settle/pipeline/report"
	"github.com/marketplace/settle/pipeline/status"
)

// cmdReport writes the run-history report: one self-contained HTML page
// with the status at the top and plots of the last --days of runs. It
// exits like `settle status` (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN), and
// 1 (or 64) if it could not write the page.
func cmdReport(ctx context.Context, args []string) int {
	fs := newFlagSet("report", "--out report.html [flags]",
		"Write one self-contained HTML page: the status, then plots of the last days of runs (volume against its band, freshness against the deadline, 429s and retries, dead letters, quarantine by reason).")
	var (
		b    backendFlags
		o    outputFlags
		p    processingFlags
		s    statusFlags
		out  string
		days int
	)
	fs.StringVar(&out, "out", "report.html", "the HTML `file` to write (replaced atomically)")
	fs.IntVar(&days, "days", 30, "days of runs plotted")
	addStatusFlags(fs, &s)
	addBackendFlags(fs, &b)
	addProcessingFlags(fs, &p)
	addLogFlags(fs, &o)
	if err := parse(fs, args); err != nil {
		return fail("report", err)
	}
	if days < 1 {
		return fail("report", usageErr("--days=%d: want at least 1", days))
	}
	th, err := s.thresholds()
	if err != nil {
		return fail("report", err)
	}
	cfg, err := b.config(&p, &o)
	if err != nil {
		return fail("report", err)
	}
	o.logger()
	in, err := status.Gather(ctx, cfg, openWarehouseReadOnly, s.history)
	if err != nil {
		return fail("report", err)
	}
	now := s.clock()
	st := status.Evaluate(in, th, now)
	d := history.Data{Status: st, Runs: in.Runs, Metrics: in.Metrics, Now: now, Days: days,
		VolumeBand: cfg.VolumeBand, VolumeHistory: cfg.VolumeHistory}
	if err := writeAtomic(out, func(f *os.File) error { return history.Write(f, d) }); err != nil {
		return fail("report", err)
	}
	fmt.Fprintf(os.Stdout, "%s: %s\nwrote %s\n", st.Level, st.Summary, out)
	return int(st.Level)
}

// writeAtomic writes path through a temporary file in its directory,
// renamed over it once complete: a reader sees the old or the new file,
// never a part (the node_exporter textfile convention).
func writeAtomic(path string, write func(*os.File) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	tmp := f.Name()
	if err := write(f); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
