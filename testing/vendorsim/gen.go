package vendorsim

import (
	"strconv"
	"time"
)

type currencyInfo struct {
	code   string
	lower  string
	scale  int
	weight uint64
}

var currencies = []currencyInfo{
	{"USD", "usd", 2, 50}, {"EUR", "eur", 2, 20}, {"GBP", "gbp", 2, 12},
	{"CAD", "cad", 2, 8}, {"AUD", "aud", 2, 6}, {"JPY", "jpy", 0, 4},
}

type typeInfo struct {
	name     string
	hasOrder bool
	weight   uint64
}

var settlementTypes = []typeInfo{
	{"charge", true, 70}, {"refund", true, 12}, {"chargeback", true, 3},
	{"fee", false, 10}, {"payout_adjustment", false, 5},
}

const (
	stPending uint8 = iota
	stSettled
	stFailed
	stReversed
)

var statusNames = [...]string{"pending", "settled", "failed", "reversed"}

// defect is the one data defect a settlement carries on all its versions.
type defect uint8

const (
	defNone defect = iota
	// Normalisable: the record stays valid.
	defAmountNumber
	defCurrencyLower
	defExtraFields
	// Invalid: a correct gate quarantines the record.
	defAmountMissing
	defAmountInvalid
	defAmountNegative
	defAmountPrecision
	defFeeInvalid
	defCurrencyMissing
	defCurrencyUnknown
	defSellerMissing
	defTypeInvalid
	defStatusInvalid
	defCreatedAtInvalid
	defSettledAtInvalid
	defCount
)

const firstInvalid = defAmountMissing

var defectNames = [defCount]string{
	defNone:             "",
	defAmountNumber:     "amount_number",
	defCurrencyLower:    "currency_lower_case",
	defExtraFields:      "extra_fields",
	defAmountMissing:    ReasonAmountMissing,
	defAmountInvalid:    ReasonAmountInvalid,
	defAmountNegative:   ReasonAmountNegative,
	defAmountPrecision:  ReasonAmountPrecision,
	defFeeInvalid:       ReasonFeeInvalid,
	defCurrencyMissing:  ReasonCurrencyMissing,
	defCurrencyUnknown:  ReasonCurrencyUnknown,
	defSellerMissing:    ReasonSellerIDMissing,
	defTypeInvalid:      ReasonTypeInvalid,
	defStatusInvalid:    ReasonStatusInvalid,
	defCreatedAtInvalid: ReasonCreatedAtInvalid,
	defSettledAtInvalid: ReasonSettledAtInvalid,
}

// generator derives every record from (seed, index). It is immutable after
// newGenerator and safe for concurrent use.
type generator struct {
	seed          uint64
	records       int
	from, to      int64 // unix microseconds, [from, to)
	span          uint64
	maxDelta      uint64
	ties          float64
	tieInstants   uint64
	invalid       float64
	messy         float64
	late          float64
	maxLag        int64 // microseconds
	metadataBytes int
	sellers       uint64
	perm          perm
}

func newGenerator(cfg Config) *generator {
	g := &generator{
		seed:          uint64(cfg.Seed),
		records:       cfg.Records,
		from:          cfg.From.UnixMicro(),
		to:            cfg.To.UnixMicro(),
		ties:          cfg.Faults.Ties,
		invalid:       cfg.Faults.Invalid,
		messy:         cfg.Faults.Messy,
		late:          cfg.Faults.Late,
		maxLag:        cfg.Faults.MaxLag.Microseconds(),
		metadataBytes: cfg.MetadataBytes,
		sellers:       uint64(max(10, cfg.Records/40)),
		perm:          newPerm(uint64(cfg.Seed)),
	}
	g.span = uint64(g.to - g.from)
	g.maxDelta = max(1, min(uint64((6*time.Hour).Microseconds()), g.span/4))
	if g.ties > 0 {
		group := max(1, cfg.Faults.TieGroup)
		g.tieInstants = max(1, uint64(g.ties*float64(cfg.Records)/float64(group)+0.5))
	}
	return g
}

