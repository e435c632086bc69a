package bigquery

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	bq "cloud.google.com/go/bigquery"
	"google.golang.org/api/iterator"

	"github.com/marketplace/settle/io/warehouse"
)

type settlementRow struct {
	VendorTxnID string           `bigquery:"vendor_txn_id"`
	OrderID     bq.NullString    `bigquery:"order_id"`
	SellerID    bq.NullString    `bigquery:"seller_id"`
	Type        bq.NullString    `bigquery:"type"`
	Status      bq.NullString    `bigquery:"status"`
	Amount      *big.Rat         `bigquery:"amount"`
	Fee         *big.Rat         `bigquery:"fee"`
	Currency    bq.NullString    `bigquery:"currency"`
	CreatedAt   bq.NullTimestamp `bigquery:"created_at"`
	UpdatedAt   bq.NullTimestamp `bigquery:"updated_at"`
	SettledAt   bq.NullTimestamp `bigquery:"settled_at"`
	Metadata    bq.NullString    `bigquery:"metadata"`
	RunID       bq.NullString    `bigquery:"run_id"`
	RawRef      bq.NullString    `bigquery:"raw_ref"`
	Digest      bq.NullString    `bigquery:"version_digest"`
}

// Settlements returns every settlements row ordered by vendor_txn_id: money
// as canonical decimal text (no trailing fraction zeros: "1000", "0.5"),
// timestamps as RFC 3339 in UTC, metadata as JSON text. It reads the whole
// table, so it is meant for tests and small reconciliations.
func (w *Warehouse) Settlements(ctx context.Context) ([]warehouse.Settlement, error) {
	return w.settlements(ctx, "", nil)
}

// settlements reads the settlements rows that where (a WHERE clause with
// named parameters, or "") selects, ordered by vendor_txn_id.
func (w *Warehouse) settlements(ctx context.Context, where string, params map[string]any) ([]warehouse.Settlement, error) {
	q := w.client.Query(`SELECT vendor_txn_id, order_id, seller_id, type, status, amount, fee,
		currency, created_at, updated_at, settled_at, TO_JSON_STRING(metadata) AS metadata, run_id, raw_ref,
		version_digest
		FROM ` + w.table(TableSettlements) + ` ` + where + ` ORDER BY vendor_txn_id`)
	for name, v := range params {
		q.Parameters = append(q.Parameters, bq.QueryParameter{Name: name, Value: v})
	}
	it, err := q.Read(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading settlements: %w", err)
	}
	var out []warehouse.Settlement
	for {
		var r settlementRow
		err := it.Next(&r)
		if errors.Is(err, iterator.Done) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading settlements: %w", err)
		}
		s := warehouse.Settlement{
			VendorTxnID: r.VendorTxnID, SellerID: r.SellerID.StringVal, Type: r.Type.StringVal,
			Status: r.Status.StringVal, Amount: decimalText(r.Amount), Fee: decimalText(r.Fee),
			Currency: r.Currency.StringVal, CreatedAt: formatTime(r.CreatedAt), UpdatedAt: formatTime(r.UpdatedAt),
			Metadata: r.Metadata.StringVal, RunID: r.RunID.StringVal, RawRef: r.RawRef.StringVal,
			VersionDigest: r.Digest.StringVal,
		}
		if r.OrderID.Valid {
			s.OrderID = &r.OrderID.StringVal
		}
		if r.SettledAt.Valid {
			v := formatTime(r.SettledAt)
			s.SettledAt = &v
		}
		out = append(out, s)
	}
}

type quarantineRow struct {
	QuarantineKey string           `bigquery:"quarantine_key"`
	VendorTxnID   bq.NullString    `bigquery:"vendor_txn_id"`
	Reason        bq.NullString    `bigquery:"reason"`
	Raw           bq.NullString    `bigquery:"raw"`
	RunID         bq.NullString    `bigquery:"run_id"`
	RawRef        bq.NullString    `bigquery:"raw_ref"`
	QuarantinedAt bq.NullTimestamp `bigquery:"quarantined_at"`
	UpdatedAt     bq.NullTimestamp `bigquery:"updated_at"`
	Digest        bq.NullString    `bigquery:"version_digest"`
	DisplacedAt   bq.NullTimestamp `bigquery:"displaced_updated_at"`
	DisplacedDig  bq.NullString    `bigquery:"displaced_version_digest"`
}

