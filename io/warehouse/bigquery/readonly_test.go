package bigquery_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	bq "cloud.google.com/go/bigquery"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"

	"github.com/marketplace/settle/io/warehouse"
	"github.com/marketplace/settle/io/warehouse/bigquery"
	"github.com/marketplace/settle/testing/bqemulator"
)

// TestOpenReadOnlyCreatesNothing: the read-only commands (status, report,
// reconcile) open the warehouse with access_mode=read_only; on a project
// without the dataset that is "does not exist", and no dataset appears.
func TestOpenReadOnlyCreatesNothing(t *testing.T) {
	em := bqemulator.StartEmulator(t)
	t.Setenv(bigquery.EnvEmulatorHost, em.Host)
	dataset := fmt.Sprintf("readonly_%d", time.Now().UnixNano())
	uri := "bigquery://" + project + "/" + dataset

	_, err := warehouse.Open(t.Context(), uri+"?access_mode=read_only")
	if !errors.Is(err, warehouse.ErrNotExist) {
		t.Fatalf("read-only Open of a missing dataset = %v, want an error wrapping warehouse.ErrNotExist", err)
	}
	client, err := bq.NewClient(t.Context(), project, option.WithEndpoint(em.Endpoint), option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	it := client.Datasets(t.Context())
	for {
		ds, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			t.Fatalf("listing datasets: %v", err)
		}
		if ds.DatasetID == dataset {
			t.Fatalf("read-only Open created dataset %s", dataset)
		}
	}

	w, err := warehouse.Open(t.Context(), uri)
	if err != nil {
		t.Fatalf("Open() = %v", err)
	}
	w.Close()
	ro, err := warehouse.Open(t.Context(), uri+"?access_mode=read_only")
	if err != nil {
		t.Fatalf("read-only Open of an existing warehouse = %v", err)
	}
	defer ro.Close()
	if _, err := ro.Runs(t.Context(), 10); err != nil {
		t.Errorf("Runs() on a read-only warehouse = %v", err)
	}
	if _, err := warehouse.Open(t.Context(), uri+"?access_mode=sometimes"); err == nil {
		t.Error("Open with access_mode=sometimes succeeded")
	}
}
