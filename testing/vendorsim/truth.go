package vendorsim

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"math/big"
	"slices"
	"time"
)

// TruthRecord is one version of a settlement as a correct pipeline must
// store it, or quarantine it when Valid is false.
//
// SellerID, Type, Status, Amount, Fee and Currency hold the text the vendor
// sent, normalised as a correct pipeline normalises it: the currency upper
// case, a JSON-number amount as its literal text. A null or missing field is
// "". Amounts and fees are in the currency's scale ("12.50", JPY "1200");
// compare them with DecimalEqual. CreatedAt and SettledAt hold the intended
// instants even when the wire text is unparseable (Reason
// created_at_invalid, settled_at_invalid); Raw is exactly what was sent.
type TruthRecord struct {
	VendorTxnID string          `json:"vendor_txn_id"`
	OrderID     *string         `json:"order_id"`
	SellerID    string          `json:"seller_id"`
	Type        string          `json:"type"`
	Status      string          `json:"status"`
	Amount      string          `json:"amount"`
	Fee         string          `json:"fee"`
	Currency    string          `json:"currency"`
	CreatedAt   time.Time       `json:"created_at"`
	UpdatedAt   time.Time       `json:"updated_at"`
	SettledAt   *time.Time      `json:"settled_at"`
	Metadata    json.RawMessage `json:"metadata,omitempty"`
	// Version numbers the versions of the settlement from 0; Versions is
	// how many it has in all.
	Version  int `json:"version"`
	Versions int `json:"versions"`
	// VisibleAt is when the version becomes listable (UpdatedAt + lag).
	VisibleAt time.Time `json:"visible_at"`
	// Valid is false when a correct gate quarantines the record, with
	// Reason one of the Reason… codes.
	Valid  bool   `json:"valid"`
	Reason string `json:"reason,omitempty"`
	// Defect names the settlement's data defect, normalisable
	// ("amount_number", "currency_lower_case", "extra_fields") or not (the
	// Reason); "" when clean.
	Defect string          `json:"defect,omitempty"`
	Raw    json.RawMessage `json:"raw,omitempty"`
}

// Version identifies one listable version, in listing order.
type Version struct {
	VendorTxnID string    `json:"vendor_txn_id"`
	Version     int       `json:"version"`
	UpdatedAt   time.Time `json:"updated_at"`
	VisibleAt   time.Time `json:"visible_at"`
}

// truth returns the version in slot v of settlement idx.
func (g *generator) truth(idx uint32, v int) TruthRecord {
	f, p := g.fields(idx), g.plan(idx)
	raw := g.appendRecord(nil, idx, f, p, v)
	f = p.at(f, v)
	tr := TruthRecord{
		VendorTxnID: f.id,
		Type:        f.typeText(),
		Status:      f.statusText(p.st[v]),
		Fee:         f.feeText(),
		CreatedAt:   time.UnixMicro(p.t[0]).UTC(),
		UpdatedAt:   time.UnixMicro(p.t[v]).UTC(),
		Metadata:    g.appendMetadata(nil, idx),
		Version:     p.number(v),
		Versions:    p.versions(),
		VisibleAt:   time.UnixMicro(p.t[v] + g.lag(idx, v)).UTC(),
		Valid:       f.defect < firstInvalid,
		Defect:      defectNames[f.defect],
		Raw:         raw,
	}
	if f.orderID != "" {
		tr.OrderID = &f.orderID
	}
	if f.defect != defSellerMissing {
		tr.SellerID = f.seller
	}
	if text, ok := f.amountText(); ok {
		tr.Amount = text
	}
	if f.defect != defCurrencyMissing {
		tr.Currency = f.currencyText()
		if f.defect == defCurrencyLower {
			tr.Currency = currencies[f.cur].code
		}
	}
	if s := p.settledAt(v); s >= 0 {
		t := time.UnixMicro(s).UTC()
		tr.SettledAt = &t
	}
	if !tr.Valid {
		tr.Reason = defectNames[f.defect]
	}
	return tr
}

// window converts [gte, lt) to the index positions it holds.
func (s *Sim) window(gte, lt time.Time) []entry {
	lo := firstAt(s.index, ceilDiv(gte.UnixNano(), 1000))
	hi := firstAt(s.index, ceilDiv(lt.UnixNano(), 1000))
	return s.index[lo:max(lo, hi)]
}

// Listable returns the versions a window [gte, lt) lists at now, in listing
// order, without faults (no duplicates, resends or junk). Any gte, lt is
// accepted, the 24 h limit does not apply.
func (s *Sim) Listable(gte, lt, now time.Time) []Version {
	nowUS := now.UnixMicro()
	var out []Version
	for _, e := range s.window(gte, lt) {
		if !s.gen.visible(e, nowUS) {
			continue
		}
		idx, v := e.idx(), e.ver()
		r := newRNG(s.gen.seed, saltFields, uint64(idx))
		number := v
		if v == extraVer {
			number = s.gen.plan(idx).number(v)
		}
		out = append(out, Version{
			VendorTxnID: s.gen.vendorTxnID(idx, &r),
			Version:     number,
			UpdatedAt:   time.UnixMicro(e.t).UTC(),
			VisibleAt:   time.UnixMicro(e.t + s.gen.lag(idx, v)).UTC(),
		})
	}
	return out
}

