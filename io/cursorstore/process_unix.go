//go:build unix

package cursorstore

import (
	"errors"
	"syscall"
)

// processGone reports whether no process has pid (kill(pid, 0) says ESRCH).
func processGone(pid int) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}
