package vendorapi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"
)

// Failure is the last failed request of this process, for progress lines.
type Failure struct {
	Class string    // "connection", "HTTP 503", "malformed page", …
	Err   string    // the error, never holding the token
	At    time.Time // when it failed
}

// failures remembers the last failed request of the process and which
// classes were already logged: a vendor that fails every request logs one
// WARN per class, not one per request.
var failures struct {
	sync.Mutex
	last   Failure
	warned map[string]bool
}

// LastFailure returns the process's last failed request; zero when none.
func LastFailure() Failure {
	failures.Lock()
	defer failures.Unlock()
	return failures.last
}

// observeFailure is the client observer of readPagesFn: it records a
// failed attempt and logs its class the first time it is seen.
func observeFailure(ctx context.Context, ev AttemptEvent) {
	if ev.Err == nil || errors.Is(ev.Err, context.Canceled) {
		return
	}
	class := failureClass(ev)
	failures.Lock()
	failures.last = Failure{Class: class, Err: ev.Err.Error(), At: time.Now()}
	first := !failures.warned[class]
	if first {
		if failures.warned == nil {
			failures.warned = map[string]bool{}
		}
		failures.warned[class] = true
	}
	failures.Unlock()
	if first {
		log.Warnf(ctx, "vendor request failed (%s; logged once per kind of failure, retried per the policy): %v", class, ev.Err)
	}
}

func failureClass(ev AttemptEvent) string {
	switch {
	case ev.RateLimited:
		return fmt.Sprintf("rate limited, HTTP %d", ev.Status)
	case ev.Status/100 == 2:
		return "malformed page"
	case ev.Status != 0:
		return fmt.Sprintf("HTTP %d", ev.Status)
	}
	var ne net.Error
	if errors.As(ev.Err, &ne) && ne.Timeout() {
		return "timeout"
	}
	return "connection"
}
