// Command plainloop is make bench's yardstick for processing: the simplest
// program that turns a day's raw zone into a table of settlements. One
// goroutine walks every page object under -raw, gunzips it, decodes the
// page and its records with encoding/json, keeps the newest version of each
// vendor_txn_id in a map (updated_at, then the greater version digest, as
// the pipeline does), and appends the winners to a DuckDB table with the
// Appender. No validation, no quarantine, no staging, no merge.
//
// benchday runs it as a child process on the raw zone the day's ingest
// wrote, so its wall time and peak RSS are measured as settle replay's are.
package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"
)

type record struct {
	VendorTxnID string          `json:"vendor_txn_id"`
	OrderID     *string         `json:"order_id"`
	SellerID    string          `json:"seller_id"`
	Type        string          `json:"type"`
	Status      string          `json:"status"`
	Amount      json.Number     `json:"amount"`
	Fee         json.Number     `json:"fee"`
	Currency    string          `json:"currency"`
	CreatedAt   string          `json:"created_at"`
	UpdatedAt   string          `json:"updated_at"`
	SettledAt   *string         `json:"settled_at"`
	Metadata    json.RawMessage `json:"metadata"`
}

type version struct {
	rec     record
	updated time.Time
	digest  string
	ref     string
}

func main() {
	raw := flag.String("raw", "", "raw zone directory (holds pages/)")
	db := flag.String("db", "", "DuckDB file to create")
	flag.Parse()
	if *raw == "" || *db == "" {
		fmt.Fprintln(os.Stderr, "usage: plainloop -raw DIR -db FILE")
		os.Exit(2)
	}
	n, w, err := run(*raw, *db)
	if err != nil {
		fmt.Fprintln(os.Stderr, "plainloop:", err)
		os.Exit(1)
	}
	fmt.Printf("records %d winners %d\n", n, w)
}

func run(rawDir, dbPath string) (records, winners int, err error) {
	latest := map[string]*version{}
	var buf bytes.Buffer
	err = filepath.WalkDir(rawDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".json.gz") {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		zr, err := gzip.NewReader(f)
		if err != nil {
			return fmt.Errorf("gunzipping %s: %w", p, err)
		}
		buf.Reset()
		if _, err := io.Copy(&buf, zr); err != nil {
			return fmt.Errorf("gunzipping %s: %w", p, err)
		}
		var page struct {
			Body struct {
				Data []json.RawMessage `json:"data"`
			} `json:"body"`
		}
		if err := json.Unmarshal(buf.Bytes(), &page); err != nil {
			return fmt.Errorf("decoding %s: %w", p, err)
		}
		for _, r := range page.Body.Data {
			records++
			var v version
			if err := json.Unmarshal(r, &v.rec); err != nil || v.rec.VendorTxnID == "" {
				continue
			}
			if v.updated, err = time.Parse(time.RFC3339Nano, v.rec.UpdatedAt); err != nil {
				continue
			}
			sum := sha256.Sum256(r)
			v.digest, v.ref = hex.EncodeToString(sum[:16]), p
			old, ok := latest[v.rec.VendorTxnID]
			if !ok || v.updated.After(old.updated) || (v.updated.Equal(old.updated) && v.digest > old.digest) {
				latest[v.rec.VendorTxnID] = &v
			}
		}
		return nil
	})
	if err != nil {
		return records, 0, err
	}
	return records, len(latest), appendAll(dbPath, latest)
}

func appendAll(path string, latest map[string]*version) error {
	os.Remove(path)
	c, err := duckdb.NewConnector(path, nil)
	if err != nil {
		return err
	}
	defer c.Close()
	db := sql.OpenDB(c)
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE settlements (vendor_txn_id VARCHAR PRIMARY KEY, order_id VARCHAR, seller_id VARCHAR,
		type VARCHAR, status VARCHAR, amount VARCHAR, fee VARCHAR, currency VARCHAR, created_at VARCHAR,
		updated_at VARCHAR, settled_at VARCHAR, metadata VARCHAR, version_digest VARCHAR, raw_ref VARCHAR)`); err != nil {
		return err
	}
	conn, err := c.Connect(context.Background())
	if err != nil {
		return err
	}
	defer conn.Close()
	app, err := duckdb.NewAppenderFromConn(conn, "", "settlements")
	if err != nil {
		return err
	}
	for id, v := range latest {
		r := v.rec
		if err := app.AppendRow(id, opt(r.OrderID), r.SellerID, r.Type, r.Status, dec(r.Amount), dec(r.Fee), r.Currency,
			r.CreatedAt, r.UpdatedAt, opt(r.SettledAt), string(r.Metadata), v.digest, v.ref); err != nil {
			return fmt.Errorf("appending %s: %w", id, err)
		}
	}
	return app.Close()
}

func opt(s *string) driver.Value {
	if s == nil {
		return nil
	}
	return *s
}

// dec is the money string as DuckDB's appender takes it: the exact decimal
// text, or NULL when the vendor sent none.
func dec(n json.Number) driver.Value {
	if n == "" {
		return nil
	}
	return string(n)
}