// plan is the version history of one settlement.
type plan struct {
	n  int      // number of versions, 1..3
	t  [3]int64 // updated_at of each version, unix microseconds, increasing
	st [3]uint8 // status of each version
}

func (g *generator) plan(idx uint32) plan {
	r := newRNG(g.seed, saltTimes, uint64(idx))
	want := 1
	switch u := r.float(); {
	case u >= 0.85:
		want = 3
	case u >= 0.5:
		want = 2
	}
	var p plan
	if tie := r.float(); g.tieInstants > 0 && tie < g.ties {
		p.t[0] = g.instant(r.below(g.tieInstants))
	} else {
		p.t[0] = g.from + int64(r.below(g.span))
	}
	p.n = 1
	for p.n < want {
		t := p.t[p.n-1] + 1 + int64(r.below(g.maxDelta))
		if t >= g.to {
			break
		}
		p.t[p.n] = t
		p.n++
	}
	u := r.float()
	switch p.n {
	case 1:
		p.st[0] = stSettled
		if u >= 0.9 {
			p.st[0] = stFailed
		} else if u >= 0.7 {
			p.st[0] = stPending
		}
	case 2:
		p.st[0], p.st[1] = stPending, stSettled
		if u >= 0.85 {
			p.st[1] = stFailed
		}
	case 3:
		p.st = [3]uint8{stPending, stSettled, stReversed}
	}
	return p
}

// instant is the j-th shared updated_at of the Ties knob.
func (g *generator) instant(j uint64) int64 {
	return g.from + int64(hashOf(g.seed, saltTie, j)%g.span)
}

// lag is how long after its updated_at version v becomes listable, in
// microseconds.
func (g *generator) lag(idx uint32, v int) int64 {
	if g.late <= 0 || g.maxLag <= 0 {
		return 0
	}
	h := hashOf(g.seed, saltLate, uint64(idx), uint64(v))
	if unit(h) >= g.late {
		return 0
	}
	return int64(unit(mix64(h)) * float64(g.maxLag+1))
}

// fields are the parts of a settlement shared by all its versions.
type fields struct {
	id      string
	orderID string // "" is null
	seller  string
	typ     int
	cur     int
	amount  int64 // minor units of currencies[cur]
	fee     int64
	defect  defect
}

func (g *generator) key(idx uint32) uint32 { return g.perm.apply(idx) }

// crockford is ordered like ASCII, so fixed-width encodings sort like the
// numbers they encode.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// vendorTxnID is "st_" + 7 base-32 digits of key(idx) + 13 random
// characters: ids sort like their keys.
func (g *generator) vendorTxnID(idx uint32, r *rng) string {
	k := g.key(idx)
	b := make([]byte, 0, 23)
	b = append(b, "st_"...)
	for shift := 30; shift >= 0; shift -= 5 {
		b = append(b, crockford[(k>>uint(shift))&31])
	}
	return string(r.appendAlnum(b, 13))
}

// keyFromID inverts vendorTxnID's key digits.
func keyFromID(id string) (uint32, bool) {
	if len(id) != 23 || id[:3] != "st_" {
		return 0, false
	}
	var k uint64
	for i := 3; i < 10; i++ {
		d := -1
		for j := range len(crockford) {
			if crockford[j] == id[i] {
				d = j
				break
			}
		}
		if d < 0 {
			return 0, false
		}
		k = k<<5 | uint64(d)
	}
	if k > 1<<32-1 {
		return 0, false
	}
	return uint32(k), true
}

func pick[T any](r *rng, items []T, weight func(T) uint64) int {
	var total uint64
	for _, it := range items {
		total += weight(it)
	}
	x := r.below(total)
	for i, it := range items {
		if x < weight(it) {
			return i
		}
		x -= weight(it)
	}
	return len(items) - 1
}

