package truthcheck

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/marketplace/settle/io/rawzone"
	"github.com/marketplace/settle/io/vendorapi"
	"github.com/marketplace/settle/io/warehouse"
	"github.com/marketplace/settle/testing/vendorsim"
	"github.com/marketplace/settle/transforms/gate"
	"github.com/marketplace/settle/transforms/parse"
)

// Version is one version of a settlement found in the raw zone, with the
// verdict of the row rules.
type Version struct {
	ID        string
	UpdatedAt time.Time
	Digest    string // hex of the first 16 bytes of SHA-256 of the record's bytes
	RawRef    string // the smallest raw object name holding the version
	Row       warehouse.Settlement
	Reason    string // "" when the row rules pass
}

// Fold is what the warehouse must hold for a raw zone: per vendor_txn_id
// the newest version (by updated_at, then digest); its row when valid, its
// reason when not.
type Fold struct {
	Settlements map[string]Version
	Withheld    map[string]Version
	Versions    int // distinct versions seen
	Records     int // records read, copies included
	Unkeyed     int // records without a usable id and updated_at
}

// FoldRawZone reads every page object of source in the raw zone at uri and
// folds its records with the rules, written here as plainly as the rule
// says, independently of the pipeline's dedup and merge: the pipeline's
// parsing and row rules are used to judge a record, and nothing else.
func FoldRawZone(t testing.TB, uri, source string, rules gate.Rules) Fold {
	t.Helper()
	raw, err := rawzone.Open(t.Context(), uri)
	if err != nil {
		t.Fatalf("opening raw zone %s: %v", uri, err)
	}
	defer raw.Close()
	names, err := raw.List(t.Context(), "pages/"+source+"/")
	if err != nil {
		t.Fatalf("listing raw zone: %v", err)
	}
	f := Fold{Settlements: map[string]Version{}, Withheld: map[string]Version{}}
	newest := map[string]Version{}
	seen := map[string]bool{}
	for _, name := range names {
		data, err := raw.Get(t.Context(), name)
		if err != nil {
			t.Fatalf("reading %s: %v", name, err)
		}
		obj, err := rawzone.DecodePage(data)
		if err != nil {
			t.Fatalf("decoding %s: %v", name, err)
		}
		env, err := vendorapi.ParsePage(obj.Body)
		if err != nil {
			continue // a page the vendor sent broken: quarantined whole, no versions
		}
		for _, rec := range env.Records {
			f.Records++
			id, updatedNanos, err := parse.Key(rec)
			if err != nil {
				f.Unkeyed++
				continue
			}
			sum := sha256.Sum256(rec)
			v := Version{ID: id, UpdatedAt: time.Unix(0, updatedNanos).UTC(), Digest: hex.EncodeToString(sum[:16]), RawRef: name}
			if !seen[id+"@"+v.Digest] {
				seen[id+"@"+v.Digest] = true
				f.Versions++
			}
			parsed, err := parse.ParseRecord(rec)
			if err != nil {
				v.Reason = parse.ReasonOf(err)
				if v.Reason == "" {
					v.Reason = parse.ReasonRecordNotObject
				}
			} else {
				v.Row, v.Reason = gate.Check(parsed, rules)
			}
			cur, ok := newest[id]
			switch {
			case !ok || v.UpdatedAt.After(cur.UpdatedAt) || (v.UpdatedAt.Equal(cur.UpdatedAt) && v.Digest > cur.Digest):
				newest[id] = v
			case v.UpdatedAt.Equal(cur.UpdatedAt) && v.Digest == cur.Digest && name < cur.RawRef:
				cur.RawRef = name
				newest[id] = cur
			}
		}
	}
	for id, v := range newest {
		if v.Reason == "" {
			f.Settlements[id] = v
		} else {
			f.Withheld[id] = v
		}
	}
	return f
}

// CompareFold reports every difference between what a warehouse holds
// (read through its readers) and the fold. It returns the number of
// differences.
func CompareFold(t testing.TB, f Fold, settlements []warehouse.Settlement, withheld []warehouse.Withheld) int {
	t.Helper()
	var diffs []string
	got := map[string]warehouse.Settlement{}
	for _, s := range settlements {
		got[s.VendorTxnID] = s
		want, ok := f.Settlements[s.VendorTxnID]
		if !ok {
			if h, held := f.Withheld[s.VendorTxnID]; held {
				diffs = append(diffs, fmt.Sprintf("%s: settlements holds version %s, but its newest version %s failed (%s)", s.VendorTxnID, s.UpdatedAt, h.UpdatedAt.Format(time.RFC3339Nano), h.Reason))
			} else {
				diffs = append(diffs, fmt.Sprintf("%s: in settlements, not in the raw zone", s.VendorTxnID))
			}
			continue
		}
		updated, err := time.Parse(time.RFC3339Nano, s.UpdatedAt)
		switch {
		case err != nil || !updated.Equal(want.UpdatedAt) || s.VersionDigest != want.Digest:
			diffs = append(diffs, fmt.Sprintf("%s: settlements holds version %s/%s, want the newest %s/%s", s.VendorTxnID, s.UpdatedAt, s.VersionDigest, want.UpdatedAt.Format(time.RFC3339Nano), want.Digest))
		case !vendorsim.DecimalEqual(s.Amount, want.Row.Amount) || !vendorsim.DecimalEqual(s.Fee, want.Row.Fee) ||
			s.Status != want.Row.Status || s.Currency != want.Row.Currency || s.SellerID != want.Row.SellerID:
			diffs = append(diffs, fmt.Sprintf("%s: row %s %s %s %s, want %s %s %s %s", s.VendorTxnID, s.Amount, s.Currency, s.Status, s.SellerID, want.Row.Amount, want.Row.Currency, want.Row.Status, want.Row.SellerID))
		case s.RawRef != want.RawRef:
			diffs = append(diffs, fmt.Sprintf("%s: raw_ref %s, want the first copy %s", s.VendorTxnID, s.RawRef, want.RawRef))
		}
	}
	for id := range f.Settlements {
		if _, ok := got[id]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s: missing from settlements (newest version %s)", id, f.Settlements[id].UpdatedAt.Format(time.RFC3339Nano)))
		}
	}
	held := map[string]warehouse.Withheld{}
	for _, h := range withheld {
		held[h.VendorTxnID] = h
		want, ok := f.Withheld[h.VendorTxnID]
		updated, err := time.Parse(time.RFC3339Nano, h.UpdatedAt)
		if !ok || err != nil || !updated.Equal(want.UpdatedAt) || h.VersionDigest != want.Digest || h.Reason != want.Reason {
			diffs = append(diffs, fmt.Sprintf("%s: withheld at %s/%s for %q, want %v", h.VendorTxnID, h.UpdatedAt, h.VersionDigest, h.Reason, want))
		}
	}
	for id, v := range f.Withheld {
		if _, ok := held[id]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s: newest version %s failed (%s) but is not withheld", id, v.UpdatedAt.Format(time.RFC3339Nano), v.Reason))
		}
	}
	slices.Sort(diffs)
	if len(diffs) > 0 {
		shown := diffs[:min(len(diffs), 30)]
		t.Errorf("the warehouse differs from the fold of the raw zone in %d places (first %d):\n%s", len(diffs), len(shown), strings.Join(shown, "\n"))
	}
	return len(diffs)
}
