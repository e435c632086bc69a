package main

import (
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
)

// What a Dataflow worker or template launcher starts: this binary.

// selfWorkerBinary returns this executable when it can run on a Dataflow
// worker (linux/amd64, built with cgo off), else "". Beam 2.77 never uses
// the running binary by itself: without --worker_binary it runs `go build`,
// which needs the Go toolchain and this repository (there are neither on a
// template launcher nor on a worker).
func selfWorkerBinary() string {
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		return ""
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	for _, s := range bi.Settings {
		if s.Key == "CGO_ENABLED" && s.Value == "0" {
			if exe, err := os.Executable(); err == nil {
				return exe
			}
		}
	}
	return ""
}

// workerMode reports whether the process was started as a Beam worker
// (the SDK container runs the binary with --worker=true and the harness's
// endpoints). main must then flag.Parse() and call beam.Init(), which runs
// the harness and exits.
func workerMode(args []string) bool {
	for _, a := range args {
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "worker" {
			continue
		}
		if !hasValue {
			return true
		}
		b, err := strconv.ParseBool(value)
		return err == nil && b
	}
	return false
}
