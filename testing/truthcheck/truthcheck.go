// Package truthcheck compares what a warehouse holds with the vendor
// simulator's ground truth: every settlement whose newest version is valid
// once in settlements, at that version, with exact amounts; every one whose
// newest version is invalid absent from settlements, withheld with that
// version's reason and logged in quarantine; nothing else anywhere. It is
// shared by the end-to-end tests of every back end.
package truthcheck

import (
	"database/sql"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/marketplace/settle/io/warehouse"
	"github.com/marketplace/settle/testing/vendorsim"
)

// Row is what the warehouse holds for one vendor_txn_id.
type Row struct {
	SellerID, Type, Status, Amount, Fee, Currency string
	UpdatedAt                                     time.Time
}

// Warehouse is the content to compare: settlements by id, the withheld
// settlements' reasons by id, the reasons the quarantine log holds by id,
// and the reasons of quarantine rows without an id.
type Warehouse struct {
	Settlements map[string]Row
	Withheld    map[string]string
	Logged      map[string][]string
	Unkeyed     []string
}

// FromRows builds the Warehouse of rows read through a back end's readers
// (warehousetest.Reader).
func FromRows(t testing.TB, settlements []warehouse.Settlement, quarantine []warehouse.Quarantined, withheld []warehouse.Withheld) Warehouse {
	t.Helper()
	w := newWarehouse()
	for _, s := range settlements {
		updated, err := time.Parse(time.RFC3339Nano, s.UpdatedAt)
		if err != nil {
			t.Errorf("%s: updated_at %q: %v", s.VendorTxnID, s.UpdatedAt, err)
		}
		w.addSettlement(t, s.VendorTxnID, Row{SellerID: s.SellerID, Type: s.Type, Status: s.Status,
			Amount: s.Amount, Fee: s.Fee, Currency: s.Currency, UpdatedAt: updated})
	}
	for _, q := range quarantine {
		w.addLogged(q.VendorTxnID, q.Reason)
	}
	for _, h := range withheld {
		w.Withheld[h.VendorTxnID] = h.Reason
	}
	return w
}

func newWarehouse() Warehouse {
	return Warehouse{Settlements: map[string]Row{}, Withheld: map[string]string{}, Logged: map[string][]string{}}
}

func (w *Warehouse) addSettlement(t testing.TB, id string, r Row) {
	t.Helper()
	if _, dup := w.Settlements[id]; dup {
		t.Errorf("settlements holds %s twice", id)
	}
	w.Settlements[id] = r
}

func (w *Warehouse) addLogged(id *string, reason string) {
	if id == nil {
		w.Unkeyed = append(w.Unkeyed, reason)
		return
	}
	w.Logged[*id] = append(w.Logged[*id], reason)
}

// ReadDuckDB reads a DuckDB warehouse file (opened read-only).
func ReadDuckDB(t testing.TB, driver, path string) Warehouse {
	t.Helper()
	db, err := sql.Open(driver, path+"?access_mode=read_only")
	if err != nil {
		t.Fatalf("opening warehouse %s: %v", path, err)
	}
	defer db.Close()
	w := newWarehouse()
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
		w.addSettlement(t, id, r)
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
		var idp *string
		if id.Valid {
			idp = &id.String
		}
		w.addLogged(idp, reason)
	}
	if err := q.Err(); err != nil {
		t.Fatalf("reading quarantine: %v", err)
	}
	h, err := db.Query(`SELECT vendor_txn_id, coalesce(reason, '') FROM settlements_withheld`)
	if err != nil {
		t.Fatalf("reading withheld settlements: %v", err)
	}
	defer h.Close()
	for h.Next() {
		var id, reason string
		if err := h.Scan(&id, &reason); err != nil {
			t.Fatalf("scanning withheld settlement: %v", err)
		}
		w.Withheld[id] = reason
	}
	if err := h.Err(); err != nil {
		t.Fatalf("reading withheld settlements: %v", err)
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
		reason, withheld := w.Withheld[tr.VendorTxnID]
		if !tr.Valid {
			switch {
			case inSettlements:
				t.Errorf("%s: its newest version is invalid (%s) but settlements holds version %s", tr.VendorTxnID, tr.Reason, row.UpdatedAt)
			case !withheld:
				t.Errorf("%s is invalid (%s) but is not withheld", tr.VendorTxnID, tr.Reason)
			case reason != tr.Reason:
				t.Errorf("%s withheld for %q, want %q", tr.VendorTxnID, reason, tr.Reason)
			}
			if !slices.Contains(w.Logged[tr.VendorTxnID], tr.Reason) {
				t.Errorf("%s is invalid (%s) but the quarantine log has only %q", tr.VendorTxnID, tr.Reason, w.Logged[tr.VendorTxnID])
			}
			continue
		}
		valid++
		if withheld {
			t.Errorf("%s is valid (version %d) but withheld for %q", tr.VendorTxnID, tr.Version, reason)
		}
		if !inSettlements {
			t.Errorf("%s (valid, version %d) is missing from settlements", tr.VendorTxnID, tr.Version)
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
	for id := range w.Withheld {
		if !listed[id] {
			t.Errorf("settlements_withheld holds %s, which the vendor never listed", id)
		}
	}
	for id := range w.Logged {
		if !listed[id] {
			t.Errorf("quarantine holds %s, which the vendor never listed", id)
		}
	}
	if len(w.Settlements) != valid {
		t.Errorf("settlements has %d rows, want %d valid records", len(w.Settlements), valid)
	}
}
