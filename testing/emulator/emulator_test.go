package emulator_test

import (
	"errors"
	"net/http"
	"regexp"
	"syscall"
	"testing"

	"github.com/marketplace/settle/testing/emulator"
)

func TestUniqueName(t *testing.T) {
	a, b := emulator.UniqueName(t), emulator.UniqueName(t)
	if a == b {
		t.Errorf("UniqueName twice = %q, %q, want different names", a, b)
	}
	if !regexp.MustCompile(`^testuniquename-[0-9a-f]{8}$`).MatchString(a) {
		t.Errorf("UniqueName = %q, want testuniquename-<8 hex digits>", a)
	}
	t.Run("A long test name with odd characters is cut and cleaned/ÄÖ: yes", func(t *testing.T) {
		got := emulator.UniqueName(t)
		if len(got) > 49 || !regexp.MustCompile(`^[a-z0-9-]+$`).MatchString(got) {
			t.Errorf("UniqueName = %q, want at most 49 bytes of [a-z0-9-]", got)
		}
	})
}

func TestStartFirestoreAnswersAndStopEndsTheProcessGroup(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Java emulator (~5-15 s)")
	}
	p, err := emulator.StartFirestore(t.Context())
	if err != nil {
		emulator.Unavailable(t, "Firestore", err)
	}
	t.Logf("Firestore emulator answered on %s after %s", p.Host, p.Startup)
	resp, err := http.Get("http://" + p.Host + "/")
	if err != nil {
		t.Fatalf("GET / error = %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET / = %s, want 200", resp.Status)
	}
	if err := p.Stop(); err != nil {
		t.Errorf("Stop error = %v", err)
	}
	if err := syscall.Kill(-p.Pid(), 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("signal 0 to watchdog process group %d after Stop = %v, want ESRCH (group gone)", p.Pid(), err)
	}
	if resp, err := http.Get("http://" + p.Host + "/"); err == nil {
		resp.Body.Close()
		t.Errorf("GET / after Stop = %s, want the emulator gone", resp.Status)
	}
	if err := p.Stop(); err != nil {
		t.Errorf("second Stop error = %v, want nil", err)
	}
}
