package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"time"

	"github.com/marketplace/settle/io/rawzone"
	_ "github.com/marketplace/settle/io/rawzone/gcs" // gs:// raw zone
	"github.com/marketplace/settle/io/vendorapi"
	"github.com/marketplace/settle/io/webhook"
)

// webhookSecretEnv holds the signing secret locally (two, comma-separated,
// during a rotation).
const webhookSecretEnv = "VENDOR_WEBHOOK_SECRET"

// cmdWebhook dispatches `settle webhook <sub>`; today only serve.
func cmdWebhook(ctx context.Context, args []string) int {
	if len(args) == 0 || args[0] != "serve" {
		fmt.Fprintln(os.Stderr, "usage: settle webhook serve [--addr :8080] [--data-dir DIR | --raw-zone URI] [--secret-name projects/P/secrets/S]")
		return exitUsage
	}
	return cmdWebhookServe(ctx, args[1:])
}

// cmdWebhookServe serves the webhook receiver until ctx ends (SIGTERM on
// Cloud Run), then drains in-flight requests for up to 9 s.
func cmdWebhookServe(ctx context.Context, args []string) int {
	fs := newFlagSet("webhook serve", "[--addr :8080] [flags]", "Receive the vendor's pushed events and land each in the raw zone before acknowledging it.")
	defAddr := "127.0.0.1:8080"
	if p := os.Getenv("PORT"); p != "" { // Cloud Run
		defAddr = ":" + p
	}
	var landings int
	var addr, dataDir, rawURI, secretName, source, logFormat, cpuProfile string
	fs.StringVar(&addr, "addr", defAddr, "listen address (default :$PORT on Cloud Run)")
	fs.StringVar(&dataDir, "data-dir", "./data", "local data directory; events land in <data-dir>/raw")
	fs.StringVar(&rawURI, "raw-zone", "", "raw zone URI overriding --data-dir (file:///dir or gs://bucket/prefix)")
	fs.StringVar(&secretName, "secret-name", "", "Secret Manager secret of the signing secret(s), comma-separated during a rotation (default: $"+webhookSecretEnv+")")
	fs.StringVar(&source, "source", webhook.DefaultSource, "raw zone source name of pushed events")
	fs.StringVar(&logFormat, "log-format", "text", "text or json")
	fs.IntVar(&landings, "landings", webhook.DefaultLandings, "events landed at once, at most (each holds its body in memory)")
	fs.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the receiver to this `file` (performance work)")
	if err := parse(fs, args); err != nil {
		return fail("webhook serve", err)
	}
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return fail("webhook serve", fmt.Errorf("creating cpu profile: %w", err))
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return fail("webhook serve", fmt.Errorf("starting cpu profile: %w", err))
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	var h slog.Handler = slog.NewTextHandler(os.Stderr, nil)
	if logFormat == "json" {
		h = slog.NewJSONHandler(os.Stderr, nil)
	}
	log := slog.New(h)

	secrets, err := webhookSecrets(ctx, secretName)
	if err != nil {
		return fail("webhook serve", err)
	}
	if rawURI == "" {
		abs, err := filepath.Abs(filepath.Join(dataDir, "raw"))
		if err != nil {
			return fail("webhook serve", fmt.Errorf("resolving --data-dir: %w", err))
		}
		rawURI = "file://" + filepath.ToSlash(abs)
	}
	store, err := rawzone.Open(ctx, rawURI)
	if err != nil {
		return fail("webhook serve", err)
	}
	defer store.Close()
	handler, err := webhook.NewHandler(store, secrets, webhook.WithLogger(log), webhook.WithSource(source), webhook.WithLandings(landings))
	if err != nil {
		return fail("webhook serve", err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /", handler)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       9 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       90 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fail("webhook serve", fmt.Errorf("listening on %s: %w", addr, err))
	}
	log.Info("webhook receiver listening", "addr", ln.Addr().String(), "raw_zone", rawURI, "secrets", len(secrets))
	// Printed for scripts and tests that start the receiver on port 0.
	fmt.Fprintf(os.Stdout, "listening on %s\n", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fail("webhook serve", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 9*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fail("webhook serve", fmt.Errorf("draining: %w", err))
	}
	st := handler.Stats()
	log.Info("webhook receiver stopped", "landed", st.Landed, "duplicates", st.Duplicates, "unauthorized", st.Unauthorized, "too_large", st.TooLarge, "failed", st.Failed)
	return exitOK
}

// webhookSecrets reads the signing secrets from Secret Manager when name is
// set, else from $VENDOR_WEBHOOK_SECRET. Neither the value nor a part of it
// reaches an error or a log.
func webhookSecrets(ctx context.Context, name string) ([]webhook.Secret, error) {
	raw := os.Getenv(webhookSecretEnv)
	if name != "" {
		v, err := vendorapi.TokenFromSecret(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("reading the webhook signing secret: %w", err)
		}
		raw = v
	}
	s, err := webhook.ParseSecrets(raw)
	if err != nil {
		return nil, fmt.Errorf("set %s or --secret-name: %w", webhookSecretEnv, err)
	}
	return s, nil
}
