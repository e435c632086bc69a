package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/marketplace/settle/pipeline"
	"github.com/marketplace/settle/pipeline/promfile"
)

// addMetricsFileFlag declares --metrics-file, for run, replay, redrive and
// refetch.
func addMetricsFileFlag(fs *flagSet, path *string) {
	fs.group(sectionOutput, func(fs *flag.FlagSet) {
		fs.StringVar(path, "metrics-file", "", "write the run's figures to this `file` in the Prometheus text format, replaced atomically (node_exporter textfile collector: name it *.prom in its directory)")
	})
}

// writeMetricsFile writes the run's figures to path when it is set. A
// failure to write is reported on stderr and does not change the exit
// status: the run's own outcome is what matters.
func writeMetricsFile(path, source string, sum pipeline.Summary, runErr error) {
	if path == "" || sum.Kind == "" {
		return
	}
	if err := promfile.Write(path, source, sum, runErr, float64(time.Now().UnixMilli())/1000); err != nil {
		fmt.Fprintf(os.Stderr, "settle: %v\n", err)
	}
}
