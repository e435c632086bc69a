// Package bigquery is the cloud warehouse back end: a BigQuery dataset
// holding settlements, settlements_quarantine and runs, loaded with load
// jobs from gs:// NDJSON files into per-run staging tables and promoted
// with MERGE statements. URIs look like bigquery://project/dataset, with an
// optional ?location=EU.
//
// When BIGQUERY_EMULATOR_HOST is set (host:port), the client talks to that
// emulator without authentication.
package bigquery

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	bq "cloud.google.com/go/bigquery"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	"github.com/marketplace/settle/io/warehouse"
)

func init() {
	warehouse.Register("bigquery", func(ctx context.Context, u *url.URL) (warehouse.Warehouse, error) {
		return OpenURL(ctx, u)
	})
}

var _ warehouse.Warehouse = (*Warehouse)(nil)

// EnvEmulatorHost names the BigQuery emulator (host:port or a URL) to use
// instead of the real service.
const EnvEmulatorHost = "BIGQUERY_EMULATOR_HOST"

// Table names in the dataset. Staging tables are per run:
// staging_settlements_<run key> and staging_quarantine_<run key>.
const (
	TableSettlements = "settlements"
	TableQuarantine  = "settlements_quarantine"
	TableRuns        = "runs"
	TableWithheld    = "settlements_withheld"
	stagingPrefixS   = "staging_settlements_"
	stagingPrefixQ   = "staging_quarantine_"
)

// stagingTTL is how long an unpromoted staging table is kept: long enough
// for a held run to be looked at and promoted by hand.
const stagingTTL = 14 * 24 * time.Hour

// Warehouse is a BigQuery dataset holding the warehouse tables. It is safe
// for use by one goroutine at a time.
type Warehouse struct {
	client   *bq.Client
	project  string
	dataset  string
	location string
	// maxURIs is the most source URIs per load job (MaxSourceURIs; tests
	// lower it).
	maxURIs int
}

var datasetPattern = regexp.MustCompile(`^[A-Za-z0-9_]+$`)

// OpenURL opens the warehouse named by bigquery://project/dataset. The
// query may set location (the dataset's, and so its jobs', location) and
// access_mode: read_only opens an existing dataset without creating or
// altering anything (the read-only commands: status, report, reconcile)
// and fails with an error wrapping warehouse.ErrNotExist if the dataset
// or its runs table does not exist; read_write (the default) is Open.
func OpenURL(ctx context.Context, u *url.URL) (*Warehouse, error) {
	project, dataset := u.Host, strings.Trim(u.Path, "/")
	if project == "" || len(dataset) > 1024 || !datasetPattern.MatchString(dataset) {
		return nil, fmt.Errorf("opening bigquery warehouse %q: want bigquery://project/dataset", u.String())
	}
	var location string
	readOnly := false
	for k, vs := range u.Query() {
		v := vs[len(vs)-1]
		switch k {
		case "location":
			location = v
		case "access_mode":
			switch v {
			case "read_only":
				readOnly = true
			case "read_write":
			default:
				return nil, fmt.Errorf("opening bigquery warehouse: access_mode=%q: want read_only or read_write", v)
			}
		default:
			return nil, fmt.Errorf("opening bigquery warehouse: unknown setting %q (want location or access_mode)", k)
		}
	}
	if readOnly {
		return OpenReadOnly(ctx, project, dataset, location)
	}
	return Open(ctx, project, dataset, location)
}

// Open connects to BigQuery (or the emulator named by
// BIGQUERY_EMULATOR_HOST), creates the dataset in location if absent, and
// creates the tables that do not exist yet. Extra client options come
// last, so they can override the emulator's.
func Open(ctx context.Context, project, dataset, location string, opts ...option.ClientOption) (*Warehouse, error) {
	w, err := connect(ctx, project, dataset, location, opts)
	if err != nil {
		return nil, err
	}
	if err := w.createTables(ctx); err != nil {
		return nil, errors.Join(err, w.client.Close())
	}
	return w, nil
}

