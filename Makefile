# The README's two commands: `make run` (the main job on the embedded
# default) and `make test` (every test, emulators included).
SHELL := /bin/bash
GO ?= go
BIN := bin/settle
# A fixed simulated day, so `make run` is repeatable (and rerunnable).
RUN_FROM ?= 2026-11-01T00:00:00Z
RUN_TO ?= 2026-11-02T00:00:00Z
RUN_RECORDS ?= 20000
DATA_DIR ?= ./data
TEST_TIMEOUT ?= 25m
TEST_FLAGS ?= -race -shuffle=on

.PHONY: run build test test-short test-bq-split test-property bench bench-webhook fuzz vet lint fmt fmt-check check worker tidy-check clean report-check

## build: the settle binary. A first build on a fresh machine compiles DuckDB
## (cgo, C++) and Beam: about 9 minutes on 2 cores, silent; later builds take
## seconds from Go's build cache.
build:
	@if [ ! -x $(BIN) ]; then echo "building $(BIN): a first build compiles DuckDB (cgo) and Beam, about 9 minutes on 2 cores; later builds take seconds"; fi
	$(GO) build -o $(BIN) ./launcher

## run: the main job on the embedded default (prism, local files, DuckDB, in-process vendor simulator with its default faults)
run: build
	./$(BIN) run --simulate --sim-records=$(RUN_RECORDS) --from=$(RUN_FROM) --to=$(RUN_TO) --data-dir=$(DATA_DIR)

## test: every test. The packages that need the Firestore emulator (gcloud)
## and the BigQuery emulator (bqemulator from PyPI, installed once into
## .cache/) start them on free loopback ports in TestMain and stop them
## when the package ends, failed or not. CI=true turns a missing emulator
## from a loud skip into a failure.
test:
	$(GO) test $(TEST_FLAGS) -timeout $(TEST_TIMEOUT) ./...

test-short:
	$(GO) test -short ./...

## test-bq-split: BigQuery load jobs split at the real 10,000-URI limit:
## 25,000 staged files on the emulator (two Stages and a promote: 71 s on a
## quiet 2-core machine, 2026-12-02; far longer under load;
## make test stages 25 files with the limit lowered to 10)
test-bq-split:
	SETTLE_BQ_FULL_SPLIT=1 $(GO) test -count=1 -timeout 60m -run 'TestStageSplitsLoadJobs' -v ./io/warehouse/bigquery/

## test-property: the batching, order and crash property over many seeded
## days (make test runs one); SETTLE_PROPERTY_SEED=N reruns a failed one.
PROPERTY_SEEDS ?= 20
test-property:
	SETTLE_PROPERTY_SEEDS=$(PROPERTY_SEEDS) $(GO) test -count=1 -timeout 60m -run 'TestAnyCutAnyOrderAnyCrash' -v ./launcher/

## bench-webhook: the webhook receiver (bin/settle webhook serve, local raw
## zone) under an open-loop load of signed events; prints events/s and the
## ack latency p50/p90/p99/max measured from each event's scheduled send time.
WEBHOOK_RATE ?= 2000
WEBHOOK_DURATION ?= 20s
bench-webhook: build
	$(GO) run ./testing/benchwebhook --bin $(BIN) --rate $(WEBHOOK_RATE) --duration $(WEBHOOK_DURATION)

## bench: a day at the vendor's volume (see README "Benchmarks")
bench: build
	./scripts/bench.sh

fuzz:
	$(GO) test -run='^$$' -fuzz=FuzzParsePage -fuzztime=30s ./io/vendorapi
	$(GO) test -run='^$$' -fuzz=FuzzParseRecord -fuzztime=30s ./transforms/parse
	$(GO) test -run='^$$' -fuzz=FuzzDecodePage -fuzztime=30s ./io/rawzone
	$(GO) test -run='^$$' -fuzz=FuzzPeekEventMatchesEncodingJSON -fuzztime=30s ./io/webhook
	$(GO) test -run='^$$' -fuzz=FuzzVerify -fuzztime=30s ./io/webhook

vet:
	$(GO) vet ./...

## lint: staticcheck, pinned by the tool directive in go.mod (no install step)
lint:
	$(GO) tool staticcheck ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

tidy-check:
	$(GO) mod tidy && git diff --exit-code go.mod go.sum

## worker: the Dataflow worker binary (cgo off, linux/amd64)
worker:
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build -o bin/worker ./launcher

## report-check: `settle report` of a small simulated run, screenshotted by a
## real headless browser (Debian's chromium); not part of make test.
REPORT_DIR ?= .cache/report-check
report-check: build
	rm -rf $(REPORT_DIR) && mkdir -p $(REPORT_DIR)
	./$(BIN) run --simulate --sim-records=2000 --from=2026-11-01T00:00:00Z --to=2026-11-01T06:00:00Z --data-dir=$(REPORT_DIR)/data --quiet >/dev/null
	./$(BIN) report --data-dir=$(REPORT_DIR)/data --out=$(REPORT_DIR)/report.html || test $$? -le 3 # the status level: 0..3
	@browser=$$(command -v chromium || command -v chromium-browser || command -v google-chrome || true); \
	if [ -z "$$browser" ]; then \
		echo ""; echo "*****************************************************************"; \
		echo "*** report-check: CHROMIUM IS NOT INSTALLED: NO SCREENSHOT TAKEN."; \
		echo "*** Install it (apt-get install chromium) and run make report-check again."; \
		echo "*** The report is at $(REPORT_DIR)/report.html"; \
		echo "*****************************************************************"; exit 1; fi; \
	"$$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=900,2400 \
		--screenshot=$(abspath $(REPORT_DIR))/report.png file://$(abspath $(REPORT_DIR))/report.html && \
	test -s $(REPORT_DIR)/report.png && echo "screenshot: $(REPORT_DIR)/report.png"

check: fmt-check vet lint test worker tidy-check

# Deployment: Flex Template, Terraform, scheduler (launcher/deploy/README.md).
include launcher/deploy/deploy.mk

clean:
	rm -rf bin $(DATA_DIR) .cache/emulators bench-webhook-out bench-webhook-out.trash