func (g *generator) fields(idx uint32) fields {
	r := newRNG(g.seed, saltFields, uint64(idx))
	f := fields{id: g.vendorTxnID(idx, &r)}
	f.typ = pick(&r, settlementTypes, func(t typeInfo) uint64 { return t.weight })
	f.cur = pick(&r, currencies, func(c currencyInfo) uint64 { return c.weight })
	f.seller = "sel_" + strconv.FormatUint(100000+r.below(g.sellers), 10)
	order := r.next()
	if settlementTypes[f.typ].hasOrder {
		f.orderID = "ord_" + strconv.FormatUint(1_000_000_000+order%9_000_000_000, 10)
	}
	f.amount = 100 + int64(r.below(499_901))
	if settlementTypes[f.typ].name == "charge" {
		f.fee = f.amount * 29 / 1000
		if currencies[f.cur].scale == 2 {
			f.fee += 30
		}
	}
	h := hashOf(g.seed, saltDefect, uint64(idx))
	switch u := unit(h); {
	case u < g.invalid:
		f.defect = firstInvalid + defect(mix64(h)%uint64(defCount-firstInvalid))
	case u < g.invalid+g.messy:
		f.defect = defAmountNumber + defect(mix64(h)%uint64(firstInvalid-defAmountNumber))
	}
	return f
}

func appendMinor(b []byte, m int64, scale int) []byte {
	if scale == 0 {
		return strconv.AppendInt(b, m, 10)
	}
	b = strconv.AppendInt(b, m/100, 10)
	b = append(b, '.', byte('0'+m/10%10), byte('0'+m%10))
	return b
}

// amountText is the amount's decimal text as sent, without quotes; ok is
// false when the amount is null.
func (f fields) amountText() (text string, ok bool) {
	c := currencies[f.cur]
	switch f.defect {
	case defAmountMissing:
		return "", false
	case defAmountInvalid:
		return string(appendMinor(nil, f.amount, c.scale)) + " " + c.code, true
	case defAmountNegative:
		return "-" + string(appendMinor(nil, f.amount, c.scale)), true
	case defAmountPrecision:
		// One more decimal than the currency has, never a trailing zero.
		extra := byte('1' + f.amount%9)
		b := appendMinor(nil, f.amount, c.scale)
		if c.scale == 0 {
			b = append(b, '.')
		}
		return string(append(b, extra)), true
	}
	return string(appendMinor(nil, f.amount, c.scale)), true
}

func (f fields) feeText() string {
	if f.defect == defFeeInvalid {
		return "n/a"
	}
	return string(appendMinor(nil, f.fee, currencies[f.cur].scale))
}

func (f fields) currencyText() string {
	switch f.defect {
	case defCurrencyLower:
		return currencies[f.cur].lower
	case defCurrencyUnknown:
		return "BTC"
	}
	return currencies[f.cur].code
}

func (f fields) typeText() string {
	if f.defect == defTypeInvalid {
		return "transfer"
	}
	return settlementTypes[f.typ].name
}

func (f fields) statusText(st uint8) string {
	if f.defect == defStatusInvalid {
		return "processing"
	}
	return statusNames[st]
}

const (
	wireTime    = "2006-01-02T15:04:05.000000Z07:00"
	invalidTime = "2006-01-02 15:04:05"
)

func appendTime(b []byte, us int64) []byte {
	return time.UnixMicro(us).UTC().AppendFormat(b, wireTime)
}

// settledAt is the unix microsecond settled_at of version v, or -1 for null.
func (p plan) settledAt(v int) int64 {
	switch p.st[v] {
	case stSettled:
		return p.t[v]
	case stReversed:
		return p.t[v-1]
	}
	return -1
}

