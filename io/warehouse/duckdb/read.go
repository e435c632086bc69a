//go:build cgo

package duckdb

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/marketplace/settle/io/warehouse"
)

// Settlements returns every settlements row ordered by vendor_txn_id: money
// as canonical decimal text (no trailing fraction zeros: "1000", "0.5"),
// timestamps as RFC 3339 in UTC, metadata as the stored JSON text. It reads
// the whole table, so it is meant for tests and small reconciliations.
func (w *Warehouse) Settlements(ctx context.Context) ([]warehouse.Settlement, error) {
	return w.settlements(ctx, "")
}

// settlements reads the settlements rows that where (a WHERE clause, or
// "") selects, ordered by vendor_txn_id.
func (w *Warehouse) settlements(ctx context.Context, where string, args ...any) ([]warehouse.Settlement, error) {
	rows, err := w.db.QueryContext(ctx, `SELECT vendor_txn_id, order_id, seller_id, type, status,
		CAST(amount AS VARCHAR), CAST(fee AS VARCHAR), currency, created_at, updated_at, settled_at,
		CAST(metadata AS VARCHAR), run_id, raw_ref, coalesce(version_digest, '')
		FROM settlements `+where+` ORDER BY vendor_txn_id`, args...)
	if err != nil {
		return nil, fmt.Errorf("reading settlements: %w", err)
	}
	defer rows.Close()
	var out []warehouse.Settlement
	for rows.Next() {
		var s warehouse.Settlement
		var seller, typ, status, amount, fee, currency, metadata, runID, rawRef sql.NullString
		var created, updated, settled sql.NullTime
		if err := rows.Scan(&s.VendorTxnID, &s.OrderID, &seller, &typ, &status, &amount, &fee,
			&currency, &created, &updated, &settled, &metadata, &runID, &rawRef, &s.VersionDigest); err != nil {
			return nil, fmt.Errorf("reading settlements: %w", err)
		}
		s.SellerID, s.Type, s.Status, s.Currency = seller.String, typ.String, status.String, currency.String
		s.Amount, s.Fee = canonicalDecimal(amount.String), canonicalDecimal(fee.String)
		s.CreatedAt, s.UpdatedAt = formatTime(created), formatTime(updated)
		if settled.Valid {
			v := formatTime(settled)
			s.SettledAt = &v
		}
		s.Metadata, s.RunID, s.RawRef = metadata.String, runID.String, rawRef.String
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading settlements: %w", err)
	}
	return out, nil
}

// Quarantine returns every settlements_quarantine row ordered by
// quarantine_key, in the same text forms as Settlements.
func (w *Warehouse) Quarantine(ctx context.Context) ([]warehouse.Quarantined, error) {
	rows, err := w.db.QueryContext(ctx, `SELECT quarantine_key, vendor_txn_id, reason,
		CAST(raw AS VARCHAR), run_id, raw_ref, quarantined_at, updated_at, version_digest,
		displaced_updated_at, displaced_version_digest
		FROM settlements_quarantine ORDER BY quarantine_key`)
	if err != nil {
		return nil, fmt.Errorf("reading quarantine: %w", err)
	}
	defer rows.Close()
	var out []warehouse.Quarantined
	for rows.Next() {
		var q warehouse.Quarantined
		var reason, raw, runID, rawRef sql.NullString
		var at, updated, displaced sql.NullTime
		if err := rows.Scan(&q.QuarantineKey, &q.VendorTxnID, &reason, &raw, &runID, &rawRef, &at,
			&updated, &q.VersionDigest, &displaced, &q.DisplacedDigest); err != nil {
			return nil, fmt.Errorf("reading quarantine: %w", err)
		}
		q.UpdatedAt, q.DisplacedUpdatedAt = optTime(updated), optTime(displaced)
		q.Reason, q.Raw, q.RunID, q.RawRef = reason.String, raw.String, runID.String, rawRef.String
		q.QuarantinedAt = formatTime(at)
		out = append(out, q)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading quarantine: %w", err)
	}
	return out, nil
}

// Withheld returns every settlements_withheld row ordered by vendor_txn_id.
func (w *Warehouse) Withheld(ctx context.Context) ([]warehouse.Withheld, error) {
	rows, err := w.db.QueryContext(ctx, `SELECT vendor_txn_id, updated_at, version_digest,
		coalesce(reason, ''), coalesce(quarantine_key, ''), coalesce(run_id, ''), coalesce(raw_ref, '')
		FROM settlements_withheld ORDER BY vendor_txn_id`)
	if err != nil {
		return nil, fmt.Errorf("reading withheld settlements: %w", err)
	}
	defer rows.Close()
	var out []warehouse.Withheld
	for rows.Next() {
		var h warehouse.Withheld
		var updated sql.NullTime
		if err := rows.Scan(&h.VendorTxnID, &updated, &h.VersionDigest, &h.Reason, &h.QuarantineKey, &h.RunID, &h.RawRef); err != nil {
			return nil, fmt.Errorf("reading withheld settlements: %w", err)
		}
		h.UpdatedAt = formatTime(updated)
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading withheld settlements: %w", err)
	}
	return out, nil
}

func optTime(t sql.NullTime) *string {
	if !t.Valid {
		return nil
	}
	s := formatTime(t)
	return &s
}

func formatTime(t sql.NullTime) string {
	if !t.Valid {
		return ""
	}
	return t.Time.UTC().Format(time.RFC3339Nano)
}

// canonicalDecimal drops trailing fraction zeros (and a bare point) from a
// fixed-scale decimal: "1000.000000000" -> "1000".
func canonicalDecimal(s string) string {
	if !strings.Contains(s, ".") {
		return s
	}
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}
