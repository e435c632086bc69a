package rawzone_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/marketplace/settle/io/rawzone"
)

// TestReadOnlyFileStoreCreatesNothingAndRefusesWrites: opened with
// access_mode=read_only, a missing root reads as an empty zone and stays
// missing; an existing one is read and never written.
func TestReadOnlyFileStoreCreatesNothingAndRefusesWrites(t *testing.T) {
	ctx := t.Context()
	missing := filepath.Join(t.TempDir(), "raw")
	ro, err := rawzone.Open(ctx, "file://"+filepath.ToSlash(missing)+"?access_mode=read_only")
	if err != nil {
		t.Fatalf("Open read-only of a missing dir: %v", err)
	}
	if names, err := ro.List(ctx, "page/"); err != nil || len(names) != 0 {
		t.Errorf("List of a missing zone = %v, %v; want none, nil", names, err)
	}
	if err := ro.PutOnce(ctx, "page/a", []byte("x")); !errors.Is(err, rawzone.ErrReadOnly) {
		t.Errorf("PutOnce read-only: %v, want ErrReadOnly", err)
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the read-only zone created its dir: stat = %v", err)
	}

	root := filepath.Join(t.TempDir(), "raw")
	rw, err := rawzone.Open(ctx, "file://"+filepath.ToSlash(root))
	if err != nil {
		t.Fatal(err)
	}
	if err := rw.PutOnce(ctx, "page/a", []byte("x")); err != nil {
		t.Fatal(err)
	}
	ro, err = rawzone.Open(ctx, "file://"+filepath.ToSlash(root)+"?access_mode=read_only")
	if err != nil {
		t.Fatal(err)
	}
	if b, err := ro.Get(ctx, "page/a"); err != nil || string(b) != "x" {
		t.Errorf("Get read-only = %q, %v; want x", b, err)
	}
	if r, ok := ro.(rawzone.Remover); ok {
		if err := r.Remove(ctx, "page/a"); !errors.Is(err, rawzone.ErrReadOnly) {
			t.Errorf("Remove read-only: %v, want ErrReadOnly", err)
		}
	}
	if b, err := rw.Get(ctx, "page/a"); err != nil || string(b) != "x" {
		t.Errorf("object after read-only use = %q, %v; want x", b, err)
	}
	if _, err := rawzone.Open(ctx, "file://"+filepath.ToSlash(root)+"?other=1"); err == nil {
		t.Errorf("Open with an unknown query: no error")
	}
}
