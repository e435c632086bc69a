// Package gate applies the row rules to parsed settlement records, routing
// each to the validated output (normalised for the warehouse) or to
// quarantine with a reason code, and holds the batch-level volume rule.
package gate

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/marketplace/settle/io/warehouse"
	"github.com/marketplace/settle/transforms/decimal"
	"github.com/marketplace/settle/transforms/dedup"
	"github.com/marketplace/settle/transforms/parse"
)

// MaxIntegerDigits is the most integer digits an amount or fee may have:
// the warehouse column is DECIMAL(38,9) (BigQuery NUMERIC), so 38-9.
const MaxIntegerDigits = 29

// Types and Statuses are the contract's values, matched exactly (no case
// folding).
var (
	Types    = []string{"charge", "refund", "chargeback", "fee", "payout_adjustment"}
	Statuses = []string{"pending", "settled", "failed", "reversed"}
)

// Rules configures the row rules. The zero Rules allows no currency; use
// DefaultRules. Rules is serialized into the job graph as JSON.
type Rules struct {
	// Currencies maps each allowed currency code (upper case) to its
	// number of fractional digits (JPY 0, USD 2).
	Currencies map[string]int32 `json:"currencies"`
	// FeeRequired makes a missing or null fee fee_invalid. When false, the
	// default, a missing or null fee is taken as zero ("0.00"), which is
	// what the contract says the vendor sends when there is no fee.
	FeeRequired bool `json:"fee_required"`
}

// DefaultRules allows USD, EUR, GBP, CAD and AUD with 2 fractional digits
// and JPY with 0, and takes a missing fee as zero.
func DefaultRules() Rules {
	return Rules{Currencies: map[string]int32{
		"USD": 2, "EUR": 2, "GBP": 2, "CAD": 2, "AUD": 2, "JPY": 0,
	}}
}

// ErrRules is returned by Rules.Validate.
var ErrRules = errors.New("invalid gate rules")

// Validate reports a Rules that would quarantine everything or cannot be
// applied: no currency, a code that is not upper case A-Z, or a scale
// outside 0..9 (the warehouse keeps 9 fractional digits).
func (r Rules) Validate() error {
	if len(r.Currencies) == 0 {
		return fmt.Errorf("checking currencies: %w: none allowed", ErrRules)
	}
	for _, code := range slices.Sorted(maps.Keys(r.Currencies)) {
		if code == "" {
			return fmt.Errorf("checking currencies: %w: empty code", ErrRules)
		}
		for _, c := range []byte(code) {
			if c < 'A' || c > 'Z' {
				return fmt.Errorf("checking currency %q: %w: code must be upper case A-Z", code, ErrRules)
			}
		}
		if s := r.Currencies[code]; s < 0 || s > 9 {
			return fmt.Errorf("checking currency %q: %w: scale %d outside 0..9", code, ErrRules, s)
		}
	}
	return nil
}

