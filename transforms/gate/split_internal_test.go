package gate

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/marketplace/settle/io/warehouse"
	"github.com/marketplace/settle/transforms/parse"
)

// hexDigest is the version digest written out independently of dedup.Digest.
func hexDigest(raw []byte) string {
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:16])
}

func TestGateFnRoutesEachRecordOnce(t *testing.T) {
	at := time.Date(2025, 3, 15, 0, 0, 0, 0, time.UTC)
	fn := newGateFn(DefaultRules(), "run-1", at)
	in := []parse.Raw{
		{Ref: "p1", Index: 0, Data: []byte(`{"vendor_txn_id":"st_1","seller_id":"s","type":"fee","status":"pending","amount":"1.00","fee":"0.00","currency":"eur","created_at":"2025-03-14T00:00:00Z","updated_at":"2025-03-14T00:00:01Z","settled_at":null,"order_id":null,"metadata":{}}`)},
		{Ref: "p1", Index: 1, Data: []byte(`{"vendor_txn_id":"st_2","updated_at":"2025-03-14T00:00:01Z"}`)},
		{Ref: "p1", Index: 2, Data: []byte(`null`)},
		{Ref: "p1", Index: 3, Data: []byte(`{"a":1,"a":2}`)},
	}
	var valid []warehouse.Settlement
	var quarantined []warehouse.Quarantined
	for _, r := range in {
		fn.ProcessElement(t.Context(), r,
			func(s warehouse.Settlement) { valid = append(valid, s) },
			func(q warehouse.Quarantined) { quarantined = append(quarantined, q) })
	}
	wantValid := []warehouse.Settlement{{
		VendorTxnID: "st_1", SellerID: "s", Type: "fee", Status: "pending", Amount: "1.00", Fee: "0.00",
		Currency: "EUR", CreatedAt: "2025-03-14T00:00:00.000000Z", UpdatedAt: "2025-03-14T00:00:01.000000Z",
		Metadata: "{}", RunID: "run-1", RawRef: "p1", VersionDigest: hexDigest(in[0].Data),
	}}
	if diff := cmp.Diff(wantValid, valid); diff != "" {
		t.Errorf("valid output mismatch (-want +got):\n%s", diff)
	}
	id, at1, dig := "st_2", "2025-03-14T00:00:01.000000Z", hexDigest(in[1].Data)
	wantQuarantined := []warehouse.Quarantined{
		{QuarantineKey: "st_2@2025-03-14T00:00:01.000000Z#" + dig, VendorTxnID: &id, UpdatedAt: &at1, VersionDigest: &dig, Reason: parse.ReasonCreatedAtInvalid, Raw: string(in[1].Data), RunID: "run-1", RawRef: "p1", QuarantinedAt: "2025-03-15T00:00:00.000000Z"},
		{QuarantineKey: "p1#2", Reason: parse.ReasonRecordNotObject, Raw: "null", RunID: "run-1", RawRef: "p1", QuarantinedAt: "2025-03-15T00:00:00.000000Z"},
		{QuarantineKey: "p1#3", Reason: parse.ReasonDuplicateKey, Raw: string(in[3].Data), RunID: "run-1", RawRef: "p1", QuarantinedAt: "2025-03-15T00:00:00.000000Z"},
	}
	if diff := cmp.Diff(wantQuarantined, quarantined); diff != "" {
		t.Errorf("quarantine output mismatch (-want +got):\n%s", diff)
	}
}
