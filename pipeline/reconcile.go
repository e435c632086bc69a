package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/marketplace/settle/io/rawzone"
	"github.com/marketplace/settle/io/warehouse"
	"github.com/marketplace/settle/transforms/decimal"
	"github.com/marketplace/settle/transforms/dedup"
	"github.com/marketplace/settle/transforms/gate"
	"github.com/marketplace/settle/transforms/parse"
)

// ErrNoRangeReader is returned by Reconcile for a warehouse that cannot
// read the settlements of a range.
var ErrNoRangeReader = errors.New("warehouse cannot read settlements by range")

// SellerCurrency is the key of a Reconciliation group.
type SellerCurrency struct {
	SellerID string
	Currency string
}

// GroupTotals are a group's settlements: how many, and the exact sum of
// their amounts.
type GroupTotals struct {
	Count int64
	Total decimal.Decimal
}

// GroupDiff is a seller and currency whose count or total differs between
// the raw zone's recomputation and the warehouse.
type GroupDiff struct {
	SellerCurrency
	Raw, Warehouse GroupTotals
	// Scale is the currency's number of fractional digits (the smallest
	// unit), from the gate's rules; -1 for a currency the rules lack.
	Scale int32
}

// RowDiff is one settlement that differs: missing from the warehouse, in
// the warehouse but not the raw zone's result, or with other values.
type RowDiff struct {
	VendorTxnID string
	Problem     string
}

// Reconciliation compares one UTC day of settlements recomputed from the
// raw zone with the warehouse's (see Reconcile).
type Reconciliation struct {
	Day        time.Time // 00:00 UTC of the day
	Objects    int       // raw page objects read (the day's windows and every later one)
	Records    int64     // records on them
	RawRows    int64     // settlements of the day recomputed from the raw zone
	WarehRows  int64     // settlements rows of the day in the warehouse
	GroupsSeen int       // seller and currency groups on either side
	Groups     []GroupDiff
	Rows       []RowDiff
}

// Equal reports whether the warehouse holds exactly what the raw zone gives.
func (r Reconciliation) Equal() bool { return len(r.Groups) == 0 && len(r.Rows) == 0 }

// Reconcile recomputes the settlements of day (the UTC day holding it)
// from the raw zone alone and compares them with the warehouse's.
//
// A settlement belongs to day D when the updated_at of its newest version
// is in [D 00:00 UTC, D+1 00:00 UTC): the warehouse's settlements row
// carries that updated_at, and the raw zone files records by updated_at
// window (pages/<source>/date=D/…). Recomputing applies the pipeline's
// own rules through the same transforms: every keyed record of every page
// object whose window overlaps D is a version (parse.Key, dedup.Digest);
// later windows, up to now, are read for newer versions of those ids (a
// version of D is not the newest when the id changed since); per id the
// newest by dedup.Compare wins; it belongs to D if its updated_at does,
// and it is a settlement if it passes parse.ParseRecord and gate.ToSettlement
// with cfg's rules (a failed newest version is withheld: no row).
//
// The comparison is per seller and currency (count, and the exact total
// of amounts, to the smallest currency unit), and per settlement (missing,
// extra, or another version, seller, currency, amount, fee, type or
// status). It only reads: no lease, nothing written. Page objects that are
// not a usable page are skipped, as processing quarantines them; an
// object that cannot be read fails the reconciliation.
func Reconcile(ctx context.Context, cfg Config, day time.Time, now time.Time) (Reconciliation, error) {
	from := time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, time.UTC)
	to := from.Add(24 * time.Hour)
	rep := Reconciliation{Day: from}
	raw, err := rawzone.Open(ctx, cfg.RawZone)
	if err != nil {
		return rep, err
	}
	defer raw.Close()
	wh, err := warehouse.Open(ctx, cfg.Warehouse)
	if err != nil {
		return rep, err
	}
	defer wh.Close()
	rr, ok := wh.(warehouse.RangeReader)
	if !ok {
		return rep, fmt.Errorf("reconciling %s: %T: %w", from.Format(time.DateOnly), wh, ErrNoRangeReader)
	}

	want, err := recompute(ctx, cfg, raw, from, to, now, &rep)
	if err != nil {
		return rep, fmt.Errorf("reconciling %s: %w", from.Format(time.DateOnly), err)
	}
	got, err := rr.SettlementsUpdated(ctx, from, to)
	if err != nil {
		return rep, fmt.Errorf("reconciling %s: %w", from.Format(time.DateOnly), err)
	}
	rep.RawRows, rep.WarehRows = int64(len(want)), int64(len(got))
	if err := compare(&rep, cfg.Rules(), want, got); err != nil {
		return rep, fmt.Errorf("reconciling %s: %w", from.Format(time.DateOnly), err)
	}
	return rep, nil
}

