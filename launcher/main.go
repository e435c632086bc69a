// Command settle ingests the payments vendor's settlements into the
// warehouse: run (scheduled), replay (reprocess the raw zone), redrive
// (retry parked windows), refetch (repair damaged windows), deadletters,
// promote (a held batch), runs (the ledger), status (complete and on time
// for finance? a Nagios-style probe), report (the run-history HTML page)
// and vendorsim (the vendor simulator).
//
// Exit status: 0 everything promoted; 2 needs attention (dead letters or a
// held batch; see the summary); 3 another run holds the lease; 1 failure;
// 64 usage (also a range that cannot be read as asked).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/gcs"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"

	"github.com/marketplace/settle/io/warehouse"
	"github.com/marketplace/settle/pipeline"
)

// Exit statuses.
const (
	exitOK        = 0
	exitFailure   = 1
	exitAttention = 2
	exitLeaseHeld = 3
	exitUsage     = 64
)

const usage = `settle — settlement ingestion pipeline

Usage:
  settle run         [flags]   ingest, process and promote a range of windows (default: since the watermark)
  settle replay      --from T --to T [flags]   reprocess the raw zone of those windows; never calls the vendor
  settle redrive     [flags]   retry parked windows from their stored cursor, then process and promote them
  settle refetch     --from T --to T [--all] [--dry-run] [flags]
                               read damaged windows again from the vendor (moves damaged raw objects aside), then process and promote
  settle deadletters [flags]   list parked windows and their dead letters
  settle promote     --run-id ID [flags]       promote a batch that the volume gate held
  settle runs        [flags]   print the runs ledger
  settle status      [--json] [flags]   is the data complete and on time for finance; exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN
  settle report      --out report.html [flags]   one self-contained HTML page: the status and plots of the last 30 days of runs
  settle reconcile   --date D [flags]          recompute day D from the raw zone and compare it with the warehouse
  settle vendorsim   [flags]   serve the vendor simulator
  settle sweep       [--span 6h] [flags]   pull the last hours at 5 req/s, land what the webhooks missed, record the webhook lag
  settle webhook serve [--addr :8080] [flags]   receive the vendor's pushed events into the raw zone ($VENDOR_WEBHOOK_SECRET)
  settle launch      [flags]   the Flex Template's entry: submit the run's one Dataflow job

Run 'settle help <command>' (or 'settle <command> -h') for its flags. The vendor token is read from the
environment variable VENDOR_API_TOKEN and never printed.

Exit status: 0 promoted, 2 needs attention (dead letters or held batch),
3 another run holds the lease, 1 failure, 64 usage.
`

func main() {
	// On a Dataflow worker the binary is started with Beam's --worker
	// flags: parse them, and beam.Init runs the harness (it exits itself).
	if workerMode(os.Args[1:]) {
		flag.Parse()
		beam.Init()
		os.Exit(exitFailure)
	}
	// Prism leaves a file in the temp folder per pipeline: keep them in
	// a folder of our own, removed on the way out.
	restoreTemp, err := pipeline.PrivateTempDir()
	if err != nil {
		fmt.Fprintf(os.Stderr, "settle: %v\n", err)
	}
	beam.Init()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, commandFromEnv(os.Args[1:], os.Getenv))
	stop()
	restoreTemp()
	os.Exit(code)
}

func run(ctx context.Context, args []string) int {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return exitUsage
	}
	cmds := map[string]func(context.Context, []string) int{
		"run":         cmdRun,
		"launch":      cmdLaunch,
		"replay":      cmdReplay,
		"redrive":     cmdRedrive,
		"refetch":     cmdRefetch,
		"deadletters": cmdDeadLetters,
		"promote":     cmdPromote,
		"runs":        cmdRuns,
		"status":      cmdStatus,
		"report":      cmdReport,
		"reconcile":   cmdReconcile,
		"vendorsim":   cmdVendorSim,
		"webhook":     cmdWebhook,
		"sweep":       cmdSweep,
	}
	name, rest := args[0], args[1:]
	switch name {
	case "-h", "-help", "--help", "help":
		if len(rest) == 0 {
			fmt.Fprint(os.Stdout, usage)
			return exitOK
		}
		if _, ok := cmds[rest[0]]; !ok || len(rest) > 1 {
			fmt.Fprintf(os.Stderr, "settle help: unknown command %q: run `settle help` for the list\n", strings.Join(rest, " "))
			return exitUsage
		}
		name, rest = rest[0], []string{"-h"}
	}
	c, ok := cmds[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "settle: unknown command %q: run `settle help` for the list\n", name)
		return exitUsage
	}
	return c(ctx, rest)
}

// fail prints err with what to do next and returns the exit status. A
// warehouse another process has open (DuckDB admits one at a time) is
// another settle command at work, like a held lease: exit 3.
func fail(cmd string, err error) int { return failTo(os.Stderr, cmd, err) }

// failTo is fail, printing to w.
func failTo(w io.Writer, cmd string, err error) int {
	if errors.Is(err, errHelp) {
		return exitOK
	}
	msg := err.Error()
	if errors.Is(err, errUsage) {
		msg = strings.ReplaceAll(msg, ": "+errUsage.Error(), "")
	}
	if errors.Is(err, pipeline.ErrPreflight) {
		msg += " (nothing was started)"
	}
	fmt.Fprintf(w, "settle %s: %s\n", cmd, msg)
	switch {
	case errors.Is(err, errUsage), errors.Is(err, pipeline.ErrInvalidRange):
		return exitUsage
	case errors.Is(err, warehouse.ErrLocked):
		fmt.Fprintln(w, "Another settle command has the warehouse open: wait for it to finish, then run the same command again.")
		return exitLeaseHeld
	}
	return exitFailure
}

var errUsage = errors.New("usage")
