package gate

import (
	"strconv"
	"time"

	"github.com/marketplace/settle/io/warehouse"
	"github.com/marketplace/settle/transforms/dedup"
	"github.com/marketplace/settle/transforms/parse"
)

// PageIndex is the record index to give Quarantine and QuarantineKey for a
// whole page (reason page_unparseable).
const PageIndex = -1

// QuarantineKey is the idempotency key of a quarantined row (see
// warehouse.Quarantined): vendor_txn_id + "@" + updated_at (FormatTime) +
// "#" + the version digest of raw when rec is a version (a usable id and
// updated_at), else ref + "#" + index, or ref + "#page" when index is
// PageIndex (or any negative number).
func QuarantineKey(raw []byte, rec parse.Record, ref string, index int) string {
	if isVersion(rec) {
		return rec.VendorTxnID.Value + "@" + FormatTime(rec.UpdatedAt.Value) + "#" + dedup.Digest(raw)
	}
	if index < 0 {
		return ref + "#page"
	}
	return ref + "#" + strconv.Itoa(index)
}

// isVersion reports whether rec identifies a version of a settlement.
func isVersion(rec parse.Record) bool {
	return rec.VendorTxnID.State == parse.Present && rec.VendorTxnID.Value != "" && rec.UpdatedAt.State == parse.Present
}

// Quarantine builds the quarantine row of a record (or, with index
// PageIndex, of a whole page). raw is the record's (page's) bytes exactly as
// the vendor sent them; rec is what parse made of them, the zero Record when
// parsing failed. at is the run's quarantine time, written by FormatTime.
func Quarantine(raw []byte, rec parse.Record, reason, runID, ref string, index int, at time.Time) warehouse.Quarantined {
	q := warehouse.Quarantined{
		QuarantineKey: QuarantineKey(raw, rec, ref, index),
		Reason:        reason,
		Raw:           string(raw),
		RunID:         runID,
		RawRef:        ref,
		QuarantinedAt: FormatTime(at),
	}
	if rec.VendorTxnID.State == parse.Present {
		id := rec.VendorTxnID.Value
		q.VendorTxnID = &id
	}
	if isVersion(rec) {
		at, digest := FormatTime(rec.UpdatedAt.Value), dedup.Digest(raw)
		q.UpdatedAt, q.VersionDigest = &at, &digest
	}
	return q
}
