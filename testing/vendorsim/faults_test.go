package vendorsim_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/marketplace/settle/testing/vendorsim"
)

func TestParseFaults(t *testing.T) {
	withDefault := func(f func(*vendorsim.Faults)) vendorsim.Faults {
		d := vendorsim.DefaultFaults()
		f(&d)
		return d
	}
	tests := []struct {
		name string
		spec string
		want vendorsim.Faults
	}{
		{"an empty spec is none", "", vendorsim.NoFaults()},
		{"none is clean", "none", vendorsim.NoFaults()},
		{"default is the make run mix", "default", vendorsim.DefaultFaults()},
		{"all is every knob", "all", vendorsim.AllFaults()},
		{"a key after a preset overrides it", "default, poison=0.01 ,stickyfor=1m",
			withDefault(func(f *vendorsim.Faults) { f.Poison, f.StickyFor = 0.01, time.Minute })},
		{"a preset after a key replaces it", "rate429=0.5,none", vendorsim.NoFaults()},
		{"keys alone start from none", "rate429=0.05,err5xx=0.03,truncate=0.01",
			vendorsim.Faults{Rate429: 0.05, Err5xx: 0.03, Truncate: 0.01, RetryAfterFormat: vendorsim.RetryAfterDelta}},
		{"poison windows accumulate", "poisonwindow=2025-03-01T01:00:00Z,poisonwindow=2025-03-01T05:30:00Z,poisonpage=2",
			vendorsim.Faults{RetryAfterFormat: vendorsim.RetryAfterDelta, PoisonPage: 2, PoisonWindows: []time.Time{
				time.Date(2025, 3, 1, 1, 0, 0, 0, time.UTC), time.Date(2025, 3, 1, 5, 30, 0, 0, time.UTC)}}},
		{"rate limit and format", "ratelimit=12.5,burst=5,retryformat=fraction",
			vendorsim.Faults{RateLimit: 12.5, Burst: 5, RetryAfterFormat: vendorsim.RetryAfterFraction}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := vendorsim.ParseFaults(tt.spec)
			if err != nil {
				t.Fatalf("ParseFaults(%q): %v", tt.spec, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseFaults(%q) (-want +got):\n%s", tt.spec, diff)
			}
		})
	}
}

func TestParseFaultsRejectsBadSpecs(t *testing.T) {
	for _, spec := range []string{
		"sometimes", "rate429", "rate42=0.1", "rate429=1.5", "rate429=-0.1", "rate429=NaN",
		"stickyfor=30", "stickyfor=-1s", "tiegroup=x", "retryformat=iso", "poisonwindow=yesterday",
		"invalid=0.7,messy=0.7", "ratelimit=-1",
	} {
		if _, err := vendorsim.ParseFaults(spec); !errors.Is(err, vendorsim.ErrBadFaults) {
			t.Errorf("ParseFaults(%q) error = %v, want ErrBadFaults", spec, err)
		}
	}
}

func TestFaultsStringRoundTrips(t *testing.T) {
	for _, spec := range []string{"none", "default", "all", "default,poisonwindow=2025-03-01T01:00:00Z,retryformat=none"} {
		f := mustFaults(t, spec)
		back, err := vendorsim.ParseFaults(f.String())
		if err != nil {
			t.Fatalf("ParseFaults(%q): %v", f.String(), err)
		}
		if diff := cmp.Diff(f, back); diff != "" {
			t.Errorf("%q → %q → (-want +got):\n%s", spec, f.String(), diff)
		}
	}
}

func FuzzParseFaults(f *testing.F) {
	for _, s := range []string{"default", "all,poison=0", "rate429=0.05,err5xx=0.03", "stickyfor=30s", "poisonwindow=2025-03-01T01:00:00Z", ",,", "=", "none,="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		got, err := vendorsim.ParseFaults(spec)
		if err != nil {
			if !errors.Is(err, vendorsim.ErrBadFaults) {
				t.Errorf("ParseFaults(%q) error %v does not wrap ErrBadFaults", spec, err)
			}
			return
		}
		back, err := vendorsim.ParseFaults(got.String())
		if err != nil {
			t.Fatalf("ParseFaults(String() = %q): %v", got.String(), err)
		}
		if diff := cmp.Diff(got, back); diff != "" {
			t.Errorf("%q does not round-trip through %q:\n%s", spec, got.String(), diff)
		}
	})
}