// OpenReadOnly connects like Open but creates nothing: a dataset or runs
// table that does not exist gives an error wrapping
// warehouse.ErrNotExist. Writing through the result is the caller's bug;
// the read-only commands only read.
func OpenReadOnly(ctx context.Context, project, dataset, location string, opts ...option.ClientOption) (*Warehouse, error) {
	w, err := connect(ctx, project, dataset, location, opts)
	if err != nil {
		return nil, err
	}
	if _, err := w.client.Dataset(dataset).Table(TableRuns).Metadata(ctx); err != nil {
		if isStatus(err, http.StatusNotFound) {
			err = fmt.Errorf("opening bigquery warehouse %s.%s read-only: no %s table: %w", project, dataset, TableRuns, warehouse.ErrNotExist)
		} else {
			err = fmt.Errorf("opening bigquery warehouse %s.%s read-only: %w", project, dataset, err)
		}
		return nil, errors.Join(err, w.client.Close())
	}
	return w, nil
}

// connect makes the client (the emulator's when BIGQUERY_EMULATOR_HOST is
// set).
func connect(ctx context.Context, project, dataset, location string, opts []option.ClientOption) (*Warehouse, error) {
	var all []option.ClientOption
	if host := os.Getenv(EnvEmulatorHost); host != "" {
		all = append(all, option.WithEndpoint(emulatorEndpoint(host)), option.WithoutAuthentication())
	}
	all = append(all, opts...)
	client, err := bq.NewClient(ctx, project, all...)
	if err != nil {
		return nil, fmt.Errorf("opening bigquery warehouse %s.%s: %w", project, dataset, err)
	}
	client.Location = location
	return &Warehouse{client: client, project: project, dataset: dataset, location: location, maxURIs: MaxSourceURIs}, nil
}

// emulatorEndpoint turns BIGQUERY_EMULATOR_HOST (host:port, or a URL) into
// the REST base path the client wants: http://host:port/bigquery/v2/.
func emulatorEndpoint(host string) string {
	if !strings.Contains(host, "://") {
		host = "http://" + host
	}
	if u, err := url.Parse(host); err == nil && (u.Path == "" || u.Path == "/") {
		host = strings.TrimSuffix(host, "/") + "/bigquery/v2/"
	}
	return host
}

// Close releases the client.
func (w *Warehouse) Close() error {
	if err := w.client.Close(); err != nil {
		return fmt.Errorf("closing bigquery warehouse %s.%s: %w", w.project, w.dataset, err)
	}
	return nil
}

// Client returns the underlying client, for reconciliation queries.
func (w *Warehouse) Client() *bq.Client { return w.client }

func (w *Warehouse) createTables(ctx context.Context) error {
	ds := w.client.Dataset(w.dataset)
	// Look before creating: a least-privilege account (Terraform creates the
	// dataset) may edit the dataset but not create datasets in the project.
	if _, err := ds.Metadata(ctx); err != nil {
		if !isStatus(err, http.StatusNotFound) {
			return fmt.Errorf("reading dataset %s.%s: %w", w.project, w.dataset, err)
		}
		err := ds.Create(ctx, &bq.DatasetMetadata{
			Location:    w.location,
			Description: "settlement warehouse (github.com/marketplace/settle)",
		})
		if err != nil && !isStatus(err, http.StatusConflict) {
			return fmt.Errorf("creating dataset %s.%s: %w", w.project, w.dataset, err)
		}
	}
	for name, md := range allTables() {
		err := ds.Table(name).Create(ctx, md)
		if isStatus(err, http.StatusConflict) {
			err = addMissingColumns(ctx, ds.Table(name), md.Schema)
		}
		if err != nil {
			return fmt.Errorf("creating table %s.%s.%s: %w", w.project, w.dataset, name, err)
		}
	}
	return nil
}

// addMissingColumns adds the nullable columns of want that a table
// created by an earlier release lacks. Adding a nullable column is the one
// schema change BigQuery allows in place; every statement names its
// columns, so their order does not matter.
func addMissingColumns(ctx context.Context, t *bq.Table, want bq.Schema) error {
	md, err := t.Metadata(ctx)
	if err != nil {
		return fmt.Errorf("reading schema: %w", err)
	}
	have := map[string]bool{}
	for _, f := range md.Schema {
		have[f.Name] = true
	}
	schema := md.Schema
	for _, f := range want {
		if !have[f.Name] {
			c := *f
			c.Required = false
			schema = append(schema, &c)
		}
	}
	if len(schema) == len(md.Schema) {
		return nil
	}
	if _, err := t.Update(ctx, bq.TableMetadataToUpdate{Schema: schema}, md.ETag); err != nil {
		return fmt.Errorf("adding columns: %w", err)
	}
	return nil
}

