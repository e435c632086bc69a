package cursorstore_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/marketplace/settle/io/cursorstore"
)

// TestReadOnlyFileStoreCreatesNothingAndRefusesWrites: opened with
// access_mode=read_only, a missing directory reads as an empty store and
// stays missing; an existing one is read, never written (no lock file).
func TestReadOnlyFileStoreCreatesNothingAndRefusesWrites(t *testing.T) {
	ctx := t.Context()
	missing := filepath.Join(t.TempDir(), "cursors")
	ro, err := cursorstore.Open(ctx, "file://"+missing+"?access_mode=read_only")
	if err != nil {
		t.Fatalf("Open read-only of a missing dir: %v", err)
	}
	if keys, err := ro.List(ctx, ""); err != nil || len(keys) != 0 {
		t.Errorf("List of a missing dir = %v, %v; want none, nil", keys, err)
	}
	if _, err := ro.Get(ctx, "k"); !errors.Is(err, cursorstore.ErrNotFound) {
		t.Errorf("Get of a missing dir: %v, want ErrNotFound", err)
	}
	if _, err := ro.Put(ctx, "k", 0, []byte("x")); !errors.Is(err, cursorstore.ErrReadOnly) {
		t.Errorf("Put read-only: %v, want ErrReadOnly", err)
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the read-only store created its dir: stat = %v", err)
	}

	dir := t.TempDir()
	rw, err := cursorstore.Open(ctx, "file://"+dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rw.Put(ctx, "k", 0, []byte("body")); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, ".lock"))
	ro, err = cursorstore.Open(ctx, "file://"+dir+"?access_mode=read_only")
	if err != nil {
		t.Fatal(err)
	}
	if d, err := ro.Get(ctx, "k"); err != nil || string(d.Body) != "body" || d.Version != 1 {
		t.Errorf("Get read-only = %+v, %v; want version 1 body", d, err)
	}
	if keys, err := ro.List(ctx, ""); err != nil || len(keys) != 1 {
		t.Errorf("List read-only = %v, %v; want [k]", keys, err)
	}
	if _, err := ro.Put(ctx, "k", 1, []byte("new")); !errors.Is(err, cursorstore.ErrReadOnly) {
		t.Errorf("Put read-only: %v, want ErrReadOnly", err)
	}
	if del, ok := ro.(cursorstore.Deleter); ok {
		if err := del.Delete(ctx, "k", 1); !errors.Is(err, cursorstore.ErrReadOnly) {
			t.Errorf("Delete read-only: %v, want ErrReadOnly", err)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("dir holds %v after read-only use, want only the key's file", entries)
	}
	if _, err := cursorstore.Open(ctx, "file://"+dir+"?access_mode=sometimes"); err == nil {
		t.Errorf("Open with access_mode=sometimes: no error")
	}
}