// Check applies the row rules to rec. On success it returns the normalised
// row (RunID and RawRef left empty; see ToSettlement) and reason "". On
// failure it returns a zero Settlement and the reason code (parse.Reason…)
// of the first rule that fails, in this order:
//
//  1. vendor_txn_id: a string of 1..64 characters, else vendor_txn_id_missing
//  2. updated_at, created_at: RFC 3339 (parse.ParseTimestamp), else
//     updated_at_invalid, created_at_invalid
//  3. settled_at: absent, null or RFC 3339, else settled_at_invalid
//  4. seller_id: a non-empty string, else seller_id_missing
//  5. order_id: absent, null or a string, else order_id_invalid
//  6. type, status: one of Types, Statuses, else type_invalid, status_invalid
//  7. currency: absent, null or "" is currency_missing; not a string or not
//     in Rules.Currencies is currency_unknown (lower case was already
//     upper-cased by parse)
//  8. amount: absent or null is amount_missing; not a decimal (string or
//     number) or over MaxIntegerDigits integer digits is amount_invalid;
//     below zero is amount_negative; more fractional digits than the
//     currency's, counted as sent (so "1.500" in USD fails too), is
//     amount_precision
//  9. fee: the amount's rules, each failing as fee_invalid; absent or null
//     is zero unless Rules.FeeRequired
//
// Normalisation: currency upper case; amount and fee written with exactly
// the currency's fractional digits ("12.5" and 12.5 become "12.50", "-0.00"
// becomes "0.00"); timestamps in UTC by FormatTime; order_id and
// settled_at nil when absent or null; Metadata as MetadataJSON builds it.
func Check(rec parse.Record, rules Rules) (warehouse.Settlement, string) {
	var row warehouse.Settlement

	if rec.VendorTxnID.State != parse.Present || !parse.ValidVendorTxnID(rec.VendorTxnID.Value) {
		return warehouse.Settlement{}, parse.ReasonVendorTxnIDMissing
	}
	row.VendorTxnID = rec.VendorTxnID.Value

	if rec.UpdatedAt.State != parse.Present {
		return warehouse.Settlement{}, parse.ReasonUpdatedAtInvalid
	}
	row.UpdatedAt = FormatTime(rec.UpdatedAt.Value)
	if rec.CreatedAt.State != parse.Present {
		return warehouse.Settlement{}, parse.ReasonCreatedAtInvalid
	}
	row.CreatedAt = FormatTime(rec.CreatedAt.Value)
	switch rec.SettledAt.State {
	case parse.Missing, parse.Null:
	case parse.Present:
		s := FormatTime(rec.SettledAt.Value)
		row.SettledAt = &s
	default:
		return warehouse.Settlement{}, parse.ReasonSettledAtInvalid
	}

	if rec.SellerID.State != parse.Present || rec.SellerID.Value == "" {
		return warehouse.Settlement{}, parse.ReasonSellerIDMissing
	}
	row.SellerID = rec.SellerID.Value
	switch rec.OrderID.State {
	case parse.Missing, parse.Null:
	case parse.Present:
		s := rec.OrderID.Value
		row.OrderID = &s
	default:
		return warehouse.Settlement{}, parse.ReasonOrderIDInvalid
	}
	if rec.Type.State != parse.Present || !slices.Contains(Types, rec.Type.Value) {
		return warehouse.Settlement{}, parse.ReasonTypeInvalid
	}
	row.Type = rec.Type.Value
	if rec.Status.State != parse.Present || !slices.Contains(Statuses, rec.Status.Value) {
		return warehouse.Settlement{}, parse.ReasonStatusInvalid
	}
	row.Status = rec.Status.Value

	switch {
	case rec.Currency.State == parse.Missing, rec.Currency.State == parse.Null,
		rec.Currency.State == parse.Present && rec.Currency.Value == "":
		return warehouse.Settlement{}, parse.ReasonCurrencyMissing
	case rec.Currency.State != parse.Present:
		return warehouse.Settlement{}, parse.ReasonCurrencyUnknown
	}
	scale, ok := rules.Currencies[rec.Currency.Value]
	if !ok {
		return warehouse.Settlement{}, parse.ReasonCurrencyUnknown
	}
	row.Currency = rec.Currency.Value

	amount, reason := money(rec.Amount, scale, false)
	if reason != "" {
		return warehouse.Settlement{}, reason
	}
	row.Amount = amount
	fee, reason := money(rec.Fee, scale, !rules.FeeRequired)
	if reason != "" {
		return warehouse.Settlement{}, parse.ReasonFeeInvalid
	}
	row.Fee = fee

	row.Metadata = MetadataJSON(rec.Metadata, rec.Extra)
	return row, ""
}

// money applies the amount rules to n and writes it with scale fractional
// digits. absentIsZero takes a missing or null value as zero.
func money(n parse.Number, scale int32, absentIsZero bool) (string, string) {
	var d decimal.Decimal
	switch n.State {
	case parse.Missing, parse.Null:
		if !absentIsZero {
			return "", parse.ReasonAmountMissing
		}
	case parse.Present:
		d = n.Value
	default:
		return "", parse.ReasonAmountInvalid
	}
	switch {
	case d.IntDigits() > MaxIntegerDigits:
		return "", parse.ReasonAmountInvalid
	case d.Sign() < 0:
		return "", parse.ReasonAmountNegative
	case d.Scale() > scale:
		return "", parse.ReasonAmountPrecision
	}
	d, err := d.WithScale(scale)
	if err != nil { // unreachable: scale only grows here
		return "", parse.ReasonAmountInvalid
	}
	return d.String(), ""
}

// ToSettlement is Check with the row stamped with the version digest of
// raw (the record's bytes, which rec was parsed from), the run id and the
// raw object it came from.
func ToSettlement(raw []byte, rec parse.Record, rules Rules, runID, ref string) (warehouse.Settlement, string) {
	row, reason := Check(rec, rules)
	if reason != "" {
		return warehouse.Settlement{}, reason
	}
	row.VersionDigest = dedup.Digest(raw)
	row.RunID = runID
	row.RawRef = ref
	return row, ""
}

// FormatTime writes t in UTC as RFC 3339 with a fixed fraction: 6 digits
// (microseconds, the vendor's precision) when t has no sub-microsecond
// part, else 9. For example 2025-03-14T10:00:00.000000Z.
func FormatTime(t time.Time) string {
	t = t.UTC()
	if t.Nanosecond()%1000 == 0 {
		return t.Format("2006-01-02T15:04:05.000000Z")
	}
	return t.Format("2006-01-02T15:04:05.000000000Z")
}