// tables returns the dataset's permanent tables.
//
// settlements is partitioned by DATE(created_at): created_at never changes,
// so a row stays in its partition for life while updated_at moves with each
// version, and reconciliation asks "what did the vendor create on day D"
// (its statements are by creation day). MERGE cannot prune partitions from
// the source, since a new version may touch a row created any day earlier;
// clustering by seller_id, vendor_txn_id keeps that join cheap and the
// per-seller payout queries pruned.
func tables() map[string]*bq.TableMetadata {
	return map[string]*bq.TableMetadata{
		TableSettlements: {
			Schema:           settlementsSchema,
			TimePartitioning: &bq.TimePartitioning{Type: bq.DayPartitioningType, Field: "created_at"},
			Clustering:       &bq.Clustering{Fields: []string{"seller_id", "vendor_txn_id"}},
			Description:      "one row per vendor_txn_id, its newest version",
		},
		TableQuarantine: {
			Schema:           quarantineSchema,
			TimePartitioning: &bq.TimePartitioning{Type: bq.DayPartitioningType, Field: "quarantined_at"},
			Clustering:       &bq.Clustering{Fields: []string{"quarantine_key"}},
			Description:      "records and pages that failed parsing or the row rules",
		},
		TableRuns: {
			Schema:      runsSchema,
			Description: "one ledger row per pipeline run",
		},
		TableAccounts: {
			Schema:      accountsSchema,
			Description: "one accounting identity per pipeline run (pipeline/account)",
		},
		TableCurrencyTotals: {
			Schema:      currencyTotalsSchema,
			Clustering:  &bq.Clustering{Fields: []string{"run_id"}},
			Description: "per run and currency: settlements rows the run wrote and the exact total of their amounts",
		},
		TableWithheld: {
			Schema:      withheldSchema,
			Clustering:  &bq.Clustering{Fields: []string{"vendor_txn_id"}},
			Description: "settlements whose newest version failed the gate: finance sees none of their versions",
		},
	}
}

var settlementsSchema = bq.Schema{
	{Name: "vendor_txn_id", Type: bq.StringFieldType, Required: true},
	{Name: "order_id", Type: bq.StringFieldType},
	{Name: "seller_id", Type: bq.StringFieldType},
	{Name: "type", Type: bq.StringFieldType},
	{Name: "status", Type: bq.StringFieldType},
	{Name: "amount", Type: bq.NumericFieldType},
	{Name: "fee", Type: bq.NumericFieldType},
	{Name: "currency", Type: bq.StringFieldType},
	{Name: "created_at", Type: bq.TimestampFieldType},
	{Name: "updated_at", Type: bq.TimestampFieldType, Required: true},
	{Name: "settled_at", Type: bq.TimestampFieldType},
	{Name: "metadata", Type: bq.JSONFieldType},
	{Name: "run_id", Type: bq.StringFieldType},
	{Name: "raw_ref", Type: bq.StringFieldType},
	{Name: "version_digest", Type: bq.StringFieldType},
}

var quarantineSchema = bq.Schema{
	{Name: "quarantine_key", Type: bq.StringFieldType, Required: true},
	{Name: "vendor_txn_id", Type: bq.StringFieldType},
	{Name: "reason", Type: bq.StringFieldType},
	{Name: "raw", Type: bq.JSONFieldType},
	{Name: "run_id", Type: bq.StringFieldType},
	{Name: "raw_ref", Type: bq.StringFieldType},
	{Name: "quarantined_at", Type: bq.TimestampFieldType},
	{Name: "updated_at", Type: bq.TimestampFieldType},
	{Name: "version_digest", Type: bq.StringFieldType},
	{Name: "displaced_updated_at", Type: bq.TimestampFieldType},
	{Name: "displaced_version_digest", Type: bq.StringFieldType},
}