// Quarantine returns every settlements_quarantine row ordered by
// quarantine_key, in the same text forms as Settlements.
func (w *Warehouse) Quarantine(ctx context.Context) ([]warehouse.Quarantined, error) {
	it, err := w.client.Query(`SELECT quarantine_key, vendor_txn_id, reason, TO_JSON_STRING(raw) AS raw,
		run_id, raw_ref, quarantined_at, updated_at, version_digest, displaced_updated_at, displaced_version_digest
		FROM ` + w.table(TableQuarantine) + ` ORDER BY quarantine_key`).Read(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading quarantine: %w", err)
	}
	var out []warehouse.Quarantined
	for {
		var r quarantineRow
		err := it.Next(&r)
		if errors.Is(err, iterator.Done) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading quarantine: %w", err)
		}
		q := warehouse.Quarantined{
			QuarantineKey: r.QuarantineKey, Reason: r.Reason.StringVal, Raw: r.Raw.StringVal,
			RunID: r.RunID.StringVal, RawRef: r.RawRef.StringVal, QuarantinedAt: formatTime(r.QuarantinedAt),
		}
		if r.VendorTxnID.Valid {
			q.VendorTxnID = &r.VendorTxnID.StringVal
		}
		q.UpdatedAt, q.VersionDigest = optTime(r.UpdatedAt), optString(r.Digest)
		q.DisplacedUpdatedAt, q.DisplacedDigest = optTime(r.DisplacedAt), optString(r.DisplacedDig)
		out = append(out, q)
	}
}

type withheldRow struct {
	VendorTxnID   string           `bigquery:"vendor_txn_id"`
	UpdatedAt     bq.NullTimestamp `bigquery:"updated_at"`
	VersionDigest bq.NullString    `bigquery:"version_digest"`
	Reason        bq.NullString    `bigquery:"reason"`
	QuarantineKey bq.NullString    `bigquery:"quarantine_key"`
	RunID         bq.NullString    `bigquery:"run_id"`
	RawRef        bq.NullString    `bigquery:"raw_ref"`
}

// Withheld returns every settlements_withheld row ordered by vendor_txn_id.
func (w *Warehouse) Withheld(ctx context.Context) ([]warehouse.Withheld, error) {
	it, err := w.client.Query(`SELECT vendor_txn_id, updated_at, version_digest, reason, quarantine_key, run_id, raw_ref
		FROM ` + w.table(TableWithheld) + ` ORDER BY vendor_txn_id`).Read(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading withheld settlements: %w", err)
	}
	var out []warehouse.Withheld
	for {
		var r withheldRow
		err := it.Next(&r)
		if errors.Is(err, iterator.Done) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading withheld settlements: %w", err)
		}
		out = append(out, warehouse.Withheld{
			VendorTxnID: r.VendorTxnID, UpdatedAt: formatTime(r.UpdatedAt), VersionDigest: r.VersionDigest.StringVal,
			Reason: r.Reason.StringVal, QuarantineKey: r.QuarantineKey.StringVal, RunID: r.RunID.StringVal,
			RawRef: r.RawRef.StringVal,
		})
	}
}

func optTime(t bq.NullTimestamp) *string {
	if !t.Valid {
		return nil
	}
	s := formatTime(t)
	return &s
}

func optString(s bq.NullString) *string {
	if !s.Valid {
		return nil
	}
	return &s.StringVal
}

func formatTime(t bq.NullTimestamp) string {
	if !t.Valid {
		return ""
	}
	return t.Timestamp.UTC().Format(time.RFC3339Nano)
}

// decimalText formats a NUMERIC exactly, without trailing fraction zeros;
// NULL is "".
func decimalText(r *big.Rat) string {
	if r == nil {
		return ""
	}
	s := r.FloatString(bq.NumericScaleDigits)
	if strings.Contains(s, ".") {
		s = strings.TrimSuffix(strings.TrimRight(s, "0"), ".")
	}
	return s
}
