package gate

import (
	"strconv"
	"time"

	"github.com/marketplace/settle/io/warehouse"
	"github.com/marketplace/settle/transforms/parse"
)

// PageIndex is the record index to give Quarantine and QuarantineKey for a
// whole page (reason page_unparseable).
const PageIndex = -1

// QuarantineKey is the idempotency key of a quarantined row (see
// warehouse.Quarantined): vendor_txn_id + "@" + updated_at (FormatTime)
// when rec has a usable id and updated_at, else ref + "#" + index, or
// ref + "#page" when index is PageIndex (or any negative number).
func QuarantineKey(rec parse.Record, ref string, index int) string {
	if rec.VendorTxnID.State == parse.Present && rec.VendorTxnID.Value != "" && rec.UpdatedAt.State == parse.Present {
		return rec.VendorTxnID.Value + "@" + FormatTime(rec.UpdatedAt.Value)
	}
	if index < 0 {
		return ref + "#page"
	}
	return ref + "#" + strconv.Itoa(index)
}

// Quarantine builds the quarantine row of a record (or, with index
// PageIndex, of a whole page). raw is the record's (page's) bytes exactly as
// the vendor sent them; rec is what parse made of them, the zero Record when
// parsing failed. at is the run's quarantine time, written by FormatTime.
func Quarantine(raw []byte, rec parse.Record, reason, runID, ref string, index int, at time.Time) warehouse.Quarantined {
	q := warehouse.Quarantined{
		QuarantineKey: QuarantineKey(rec, ref, index),
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
	return q
}
