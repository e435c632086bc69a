//go:build cgo

package duckdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/marketplace/settle/io/warehouse"
)

// decimalPattern is the text a money field must match to be cast to
// DECIMAL(38,9) without rounding: at most 29 integer and 9 fraction digits.
const decimalPattern = `-?[0-9]{1,29}(\.[0-9]{1,9})?`

// maxObjectSize bounds one NDJSON line. A quarantined page (at most 8 MiB
// from the vendor) is stored as a JSON string, escaped, so allow for that.
const maxObjectSize = 64 << 20

// Every column is read as VARCHAR and converted in SQL: money must not pass
// through DOUBLE, and a JSON-valued column (metadata, raw) is kept as the
// text the pipeline wrote.
const settlementColumns = `{
	vendor_txn_id: 'VARCHAR', order_id: 'VARCHAR', seller_id: 'VARCHAR',
	type: 'VARCHAR', status: 'VARCHAR', amount: 'VARCHAR', fee: 'VARCHAR',
	currency: 'VARCHAR', created_at: 'VARCHAR', updated_at: 'VARCHAR',
	settled_at: 'VARCHAR', metadata: 'VARCHAR', run_id: 'VARCHAR', raw_ref: 'VARCHAR',
	version_digest: 'VARCHAR'
}`

const quarantineColumns = `{
	quarantine_key: 'VARCHAR', vendor_txn_id: 'VARCHAR', reason: 'VARCHAR',
	raw: 'VARCHAR', run_id: 'VARCHAR', raw_ref: 'VARCHAR', quarantined_at: 'VARCHAR',
	updated_at: 'VARCHAR', version_digest: 'VARCHAR'
}`

// money converts a decimal text column exactly, failing the statement (and
// so the whole Stage) on a value DECIMAL(38,9) cannot hold without rounding.
// Once the pattern has matched, a value that fits DECIMAL(18,9) is cast
// through it: DuckDB 1.5 casts text to a 128-bit DECIMAL about 100 times
// slower than to a 64-bit one (10 µs a value, measured), and the wider cast
// is needed only past 999999999.999999999.
func money(col string) string {
	return fmt.Sprintf(`CASE WHEN %[1]s IS NULL THEN NULL
		WHEN regexp_full_match(%[1]s, '%[2]s') THEN coalesce(
			CAST(TRY_CAST(%[1]s AS DECIMAL(18,9)) AS DECIMAL(38,9)), CAST(%[1]s AS DECIMAL(38,9)))
		ELSE error('staging: ' || %[1]s || ' in %[1]s of ' || coalesce(vendor_txn_id, '?') || ' is not a decimal with at most 9 fraction digits') END`,
		col, decimalPattern)
}

// jsonText keeps valid JSON text as it is and wraps anything else as a JSON
// string, so nothing the vendor sent is lost. TRY_CAST parses once, where
// json_valid then CAST parsed twice (half the CPU of this column).
func jsonText(col string) string {
	return fmt.Sprintf(`coalesce(TRY_CAST(%[1]s AS JSON), to_json(%[1]s))`, col)
}

// readJSON is the table function reading files. It refuses names read_json
// would expand as globs: a batch names its files exactly.
func readJSON(files []string, columns string) (string, error) {
	quoted := make([]string, len(files))
	for i, f := range files {
		if strings.ContainsAny(f, "*?[") {
			return "", fmt.Errorf("file name %q has glob characters", f)
		}
		quoted[i] = sqlString(f)
	}
	return fmt.Sprintf(`read_json([%s], format = 'newline_delimited', columns = %s, maximum_object_size = %d)`,
		strings.Join(quoted, ", "), columns, maxObjectSize), nil
}

// Stage loads the batch's NDJSON files into staging_settlements and
// staging_quarantine under b.RunID, replacing whatever that run had staged,
// in one transaction. Files are local paths. A money value with more than 9
// fraction digits or 29 integer digits, an unparsable timestamp, or a row
// without vendor_txn_id, updated_at or quarantine_key fails the whole Stage
// and leaves the previous staging of the run in place.
func (w *Warehouse) Stage(ctx context.Context, b warehouse.Batch) (st warehouse.StageStats, err error) {
	if b.RunID == "" {
		return st, errors.New("staging batch: empty run id")
	}
	tx, err := w.db.BeginTx(ctx, nil)
	if err != nil {
		return st, fmt.Errorf("staging run %s: beginning transaction: %w", b.RunID, err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, tx.Rollback())
		}
	}()
	for _, table := range []string{"staging_settlements", "staging_quarantine"} {
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE run_id = ?`, b.RunID); err != nil {
			return st, fmt.Errorf("staging run %s: clearing %s: %w", b.RunID, table, err)
		}
	}
	if len(b.ValidatedFiles) > 0 {
		src, err := readJSON(b.ValidatedFiles, settlementColumns)
		if err != nil {
			return st, fmt.Errorf("staging run %s: %w", b.RunID, err)
		}
		q := `INSERT INTO staging_settlements (run_id, vendor_txn_id, order_id, seller_id, type, status,
				amount, fee, currency, created_at, updated_at, settled_at, metadata, row_run_id, raw_ref, version_digest)
			SELECT ? AS run_id, vendor_txn_id, order_id, seller_id, type, status,
				` + money("amount") + `, ` + money("fee") + `, currency,
				CAST(created_at AS TIMESTAMPTZ), CAST(updated_at AS TIMESTAMPTZ),
				CAST(settled_at AS TIMESTAMPTZ), ` + jsonText("metadata") + `,
				run_id AS row_run_id, raw_ref, version_digest
			FROM ` + src
		if st.Validated, err = execCount(ctx, tx, q, b.RunID); err != nil {
			return st, fmt.Errorf("staging run %s: loading %d validated files: %w", b.RunID, len(b.ValidatedFiles), err)
		}
	}
	if len(b.QuarantineFiles) > 0 {
		src, err := readJSON(b.QuarantineFiles, quarantineColumns)
		if err != nil {
			return st, fmt.Errorf("staging run %s: %w", b.RunID, err)
		}
		q := `INSERT INTO staging_quarantine (run_id, quarantine_key, vendor_txn_id, reason, raw,
				row_run_id, raw_ref, quarantined_at, updated_at, version_digest)
			SELECT ? AS run_id, quarantine_key, vendor_txn_id, reason, ` + jsonText("raw") + `,
				run_id AS row_run_id, raw_ref, CAST(quarantined_at AS TIMESTAMPTZ),
				CAST(updated_at AS TIMESTAMPTZ), version_digest
			FROM ` + src
		if st.Quarantined, err = execCount(ctx, tx, q, b.RunID); err != nil {
			return st, fmt.Errorf("staging run %s: loading %d quarantine files: %w", b.RunID, len(b.QuarantineFiles), err)
		}
	}
	if err := tx.Commit(); err != nil {
		return st, fmt.Errorf("staging run %s: committing: %w", b.RunID, err)
	}
	return st, nil
}

func execCount(ctx context.Context, tx *sql.Tx, q string, args ...any) (int64, error) {
	res, err := tx.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
