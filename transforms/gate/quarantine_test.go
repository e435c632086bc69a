package gate_test

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/marketplace/settle/io/warehouse"
	"github.com/marketplace/settle/transforms/gate"
	"github.com/marketplace/settle/transforms/parse"
)

// digestOf is the version digest written out independently of dedup.Digest.
func digestOf(raw string) string {
	sum := sha256.Sum256([]byte(raw))
	return hex.EncodeToString(sum[:16])
}

func TestQuarantine(t *testing.T) {
	at := time.Date(2025, 3, 15, 1, 2, 3, 0, time.UTC)
	const ref = "pages/s/date=2025-03-14/window=x/page-00007-ab.json.gz"
	tests := []struct {
		name   string
		raw    string
		index  int
		reason string
		want   warehouse.Quarantined
	}{
		{
			name:   "a record with an id and updated_at is keyed by them",
			raw:    `{"vendor_txn_id":"st_1","updated_at":"2025-03-14T12:00:00+02:00","amount":null}`,
			index:  3,
			reason: parse.ReasonAmountMissing,
			want: warehouse.Quarantined{
				// The digest: sha256 of the raw bytes, first 16 bytes in hex.
				QuarantineKey: "st_1@2025-03-14T10:00:00.000000Z#" + digestOf(`{"vendor_txn_id":"st_1","updated_at":"2025-03-14T12:00:00+02:00","amount":null}`),
				VendorTxnID:   ptr("st_1"),
				UpdatedAt:     ptr("2025-03-14T10:00:00.000000Z"),
				VersionDigest: ptr(digestOf(`{"vendor_txn_id":"st_1","updated_at":"2025-03-14T12:00:00+02:00","amount":null}`)),
				Reason:        parse.ReasonAmountMissing,
				Raw:           `{"vendor_txn_id":"st_1","updated_at":"2025-03-14T12:00:00+02:00","amount":null}`,
			},
		},
		{
			name:   "a record without updated_at is keyed by its place but keeps its id",
			raw:    `{"vendor_txn_id":"st_1"}`,
			index:  3,
			reason: parse.ReasonUpdatedAtInvalid,
			want: warehouse.Quarantined{
				QuarantineKey: ref + "#3",
				VendorTxnID:   ptr("st_1"),
				Reason:        parse.ReasonUpdatedAtInvalid,
				Raw:           `{"vendor_txn_id":"st_1"}`,
			},
		},
		{
			name:   "a record that is not an object is kept as its text",
			raw:    `42`,
			index:  0,
			reason: parse.ReasonRecordNotObject,
			want: warehouse.Quarantined{
				QuarantineKey: ref + "#0",
				Reason:        parse.ReasonRecordNotObject,
				Raw:           `42`,
			},
		},
		{
			name:   "a whole page is keyed by its ref",
			raw:    `{"data":[{"vendor_txn_id":"st_1"`,
			index:  gate.PageIndex,
			reason: parse.ReasonPageUnparseable,
			want: warehouse.Quarantined{
				QuarantineKey: ref + "#page",
				Reason:        parse.ReasonPageUnparseable,
				Raw:           `{"data":[{"vendor_txn_id":"st_1"`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, _ := parse.ParseRecord([]byte(tt.raw))
			got := gate.Quarantine([]byte(tt.raw), rec, tt.reason, "run-9", ref, tt.index, at)
			want := tt.want
			want.RunID, want.RawRef, want.QuarantinedAt = "run-9", ref, "2025-03-15T01:02:03.000000Z"
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Quarantine mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
