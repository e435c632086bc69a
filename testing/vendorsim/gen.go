package vendorsim

import (
	"crypto/sha256"
	"encoding/hex"
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

// defect is a data defect. A settlement carries one on all its versions
// (fields.defect), except that the NewestInvalid knob gives one to its
// newest version only (plan.newest).
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
	newestInvalid float64
	sameInstant   float64
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
		newestInvalid: cfg.Faults.NewestInvalid,
		sameInstant:   cfg.Faults.SameInstant,
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

// extraVer is the version slot of the SameInstant knob's extra version:
// refs keep the version in two bits, and regular versions use 0..2.
const extraVer = 3

// newestDefects are the defects the NewestInvalid knob gives a newest
// version: amount null, amount negative, currency unknown.
var newestDefects = [...]defect{defAmountMissing, defAmountNegative, defCurrencyUnknown}

// plan is the version history of one settlement.
type plan struct {
	n  int      // number of regular versions, 1..3
	t  [4]int64 // updated_at of each version, unix microseconds, increasing over 0..n-1; t[extraVer] = t[n-1] when extra
	st [4]uint8 // status of each version
	// newest is the defect of version n-1 alone (the NewestInvalid knob),
	// defNone for most settlements.
	newest defect
	// extra is set by the SameInstant knob: version extraVer has the same
	// updated_at as version n-1 and another status.
	extra bool
}

// versions returns how many versions p lists, the extra one included.
func (p plan) versions() int {
	if p.extra {
		return p.n + 1
	}
	return p.n
}

// number is the TruthRecord.Version of the version in slot v.
func (p plan) number(v int) int {
	if v == extraVer && p.extra {
		return p.n
	}
	return v
}

// slot is the version slot of TruthRecord.Version number.
func (p plan) slot(number int) int {
	if p.extra && number == p.n {
		return extraVer
	}
	return number
}

// at returns f with the defect version v carries.
func (p plan) at(f fields, v int) fields {
	if p.newest != defNone && v == p.n-1 {
		f.defect = p.newest
	}
	return f
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
		p.st = [4]uint8{stPending, stSettled, stReversed}
	}
	if g.newestInvalid > 0 || g.sameInstant > 0 {
		h := hashOf(g.seed, saltNewest, uint64(idx))
		switch u := unit(h); {
		case u < g.newestInvalid:
			if p.n >= 2 {
				p.newest = newestDefects[mix64(h)%uint64(len(newestDefects))]
				g.spreadNewest(&p)
			}
		case u < g.newestInvalid+g.sameInstant:
			p.extra = true
			p.t[extraVer] = p.t[p.n-1]
			p.st[extraVer] = stSettled
			if p.st[p.n-1] == stSettled {
				p.st[extraVer] = stFailed
			}
		}
	}
	return p
}

// hourUS is an hour in microseconds: the pipeline's window size.
const hourUS = int64(time.Hour / time.Microsecond)

// spreadNewest moves p's newest version out of the hour (aligned to the
// Unix epoch, like the pipeline's windows) of the version before it, when
// the span leaves room: the invalid newest version and the valid older one
// then sit in different windows, so a pipeline that decides per window or
// per chunk sees them apart.
func (g *generator) spreadNewest(p *plan) {
	prev, last := p.t[p.n-2], p.t[p.n-1]
	next := (prev/hourUS + 1) * hourUS
	if last >= next {
		return
	}
	if moved := next + (last-prev)%hourUS; moved < g.to {
		p.t[p.n-1] = moved
	}
}

// newer returns which of the version slots a and b of settlement idx is
// the newer: the later updated_at, and between two with the same one (the
// SameInstant knob), the one whose raw record has the greater Digest.
func (g *generator) newer(idx uint32, a, b int) int {
	p := g.plan(idx)
	switch {
	case p.t[a] > p.t[b]:
		return a
	case p.t[b] > p.t[a]:
		return b
	case a == b:
		return a
	}
	f := g.fields(idx)
	if Digest(g.appendRecord(nil, idx, f, p, a)) > Digest(g.appendRecord(nil, idx, f, p, b)) {
		return a
	}
	return b
}

// Digest is the pipeline's tie-break digest of a raw record: the lowercase
// hex of the first 16 bytes of the SHA-256 of the record's JSON bytes
// exactly as listed. Of two versions of a settlement with the same
// updated_at, the one with the greater digest is the newer.
func Digest(raw []byte) string {
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:16])
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
	// A settlement drawn by NewestInvalid keeps its older versions valid:
	// that is the case it exists for.
	if f.defect >= firstInvalid && g.newestInvalid > 0 && unit(hashOf(g.seed, saltNewest, uint64(idx))) < g.newestInvalid {
		f.defect = defNone
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

// appendRecord appends the version in slot v of settlement idx as the
// vendor sends it.
func (g *generator) appendRecord(b []byte, idx uint32, f fields, p plan, v int) []byte {
	f = p.at(f, v)
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
