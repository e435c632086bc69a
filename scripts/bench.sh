#!/usr/bin/env bash
# make bench: a day at the vendor's volume through bin/settle; prints a
# table of figures (see README "Benchmarks"). Takes several minutes and
# about 6 GB of disk under bench-out/.
set -euo pipefail
cd "$(dirname "$0")/.."
go build -o bin/plainloop ./testing/plainloop
exec go run ./testing/benchday "$@"
