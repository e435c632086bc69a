package account_test

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/marketplace/settle/io/warehouse"
	"github.com/marketplace/settle/pipeline/account"
)

// balanced is the account of a run of 100 records on 5 pages (one
// unparseable), every bucket used once.
func balanced() warehouse.RunAccount {
	return warehouse.RunAccount{
		RunID: "r-1", Kind: "run",
		PagesListed: 5, PagesRead: 4, PagesQuarantined: 1, PagesLanded: 5,
		RecordsRead: 100, Unkeyed: 3, Duplicates: 17, Winners: 80, Valid: 72, Failed: 8,
		StagedValid: 72, StagedQuar: 12,
		QuarantinedByReason: map[string]int64{"page_unparseable": 1, "vendor_txn_id_missing": 3, "currency_unknown": 8},
		Superseded:          4, Stale: 6, Promoted: 50, Unchanged: 13, Rejected: 7,
	}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name   string
		phase  account.Phase
		change func(a *warehouse.RunAccount)
		want   string // a substring of the error; "" for balanced
	}{
		{"a balanced account passes after promote", account.Promoted, func(*warehouse.RunAccount) {}, ""},
		{"a balanced account passes after staging", account.Staged, func(*warehouse.RunAccount) {}, ""},
		{"an empty run balances", account.Promoted, func(a *warehouse.RunAccount) { *a = warehouse.RunAccount{Kind: "run"} }, ""},
		{"a held run balances with every version held", account.Promoted, account.HoldAll, ""},
		{"a dropped validated file fails after staging", account.Staged, func(a *warehouse.RunAccount) { a.StagedValid -= 9 }, "staged_valid 63 != valid 72"},
		{"a dropped quarantine file fails after staging", account.Staged, func(a *warehouse.RunAccount) { a.StagedQuar -= 3 }, "staged_quarantined 9 != failed + unkeyed + pages_quarantined 12"},
		{"a page processed twice fails", account.Staged, func(a *warehouse.RunAccount) { a.PagesRead++ }, "pages_listed 5 != pages_read + pages_quarantined 6"},
		{"pages landed again (a restarted chain) are information, not a term", account.Staged, func(a *warehouse.RunAccount) { a.PagesLanded = 9 }, ""},
		{"a winner pass two never judged fails", account.Staged, func(a *warehouse.RunAccount) { a.Valid--; a.StagedValid-- }, "winners 80 != valid + failed 79"},
		{"reasons that do not add up fail", account.Staged, func(a *warehouse.RunAccount) { a.QuarantinedByReason["currency_unknown"]-- }, "Σ quarantined_by_reason 11 != staged_quarantined 12"},
		{"a version the promote lost fails after promote", account.Promoted, func(a *warehouse.RunAccount) { a.Unchanged-- },
			"valid + failed 80 != superseded + stale + promoted + unchanged + rejected + held 79"},
		{"the promote buckets are not checked before promote", account.Staged, func(a *warehouse.RunAccount) { a.Unchanged-- }, ""},
		{"a negative bucket fails", account.Staged, func(a *warehouse.RunAccount) { a.Duplicates, a.Winners, a.Valid, a.StagedValid = -1, 98, 90, 90 }, "duplicates -1 < 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := balanced()
			tt.change(&a)
			err := account.Check(a, tt.phase)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Check() = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, account.ErrUnbalanced) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Check() = %v, want ErrUnbalanced naming %q", err, tt.want)
			}
		})
	}
}

func TestBalanceRecordsTheVerdict(t *testing.T) {
	a := balanced()
	if err := account.Balance(&a, account.Promoted); err != nil || !a.Balanced || a.Detail != "" {
		t.Fatalf("Balance(balanced) = %v, Balanced %v, Detail %q; want nil, true, empty", err, a.Balanced, a.Detail)
	}
	a.StagedValid--
	if err := account.Balance(&a, account.Promoted); err == nil || a.Balanced || !strings.Contains(a.Detail, "staged_valid 71 != valid 72") {
		t.Fatalf("Balance(a dropped row) = %v, Balanced %v, Detail %q; want an error, false, the equation", err, a.Balanced, a.Detail)
	}
}

func TestApplyPromoteFillsEveryBucket(t *testing.T) {
	a := balanced()
	account.HoldAll(&a)
	ps := warehouse.PromoteStats{Inserted: 30, Updated: 15, Corrected: 5, Withdrawn: 2, Withheld: 7, Stale: 6, Superseded: 4, Unchanged: 13, Rejected: 7}
	account.ApplyPromote(&a, ps)
	if err := account.Check(a, account.Promoted); err != nil {
		t.Fatalf("Check(after ApplyPromote) = %v", err)
	}
	if a.Promoted != 50 || a.Held != 0 {
		t.Errorf("ApplyPromote: promoted %d held %d, want 50 and 0", a.Promoted, a.Held)
	}
}

// random builds a balanced account from random bucket sizes: the way a
// run fills it, term by term.
func random(r *rand.Rand) warehouse.RunAccount {
	n := func() int64 { return r.Int64N(50) }
	a := warehouse.RunAccount{RunID: "r", Kind: "run"}
	a.PagesRead, a.PagesQuarantined = n(), n()
	a.PagesListed = a.PagesRead + a.PagesQuarantined
	a.PagesLanded = a.PagesListed
	a.Unkeyed, a.Duplicates = n(), n()
	a.Superseded, a.Stale, a.Unchanged = n(), n(), n()
	a.Promoted, a.Rejected = n(), n()
	// Rejected versions failed; so may stale and superseded ones.
	failedStale := r.Int64N(a.Stale + 1)
	failedSuperseded := r.Int64N(a.Superseded + 1)
	a.Failed = a.Rejected + failedStale + failedSuperseded
	a.Valid = a.Superseded + a.Stale + a.Promoted + a.Unchanged + a.Rejected - a.Failed
	if r.IntN(4) == 0 { // held
		account.HoldAll(&a)
	}
	a.Winners = a.Valid + a.Failed
	a.RecordsRead = a.Unkeyed + a.Duplicates + a.Winners
	a.StagedValid, a.StagedQuar = a.Valid, a.Failed+a.Unkeyed+a.PagesQuarantined
	a.QuarantinedByReason = map[string]int64{"page_unparseable": a.PagesQuarantined, "vendor_txn_id_missing": a.Unkeyed, "amount_invalid": a.Failed}
	return a
}

// TestEveryTermCounts is the property: an account built from any
// partition balances, and moving any single term by one unbalances it
// (except pages_landed, which is information).
func TestEveryTermCounts(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 300 {
		a := random(r)
		if err := account.Check(a, account.Promoted); err != nil {
			t.Fatalf("round %d: Check(%+v) = %v, want balanced", round, a, err)
		}
		v := reflect.ValueOf(&a).Elem()
		for i := range v.NumField() {
			f := v.Field(i)
			if f.Kind() != reflect.Int64 {
				continue
			}
			name := v.Type().Field(i).Name
			for _, d := range []int64{-1, 1} {
				if name == "PagesLanded" {
					continue
				}
				f.SetInt(f.Int() + d)
				if err := account.Check(a, account.Promoted); err == nil {
					t.Errorf("round %d: %s moved by %d, Check() = nil, want unbalanced", round, name, d)
				}
				f.SetInt(f.Int() - d)
			}
		}
	}
}
