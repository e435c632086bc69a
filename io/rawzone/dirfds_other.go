//go:build !linux

package rawzone

// dirFDs keeps nothing open elsewhere than on Linux (see dirfds_linux.go).
type dirFDs struct{}

func (*dirFDs) close() {}
