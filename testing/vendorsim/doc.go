// Package vendorsim serves the vendor's Settlements API
// (/work/shared/vendor-api.md) from a seed, with every documented and every
// "observed in production" behaviour behind a knob, and knows the ground
// truth a correct pipeline must end up with.
//
// # Data
//
// Config.Records settlements are numbered 0..Records-1. Everything about
// settlement i (its id, fields, versions, defects, metadata and the lag before
// each version is listable) is a pure function of (Config.Seed, i,
// Config.From, Config.To, Config.Records, Config.MetadataBytes and the data
// knobs of Faults: Invalid, Messy, Late, MaxLag, Ties, TieGroup,
// NewestInvalid, SameInstant). Records are
// generated on demand; the only thing held in memory is a sorted index of 16
// bytes per version (about 80 MB for 3,000,000 settlements).
//
// A settlement has 1 to 3 versions: settled|pending|failed, pending→settled|
// failed, or pending→settled→reversed, with strictly increasing updated_at in
// [From, To) at microsecond resolution. A window lists the versions whose
// updated_at it holds, ascending by (updated_at, vendor_txn_id).
//
// A fraction Faults.SameInstant of settlements has one more version, a
// vendor bug: the same updated_at as its newest one and another status.
// Both are listed, next to each other (their (updated_at, vendor_txn_id)
// is equal; the extra one second, and cursors tell the two apart). Of the
// two, the newer is the one whose raw record has the greater Digest (the
// pipeline's tie rule), and the truth follows it.
//
// # Visibility
//
// Version v of a settlement is listable at time now when
// now >= updated_at + lag, where lag is 0, or, for a fraction Faults.Late of
// versions, uniform in [0, Faults.MaxLag]. The clock is Config.Now. Listable,
// TruthVisibleAt and TruthWithin answer exactly which versions a client could
// have seen.
//
// # Dirty data
//
// Defects are decided per settlement, so every version of a vendor_txn_id
// shares one defect (or none), with one exception: a fraction
// Faults.NewestInvalid of the settlements with two or more versions has
// valid older versions and a newest version that a correct gate
// quarantines (amount null, amount negative or currency unknown). The newest
// version is the truth, so TruthRecord.Valid is false for them and a correct
// pipeline holds no older version of them in settlements; their newest
// version is moved out of the hour of the one before when the span allows,
// so the two land in different windows. A fraction
// Faults.Messy of settlements is normalisable (still valid): the amount as a
// JSON number literal, a lower-case currency, or unknown extra fields. A
// fraction Faults.Invalid carries exactly one defect that a correct gate
// quarantines with the Reason… code of TruthRecord.Reason.
//
// # Determinism of faults
//
// A request's identity is its window, limit and cursor position (never the
// cursor's issue time). The server counts how often it has seen each identity;
// the n-th request of one identity (its attempt, from 0) draws its faults from
// hash(seed, identity, attempt). A client that sends the same sequence of
// requests per window therefore gets the same responses, whatever the
// interleaving of windows. Page content faults (short and empty pages,
// duplicates across a page boundary, resends, junk elements) depend on the
// identity only, so refetching a page yields the same bytes. Three things
// depend on the clock: late visibility, sticky failures (a page fails from its
// first request until a duration has passed) and the enforced rate limit.
// A frozen Now never refills the rate-limit bucket and never ends a sticky
// failure.
package vendorsim

// Quarantine reason codes. A correct gate gives these exact strings; the
// simulator generates every one of them except ReasonVendorTxnIDMissing and
// ReasonUpdatedAtInvalid (a record without a usable key or version time has
// no well-defined truth) and ReasonRecordNotObject, which the Junk knob
// produces as page elements outside the truth.
const (
	ReasonAmountMissing      = "amount_missing"
	ReasonAmountInvalid      = "amount_invalid"
	ReasonAmountNegative     = "amount_negative"
	ReasonAmountPrecision    = "amount_precision"
	ReasonFeeInvalid         = "fee_invalid"
	ReasonCurrencyMissing    = "currency_missing"
	ReasonCurrencyUnknown    = "currency_unknown"
	ReasonVendorTxnIDMissing = "vendor_txn_id_missing"
	ReasonSellerIDMissing    = "seller_id_missing"
	ReasonTypeInvalid        = "type_invalid"
	ReasonStatusInvalid      = "status_invalid"
	ReasonCreatedAtInvalid   = "created_at_invalid"
	ReasonUpdatedAtInvalid   = "updated_at_invalid"
	ReasonSettledAtInvalid   = "settled_at_invalid"
	ReasonRecordNotObject    = "record_not_object"
)

// Reasons returns every quarantine reason code, in a fixed order.
func Reasons() []string {
	return []string{
		ReasonAmountMissing, ReasonAmountInvalid, ReasonAmountNegative,
		ReasonAmountPrecision, ReasonFeeInvalid, ReasonCurrencyMissing,
		ReasonCurrencyUnknown, ReasonVendorTxnIDMissing, ReasonSellerIDMissing,
		ReasonTypeInvalid, ReasonStatusInvalid, ReasonCreatedAtInvalid,
		ReasonUpdatedAtInvalid, ReasonSettledAtInvalid, ReasonRecordNotObject,
	}
}
