// Package truthcheck compares what a warehouse holds with the vendor
// simulator's ground truth: every valid record once, at its newest version,
// with exact amounts; every invalid one in quarantine with its reason;
// nothing else anywhere. It is shared by the end-to-end tests of every
// back end.
package truthcheck

import (
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/marketplace/settle/testing/vendorsim"
)

// Row is what the warehouse holds for one vendor_txn_id.
type Row struct {
	SellerID, Type, Status, Amount, Fee, Currency string
	UpdatedAt                                     time.Time
}

// Warehouse is the content to compare: settlements by id, quarantine
// reasons by id, and the reasons of quarantine rows without an id.
type Warehouse struct {
	Settlements map[string]Row
	Quarantined map[string]string
	Unkeyed     []string
}

// ReadDuckDB reads a DuckDB warehouse file (opened read-only).
func ReadDuckDB(t testing.TB, driver, path string) Warehouse {
	t.Helper()
	db, err := sql.Open(driver, path+"?access_mode=read_only")
	if err != nil {
		t.Fatalf("opening warehouse %s: %v", path, err)
	}
	defer db.Close()
	w := Warehouse{Settlements: map[string]Row{}, Quarantined: map[string]string{}}
	rows, err := db.Query(`SELECT vendor_txn_id, seller_id, type, status, amount::VARCHAR, fee::VARCHAR, currency, updated_at FROM settlements`)
	if err != nil {
		t.Fatalf("reading settlements: %v", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var r Row
		if err := rows.Scan(&id, &r.SellerID, &r.Type, &r.Status, &r.Amount, &r.Fee, &r.Currency, &r.UpdatedAt); err != nil {
			t.Fatalf("scanning settlement: %v", err)
		}
		if _, dup := w.Settlements[id]; dup {
			t.Errorf("settlements holds %s twice", id)
		}
		w.Settlements[id] = r
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("reading settlements: %v", err)
	}
	q, err := db.Query(`SELECT vendor_txn_id, reason FROM settlements_quarantine`)
	if err != nil {
		t.Fatalf("reading quarantine: %v", err)
	}
	defer q.Close()
	for q.Next() {
		var id sql.NullString
		var reason string
		if err := q.Scan(&id, &reason); err != nil {
			t.Fatalf("scanning quarantine: %v", err)
		}
		if id.Valid {
			w.Quarantined[id.String] = reason
		} else {
			w.Unkeyed = append(w.Unkeyed, reason)
		}
	}
	if err := q.Err(); err != nil {
		t.Fatalf("reading quarantine: %v", err)
	}
	return w
}

// DuckDBPath returns the file of a duckdb:// warehouse URI.
func DuckDBPath(uri string) string { return strings.TrimPrefix(uri, "duckdb://") }

// Compare reports every difference between w and truth.
func Compare(t testing.TB, w Warehouse, truth []vendorsim.TruthRecord) {
	t.Helper()
	valid := 0
	listed := make(map[string]bool, len(truth))
	for _, tr := range truth {
		listed[tr.VendorTxnID] = true
		row, inSettlements := w.Settlements[tr.VendorTxnID]
		reason, inQuarantine := w.Quarantined[tr.VendorTxnID]
		if !tr.Valid {
			switch {
			case inSettlements:
				t.Errorf("%s is invalid (%s) but reached settlements", tr.VendorTxnID, tr.Reason)
			case !inQuarantine:
				t.Errorf("%s is invalid (%s) but is not in quarantine", tr.VendorTxnID, tr.Reason)
			case reason != tr.Reason:
				t.Errorf("%s quarantined for %q, want %q", tr.VendorTxnID, reason, tr.Reason)
			}
			continue
		}
		valid++
		if !inSettlements {
			t.Errorf("%s (valid, version %d) is missing from settlements (quarantined: %q)", tr.VendorTxnID, tr.Version, reason)
			continue
		}
		if !row.UpdatedAt.Equal(tr.UpdatedAt) {
			t.Errorf("%s updated_at = %s, want newest %s", tr.VendorTxnID, row.UpdatedAt, tr.UpdatedAt)
		}
		if !vendorsim.DecimalEqual(row.Amount, tr.Amount) || !vendorsim.DecimalEqual(row.Fee, tr.Fee) {
			t.Errorf("%s amount, fee = %s, %s, want %s, %s", tr.VendorTxnID, row.Amount, row.Fee, tr.Amount, tr.Fee)
		}
		if row.Currency != tr.Currency || row.Status != tr.Status || row.SellerID != tr.SellerID || row.Type != tr.Type {
			t.Errorf("%s = %+v, want currency %s status %s seller %s type %s", tr.VendorTxnID, row, tr.Currency, tr.Status, tr.SellerID, tr.Type)
		}
	}
	for id := range w.Settlements {
		if !listed[id] {
			t.Errorf("settlements holds %s, which the vendor never listed", id)
		}
	}
	for id := range w.Quarantined {
		if !listed[id] {
			t.Errorf("quarantine holds %s, which the vendor never listed", id)
		}
	}
	if len(w.Settlements) != valid {
		t.Errorf("settlements has %d rows, want %d valid records", len(w.Settlements), valid)
	}
}