// recompute returns the settlements of [from, to) the raw zone gives,
// ordered by vendor_txn_id.
func recompute(ctx context.Context, cfg Config, raw rawzone.Store, from, to, now time.Time, rep *Reconciliation) ([]warehouse.Settlement, error) {
	dayRefs, err := rawzone.ListPageRefs(ctx, raw, cfg.Source, from, to)
	if err != nil {
		return nil, err
	}
	best := map[string]dedup.Candidate{}
	consider := func(ref string, onlyKnown bool) error {
		records, err := readRecords(ctx, raw, ref)
		var bad *badPageError
		if errors.As(err, &bad) {
			return nil
		}
		if err != nil {
			return err
		}
		rep.Objects++
		rep.Records += int64(len(records))
		for i, rec := range records {
			id, updated, err := parse.Key(rec)
			if err != nil {
				continue
			}
			cur, known := best[id]
			if onlyKnown && !known {
				continue
			}
			c := dedup.NewCandidate(rec, updated, ref, int32(i))
			if !known || dedup.Newer(c, cur) {
				best[id] = c
			}
		}
		return nil
	}
	seen := map[string]bool{}
	for _, r := range dayRefs {
		seen[r.Name] = true
		if err := consider(r.Name, false); err != nil {
			return nil, err
		}
	}
	if end := now.Add(48 * time.Hour); to.Before(end) {
		later, err := rawzone.ListPageRefs(ctx, raw, cfg.Source, to, end)
		if err != nil {
			return nil, err
		}
		for _, r := range later {
			if !seen[r.Name] {
				if err := consider(r.Name, true); err != nil {
					return nil, err
				}
			}
		}
	}
	// The day's winners, by raw object, judged by the row rules.
	byRef := map[string][]int32{}
	for _, c := range best {
		if t := time.Unix(0, c.UpdatedAt); !t.Before(from) && t.Before(to) {
			byRef[c.Ref] = append(byRef[c.Ref], c.Index)
		}
	}
	rules := cfg.Rules()
	var out []warehouse.Settlement
	for _, ref := range slices.Sorted(maps.Keys(byRef)) {
		records, err := readRecords(ctx, raw, ref)
		if err != nil {
			return nil, fmt.Errorf("re-reading winners of %s: %w", ref, err)
		}
		for _, i := range byRef[ref] {
			if int(i) >= len(records) {
				return nil, fmt.Errorf("winner %d of %s: object has %d records", i, ref, len(records))
			}
			rec, err := parse.ParseRecord(records[i])
			if err != nil {
				continue
			}
			if row, reason := gate.ToSettlement(records[i], rec, rules, "", ref); reason == "" {
				out = append(out, row)
			}
		}
	}
	slices.SortFunc(out, func(a, b warehouse.Settlement) int { return strings.Compare(a.VendorTxnID, b.VendorTxnID) })
	return out, nil
}

// compare fills rep's differences between want (the raw zone's) and got
// (the warehouse's), both ordered by vendor_txn_id.
func compare(rep *Reconciliation, rules gate.Rules, want, got []warehouse.Settlement) error {
	rawG, whG := map[SellerCurrency]GroupTotals{}, map[SellerCurrency]GroupTotals{}
	add := func(m map[SellerCurrency]GroupTotals, s warehouse.Settlement) error {
		amt, err := decimal.Parse(s.Amount)
		if err != nil {
			return fmt.Errorf("amount of %s: %w", s.VendorTxnID, err)
		}
		k := SellerCurrency{s.SellerID, s.Currency}
		g := m[k]
		g.Count++
		if g.Total, err = g.Total.Add(amt); err != nil {
			return fmt.Errorf("summing %s %s: %w", k.SellerID, k.Currency, err)
		}
		m[k] = g
		return nil
	}
	wantByID := map[string]warehouse.Settlement{}
	for _, s := range want {
		wantByID[s.VendorTxnID] = s
		if err := add(rawG, s); err != nil {
			return err
		}
	}
	gotByID := map[string]warehouse.Settlement{}
	for _, s := range got {
		gotByID[s.VendorTxnID] = s
		if err := add(whG, s); err != nil {
			return err
		}
	}
	keys := map[SellerCurrency]bool{}
	for k := range rawG {
		keys[k] = true
	}
	for k := range whG {
		keys[k] = true
	}
	rep.GroupsSeen = len(keys)
	for _, k := range slices.SortedFunc(maps.Keys(keys), func(a, b SellerCurrency) int {
		if c := strings.Compare(a.SellerID, b.SellerID); c != 0 {
			return c
		}
		return strings.Compare(a.Currency, b.Currency)
	}) {
		r, w := rawG[k], whG[k]
		if r.Count != w.Count || r.Total.Cmp(w.Total) != 0 {
			scale, ok := rules.Currencies[k.Currency]
			if !ok {
				scale = -1
			}
			rep.Groups = append(rep.Groups, GroupDiff{SellerCurrency: k, Raw: r, Warehouse: w, Scale: scale})
		}
	}
	ids := map[string]bool{}
	for id := range wantByID {
		ids[id] = true
	}
	for id := range gotByID {
		ids[id] = true
	}
	for _, id := range slices.Sorted(maps.Keys(ids)) {
		w, inRaw := wantByID[id]
		g, inWh := gotByID[id]
		switch {
		case !inWh:
			rep.Rows = append(rep.Rows, RowDiff{id, fmt.Sprintf("missing from the warehouse (raw zone: version %s of %s, seller %s, %s %s)",
				w.VersionDigest, w.UpdatedAt, w.SellerID, w.Amount, w.Currency)})
		case !inRaw:
			rep.Rows = append(rep.Rows, RowDiff{id, fmt.Sprintf("in the warehouse only (version %s of %s, seller %s, %s %s): not the raw zone's newest valid version of the day",
				g.VersionDigest, g.UpdatedAt, g.SellerID, g.Amount, g.Currency)})
		default:
			if d := rowDiff(w, g); d != "" {
				rep.Rows = append(rep.Rows, RowDiff{id, d})
			}
		}
	}
	return nil
}