var withheldSchema = bq.Schema{
	{Name: "vendor_txn_id", Type: bq.StringFieldType, Required: true},
	{Name: "updated_at", Type: bq.TimestampFieldType, Required: true},
	{Name: "version_digest", Type: bq.StringFieldType, Required: true},
	{Name: "reason", Type: bq.StringFieldType},
	{Name: "quarantine_key", Type: bq.StringFieldType},
	{Name: "run_id", Type: bq.StringFieldType},
	{Name: "raw_ref", Type: bq.StringFieldType},
}

var runsSchema = bq.Schema{
	{Name: "run_id", Type: bq.StringFieldType, Required: true},
	{Name: "kind", Type: bq.StringFieldType},
	{Name: "window_start", Type: bq.TimestampFieldType},
	{Name: "window_end", Type: bq.TimestampFieldType},
	{Name: "started_at", Type: bq.TimestampFieldType},
	{Name: "finished_at", Type: bq.TimestampFieldType},
	{Name: "fetched", Type: bq.IntegerFieldType},
	{Name: "duplicates", Type: bq.IntegerFieldType},
	{Name: "validated", Type: bq.IntegerFieldType},
	{Name: "quarantined", Type: bq.IntegerFieldType},
	{Name: "promoted", Type: bq.IntegerFieldType},
	{Name: "dead_lettered", Type: bq.IntegerFieldType},
	{Name: "outcome", Type: bq.StringFieldType},
	{Name: "detail", Type: bq.StringFieldType},
	{Name: "corrected", Type: bq.IntegerFieldType},
	{Name: "withdrawn", Type: bq.IntegerFieldType},
}

// Staging tables take the files as written: money and JSON as text (money
// is checked and cast to NUMERIC in SQL, never through FLOAT64), timestamps
// parsed by the load job.
var stagingSettlementsSchema = bq.Schema{
	{Name: "vendor_txn_id", Type: bq.StringFieldType},
	{Name: "order_id", Type: bq.StringFieldType},
	{Name: "seller_id", Type: bq.StringFieldType},
	{Name: "type", Type: bq.StringFieldType},
	{Name: "status", Type: bq.StringFieldType},
	{Name: "amount", Type: bq.StringFieldType},
	{Name: "fee", Type: bq.StringFieldType},
	{Name: "currency", Type: bq.StringFieldType},
	{Name: "created_at", Type: bq.TimestampFieldType},
	{Name: "updated_at", Type: bq.TimestampFieldType},
	{Name: "settled_at", Type: bq.TimestampFieldType},
	{Name: "metadata", Type: bq.StringFieldType},
	{Name: "run_id", Type: bq.StringFieldType},
	{Name: "raw_ref", Type: bq.StringFieldType},
	{Name: "version_digest", Type: bq.StringFieldType},
}

var stagingQuarantineSchema = bq.Schema{
	{Name: "quarantine_key", Type: bq.StringFieldType},
	{Name: "vendor_txn_id", Type: bq.StringFieldType},
	{Name: "reason", Type: bq.StringFieldType},
	{Name: "raw", Type: bq.StringFieldType},
	{Name: "run_id", Type: bq.StringFieldType},
	{Name: "raw_ref", Type: bq.StringFieldType},
	{Name: "quarantined_at", Type: bq.TimestampFieldType},
	{Name: "updated_at", Type: bq.TimestampFieldType},
	{Name: "version_digest", Type: bq.StringFieldType},
}

// table returns the standard-SQL name of a table of the dataset.
func (w *Warehouse) table(name string) string {
	return fmt.Sprintf("`%s.%s.%s`", w.project, w.dataset, name)
}

// query runs q with named parameters and waits for it.
func (w *Warehouse) query(ctx context.Context, q string, params map[string]any) (*bq.Job, error) {
	qq := w.client.Query(q)
	for name, v := range params {
		qq.Parameters = append(qq.Parameters, bq.QueryParameter{Name: name, Value: v})
	}
	job, err := qq.Run(ctx)
	if err != nil {
		return nil, err
	}
	st, err := job.Wait(ctx)
	if err != nil {
		return nil, err
	}
	if err := st.Err(); err != nil {
		return nil, err
	}
	return job, nil
}

func isStatus(err error, code int) bool {
	var ge *googleapi.Error
	return errors.As(err, &ge) && ge.Code == code
}