// TruthSeq yields, in vendor_txn_id order, the newest version of every
// settlement among its versions with updated_at in [gte, lt) that are
// listable at now: what a pipeline that read those windows at now must
// hold. It holds 9 bytes per settlement while it runs.
//
// The newest version is the truth even when it is invalid (NewestInvalid):
// the record then has Valid false and its Reason, and a correct pipeline
// holds no older version of that settlement in settlements. Of two
// versions with the same updated_at (SameInstant), the newest is the one
// whose Raw has the greater Digest.
func (s *Sim) TruthSeq(gte, lt, now time.Time) iter.Seq[TruthRecord] {
	return func(yield func(TruthRecord) bool) {
		nowUS := now.UnixMicro()
		best := make([]int8, s.cfg.Records)
		for i := range best {
			best[i] = -1
		}
		for _, e := range s.window(gte, lt) {
			if !s.gen.visible(e, nowUS) {
				continue
			}
			i, v := e.idx(), int8(e.ver())
			if b := best[i]; b >= 0 && (b == extraVer || v == extraVer) {
				best[i] = int8(s.gen.newer(i, int(b), int(v)))
			} else {
				best[i] = max(b, v)
			}
		}
		type keyed struct{ key, idx uint32 }
		var order []keyed
		for i, v := range best {
			if v >= 0 {
				order = append(order, keyed{s.gen.key(uint32(i)), uint32(i)})
			}
		}
		slices.SortFunc(order, func(a, b keyed) int { return cmp.Compare(a.key, b.key) })
		for _, k := range order {
			if !yield(s.gen.truth(k.idx, int(best[k.idx]))) {
				return
			}
		}
	}
}

// TruthWithin collects TruthSeq(gte, lt, now).
func (s *Sim) TruthWithin(gte, lt, now time.Time) []TruthRecord {
	return slices.Collect(s.TruthSeq(gte, lt, now))
}

// TruthVisibleAt returns the newest version listable at now of every
// settlement that has one, in vendor_txn_id order: the truth for a
// pipeline that read every window of [From, To) at now.
func (s *Sim) TruthVisibleAt(now time.Time) []TruthRecord {
	return s.TruthWithin(s.cfg.From, s.cfg.To, now)
}

// Truth returns the newest version of every settlement, in vendor_txn_id
// order: the truth once every version is listable (from To + MaxLag on).
func (s *Sim) Truth() []TruthRecord {
	return s.TruthVisibleAt(s.cfg.To.Add(s.cfg.Faults.MaxLag + time.Microsecond))
}

// WriteTruth writes Truth as NDJSON, one TruthRecord per line, streaming,
// without Metadata and Raw (about 450 bytes a line; Lookup has them).
func (s *Sim) WriteTruth(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	enc := json.NewEncoder(bw)
	for tr := range s.TruthSeq(s.cfg.From, s.cfg.To, s.cfg.To.Add(s.cfg.Faults.MaxLag+time.Microsecond)) {
		tr.Metadata, tr.Raw = nil, nil
		if err := enc.Encode(tr); err != nil {
			return fmt.Errorf("writing truth of %s: %w", tr.VendorTxnID, err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("writing truth: %w", err)
	}
	return nil
}

// Lookup returns every version of a settlement, oldest first, or false if
// the simulator never issued that vendor_txn_id. A SameInstant
// settlement's last two versions share an updated_at; of those the newer
// is the one whose Raw has the greater Digest, whichever is listed last.
func (s *Sim) Lookup(vendorTxnID string) ([]TruthRecord, bool) {
	key, ok := keyFromID(vendorTxnID)
	if !ok {
		return nil, false
	}
	idx := s.gen.perm.invert(key)
	if int64(idx) >= int64(s.cfg.Records) {
		return nil, false
	}
	first := s.gen.truth(idx, 0)
	if first.VendorTxnID != vendorTxnID {
		return nil, false
	}
	p := s.gen.plan(idx)
	out := []TruthRecord{first}
	for n := 1; n < first.Versions; n++ {
		out = append(out, s.gen.truth(idx, p.slot(n)))
	}
	return out, true
}

// ParseDecimal parses a plain decimal literal ("-12.50", "1200", "0.5"),
// the only syntax the vendor's amounts and fees use. Exponents, fractions
// and signs other than a leading "-" are rejected.
func ParseDecimal(s string) (*big.Rat, error) {
	digits, point := 0, false
	for i := range len(s) {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '-' && i == 0:
		case c == '.' && !point && digits > 0 && i+1 < len(s):
			point = true
		default:
			return nil, fmt.Errorf("parsing decimal %q: unexpected %q at %d", s, c, i)
		}
	}
	if digits == 0 {
		return nil, fmt.Errorf("parsing decimal %q: no digits", s)
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return nil, fmt.Errorf("parsing decimal %q: not a number", s)
	}
	return r, nil
}

// DecimalEqual reports whether a and b are the same exact decimal value
// ("12.5" equals "12.50"). Anything ParseDecimal rejects is unequal to
// everything, itself included.
func DecimalEqual(a, b string) bool {
	x, err := ParseDecimal(a)
	if err != nil {
		return false
	}
	y, err := ParseDecimal(b)
	if err != nil {
		return false
	}
	return x.Cmp(y) == 0
}
