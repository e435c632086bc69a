package cursorstore

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
)

// Holder identifies the process that holds a lease, so that a later run on
// the same machine can tell a crashed holder from a live one and take its
// lease over at once instead of waiting for it to expire. It is stored in
// the lease document as structured fields.
type Holder struct {
	Host string `json:"host,omitempty"`
	// BootID (/proc/sys/kernel/random/boot_id) and PIDNamespace
	// (/proc/self/ns/pid) make "the same machine" exact: a pid means
	// nothing after a reboot or in another container that happens to
	// share the host name. Empty where the system does not tell.
	BootID       string `json:"boot_id,omitempty"`
	PIDNamespace string `json:"pid_ns,omitempty"`
	PID          int    `json:"pid,omitempty"`
	// StartTicks is the process's start time in clock ticks after boot
	// (field 22 of /proc/<pid>/stat), 0 when unknown. A live process with
	// the holder's pid but another start time is a reused pid: the holder
	// is gone.
	StartTicks uint64 `json:"pid_start,omitempty"`
}

// sameMachine reports whether h and o name processes whose pids can be
// compared: same host, boot and pid namespace.
func (h Holder) sameMachine(o Holder) bool {
	return h.Host != "" && h.PID > 0 && h.Host == o.Host && h.BootID == o.BootID && h.PIDNamespace == o.PIDNamespace
}

// String names the holder for messages: "host pid 123".
func (h Holder) String() string {
	if h.Host == "" && h.PID == 0 {
		return "an unknown process"
	}
	return fmt.Sprintf("%s pid %d", h.Host, h.PID)
}

// ThisProcess returns the Holder of the calling process. It reads /proc once
// per process; fields the system does not provide stay empty.
func ThisProcess() Holder { return thisProcess() }

var thisProcess = sync.OnceValue(func() Holder {
	h := Holder{PID: os.Getpid()}
	h.Host, _ = os.Hostname()
	if b, err := os.ReadFile("/proc/sys/kernel/random/boot_id"); err == nil {
		h.BootID = strings.TrimSpace(string(b))
	}
	if ns, err := os.Readlink("/proc/self/ns/pid"); err == nil {
		h.PIDNamespace = ns
	}
	if st, ok := readProcStat(h.PID); ok {
		h.StartTicks = st.startTicks
	}
	return h
})

// HolderRunning is the default liveness check of AcquireLease: it reports
// false only when h's process is certainly gone: no process has its pid,
// the one that has it is a zombie, or it started at another time (the pid
// was reused). It answers true when it cannot tell, and must only be asked
// about a holder on this machine.
func HolderRunning(h Holder) bool {
	if h.PID <= 0 {
		return true
	}
	if processGone(h.PID) {
		return false
	}
	st, ok := readProcStat(h.PID)
	if !ok {
		return true
	}
	if st.state == 'Z' || st.state == 'X' {
		return false
	}
	return h.StartTicks == 0 || st.startTicks == h.StartTicks
}

type procStat struct {
	state      byte
	startTicks uint64
}

// readProcStat reads the state and start time of pid from /proc (Linux).
func readProcStat(pid int) (procStat, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, false
	}
	// "pid (comm) state ppid ...": comm may hold spaces and parentheses,
	// so the fields start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, false
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); field 22 (starttime) is f[19].
	if len(f) < 20 || len(f[0]) != 1 {
		return procStat{}, false
	}
	start, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return procStat{}, false
	}
	return procStat{state: f[0][0], startTicks: start}, true
}
