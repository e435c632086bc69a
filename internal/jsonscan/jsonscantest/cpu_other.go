//go:build !linux

package jsonscantest

func threadCPU() (int64, bool) { return 0, false }