// rowDiff names the values of one settlement that differ: raw zone, then
// warehouse.
func rowDiff(w, g warehouse.Settlement) string {
	var out []string
	field := func(name, a, b string) {
		if a != b {
			out = append(out, fmt.Sprintf("%s raw %q warehouse %q", name, a, b))
		}
	}
	money := func(name, a, b string) {
		da, errA := decimal.Parse(a)
		db, errB := decimal.Parse(b)
		if errA != nil || errB != nil || da.Cmp(db) != 0 {
			out = append(out, fmt.Sprintf("%s raw %s warehouse %s", name, a, b))
		}
	}
	field("version", w.VersionDigest, g.VersionDigest)
	field("seller", w.SellerID, g.SellerID)
	field("currency", w.Currency, g.Currency)
	money("amount", w.Amount, g.Amount)
	money("fee", w.Fee, g.Fee)
	field("type", w.Type, g.Type)
	field("status", w.Status, g.Status)
	return strings.Join(out, ", ")
}

// Write prints the reconciliation: a header, every differing group and
// every differing settlement, and the verdict.
func (r Reconciliation) Write(w io.Writer) error {
	day := r.Day.Format(time.DateOnly)
	var b strings.Builder
	fmt.Fprintf(&b, "reconcile %s: settlements whose newest version's updated_at is in [%s, %s)\n",
		day, r.Day.Format(time.RFC3339), r.Day.Add(24*time.Hour).Format(time.RFC3339))
	fmt.Fprintf(&b, "raw zone:  %d page objects read (the day's windows and later ones), %d records, %d settlements\n",
		r.Objects, r.Records, r.RawRows)
	fmt.Fprintf(&b, "warehouse: %d settlements rows\n", r.WarehRows)
	fmt.Fprintf(&b, "per seller and currency: %d groups, %d differ\n", r.GroupsSeen, len(r.Groups))
	for _, g := range r.Groups {
		fmt.Fprintf(&b, "  DIFF seller %s %s: count raw %d warehouse %d (%+d); total raw %s warehouse %s (%s)\n",
			g.SellerID, g.Currency, g.Raw.Count, g.Warehouse.Count, g.Warehouse.Count-g.Raw.Count,
			atScale(g.Raw.Total, g.Scale), atScale(g.Warehouse.Total, g.Scale), minorUnits(g))
	}
	fmt.Fprintf(&b, "per settlement: %d differ\n", len(r.Rows))
	for _, d := range r.Rows {
		fmt.Fprintf(&b, "  DIFF %s: %s\n", d.VendorTxnID, d.Problem)
	}
	if r.Equal() {
		fmt.Fprintf(&b, "EQUAL: the warehouse holds exactly what the raw zone gives for %s\n", day)
	} else {
		fmt.Fprintf(&b, "DIFFERENT: %d group(s) and %d settlement(s) differ for %s\n", len(r.Groups), len(r.Rows), day)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// atScale writes d with the currency's scale when it can do so exactly.
func atScale(d decimal.Decimal, scale int32) string {
	if scale >= 0 {
		if m, err := d.WithScale(scale); err == nil {
			return m.String()
		}
	}
	return d.String()
}

// minorUnits writes the warehouse's total minus the raw zone's in the
// currency's smallest unit ("-1050 minor units"), or as a decimal when the
// currency's scale is unknown or the difference is finer.
func minorUnits(g GroupDiff) string {
	d, err := g.Warehouse.Total.Sub(g.Raw.Total)
	if err != nil {
		return "difference out of range"
	}
	if g.Scale >= 0 {
		if m, err := d.WithScale(g.Scale); err == nil {
			digits, sign := strings.Replace(m.String(), ".", "", 1), "+"
			if strings.HasPrefix(digits, "-") {
				digits, sign = digits[1:], "-"
			}
			if digits = strings.TrimLeft(digits, "0"); digits == "" {
				digits, sign = "0", ""
			}
			return "difference " + sign + digits + " minor units"
		}
	}
	return "difference " + d.String()
}
