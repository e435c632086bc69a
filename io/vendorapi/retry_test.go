package vendorapi_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/marketplace/settle/io/vendorapi"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		value  string
		want   time.Duration
		wantOK bool
	}{
		{"delta-seconds", "120", 120 * time.Second, true},
		{"zero delta-seconds", "0", 0, true},
		{"delta-seconds with spaces", " 3 ", 3 * time.Second, true},
		{"the observed fractional form", "2.5", 2500 * time.Millisecond, true},
		{"a fraction without a whole part", ".25", 250 * time.Millisecond, true},
		{"a fraction below a nanosecond is cut", "1.0000000019", time.Second + 1, true},
		{"an IMF-fixdate in the future", now.Add(7 * time.Second).Format(http.TimeFormat), 7 * time.Second, true},
		{"an RFC 850 date", now.Add(time.Minute).Format(time.RFC850), time.Minute, true},
		{"an asctime date", now.Add(30 * time.Second).Format(time.ANSIC), 30 * time.Second, true},
		{"a date in the past means now", now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{"a huge delta is capped at an hour", "99999999999999999999", time.Hour, true},
		{"a day is capped at an hour", "86400", time.Hour, true},
		{"empty is absent", "", 0, false},
		{"a negative delta is unreadable", "-5", 0, false},
		{"an exponent is unreadable", "1e3", 0, false},
		{"infinity is unreadable", "Inf", 0, false},
		{"a lone dot is unreadable", ".", 0, false},
		{"two dots are unreadable", "1.2.3", 0, false},
		{"words are unreadable", "soon", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := vendorapi.ParseRetryAfter(tt.value, now)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("ParseRetryAfter(%q) = %v, %v; want %v, %v", tt.value, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestBackoffIsFullJitterUnderADoublingCeiling(t *testing.T) {
	p := vendorapi.RetryPolicy{BaseDelay: 100 * time.Millisecond, MaxDelay: 2 * time.Second}
	ceilings := []time.Duration{
		100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond,
		1600 * time.Millisecond, 2 * time.Second, 2 * time.Second, 2 * time.Second,
	}
	for i, ceiling := range ceilings {
		retry := i + 1
		if got := p.Backoff(retry, 0); got != 0 {
			t.Errorf("Backoff(%d, 0) = %v, want 0", retry, got)
		}
		if got, want := p.Backoff(retry, 0.5), ceiling/2; got != want {
			t.Errorf("Backoff(%d, 0.5) = %v, want %v", retry, got, want)
		}
		if got := p.Backoff(retry, 0.9999999); got >= ceiling || got < ceiling*99/100 {
			t.Errorf("Backoff(%d, 0.9999999) = %v, want just under %v", retry, got, ceiling)
		}
		if got := p.Backoff(retry, 7); got >= ceiling {
			t.Errorf("Backoff(%d, 7) = %v, want a clamped jitter below %v", retry, got, ceiling)
		}
	}
	if got := p.Backoff(10_000, 0.5); got != time.Second {
		t.Errorf("Backoff(10000, 0.5) = %v, want %v (no overflow)", got, time.Second)
	}
}

func TestDefaultRetryPolicyRidesOutMinutesOfFailure(t *testing.T) {
	p := vendorapi.DefaultRetryPolicy()
	if p.MaxElapsed < 3*time.Minute {
		t.Errorf("default MaxElapsed = %v, want several minutes", p.MaxElapsed)
	}
	// Even with the jitter at its median, the attempts must outlast the
	// time budget, so that time is what ends a default retry loop.
	var total time.Duration
	for n := 1; n < p.MaxAttempts; n++ {
		total += p.Backoff(n, 0.5)
	}
	if total < p.MaxElapsed {
		t.Errorf("median waits of %d attempts sum to %v, want at least MaxElapsed %v", p.MaxAttempts, total, p.MaxElapsed)
	}
}