// appendRecord appends version v of settlement idx as the vendor sends it.
func (g *generator) appendRecord(b []byte, idx uint32, f fields, p plan, v int) []byte {
	b = append(b, `{"vendor_txn_id":"`...)
	b = append(b, f.id...)
	b = append(b, `","order_id":`...)
	if f.orderID == "" {
		b = append(b, "null"...)
	} else {
		b = append(append(append(b, '"'), f.orderID...), '"')
	}
	if f.defect != defSellerMissing {
		b = append(b, `,"seller_id":"`...)
		b = append(b, f.seller...)
		b = append(b, '"')
	}
	b = append(b, `,"type":"`...)
	b = append(b, f.typeText()...)
	b = append(b, `","status":"`...)
	b = append(b, f.statusText(p.st[v])...)
	b = append(b, `","amount":`...)
	switch text, ok := f.amountText(); {
	case !ok:
		b = append(b, "null"...)
	case f.defect == defAmountNumber:
		b = append(b, text...)
	default:
		b = append(append(append(b, '"'), text...), '"')
	}
	b = append(b, `,"fee":"`...)
	b = append(b, f.feeText()...)
	b = append(b, '"')
	if f.defect != defCurrencyMissing {
		b = append(b, `,"currency":"`...)
		b = append(b, f.currencyText()...)
		b = append(b, '"')
	}
	b = append(b, `,"created_at":"`...)
	if f.defect == defCreatedAtInvalid {
		b = time.UnixMicro(p.t[0]).UTC().AppendFormat(b, invalidTime)
	} else {
		b = appendTime(b, p.t[0])
	}
	b = append(b, `","updated_at":"`...)
	b = appendTime(b, p.t[v])
	b = append(b, `","settled_at":`...)
	switch s := p.settledAt(v); {
	case f.defect == defSettledAtInvalid:
		b = append(b, `"n/a"`...)
	case s < 0:
		b = append(b, "null"...)
	default:
		b = append(appendTime(append(b, '"'), s), '"')
	}
	if f.defect == defExtraFields {
		r := newRNG(g.seed, saltMeta, uint64(idx), 1)
		b = append(b, `,"risk_level":"low","processor":{"name":"acq-`...)
		b = strconv.AppendUint(b, r.below(9)+1, 10)
		b = append(b, `","ref":"`...)
		b = r.appendAlnum(b, 12)
		b = append(b, `"}`...)
	}
	b = append(b, `,"metadata":`...)
	b = g.appendMetadata(b, idx)
	return append(b, '}')
}

var channels = []string{"web", "app", "pos", "api"}

// appendMetadata appends the settlement's metadata object, at least
// MetadataBytes long (approximately).
func (g *generator) appendMetadata(b []byte, idx uint32) []byte {
	r := newRNG(g.seed, saltMeta, uint64(idx))
	start := len(b)
	b = append(b, `{"channel":"`...)
	b = append(b, channels[r.below(uint64(len(channels)))]...)
	b = append(b, `","request_ref":"`...)
	b = r.appendAlnum(b, 16)
	b = append(b, '"')
	for i := 0; len(b)-start+32 < g.metadataBytes; i++ {
		b = append(b, `,"x`...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `":"`...)
		end := len(b) + min(48, max(1, g.metadataBytes-(len(b)-start)-4))
		for w := 0; len(b) < end; w++ {
			if w > 0 {
				b = append(b, ' ')
			}
			b = append(b, metadataWords[r.below(uint64(len(metadataWords)))]...)
		}
		b = append(b, '"')
	}
	return append(b, '}')
}

// metadataWords make metadata text that compresses like real vendor data.
var metadataWords = []string{
	"order", "cart", "promo", "gift", "card", "visa", "mastercard", "amex",
	"wallet", "apple", "google", "pay", "checkout", "mobile", "desktop",
	"tablet", "retry", "3ds", "challenge", "frictionless", "approved",
	"review", "manual", "auto", "capture", "partial", "full", "split",
	"marketplace", "seller", "buyer", "shipping", "express", "standard",
	"pickup", "locker", "eu", "us", "uk", "ca", "au", "jp", "web", "app",
	"campaign", "summer", "winter", "sale", "bundle", "subscription",
	"monthly", "annual", "trial", "renewal", "upgrade", "downgrade",
	"refund", "dispute", "evidence", "won", "lost", "pending", "batch",
	"night",
}
