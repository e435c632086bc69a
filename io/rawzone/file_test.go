package rawzone_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/marketplace/settle/io/rawzone"
	"github.com/marketplace/settle/testing/rawzonetest"
)

func TestFileStoreContract(t *testing.T) {
	rawzonetest.Run(t, func(t *testing.T) rawzone.Store {
		t.Helper()
		s, err := rawzone.Open(t.Context(), "file://"+filepath.ToSlash(filepath.Join(t.TempDir(), "raw")))
		if err != nil {
			t.Fatalf("Open = %v", err)
		}
		return s
	})
}

// TestFileStoreContractWithNamedTemporaryFiles runs the contract over the
// path of systems without O_TMPFILE (or /proc): a named temporary file,
// linked, then removed; it must leave none behind.
func TestFileStoreContractWithNamedTemporaryFiles(t *testing.T) {
	rawzonetest.Run(t, func(t *testing.T) rawzone.Store {
		t.Helper()
		return rawzone.NewFileStoreNamedTemps(t, filepath.Join(t.TempDir(), "raw"))
	})
	dir := t.TempDir()
	s := rawzone.NewFileStoreNamedTemps(t, dir)
	if err := s.PutOnce(t.Context(), "a/b.json", []byte("x")); err != nil {
		t.Fatal(err)
	}
	temps, err := filepath.Glob(filepath.Join(dir, ".tmp", "*", ".tmp-*"))
	if err != nil || len(temps) != 0 {
		t.Errorf("temporary files left: %q (%v)", temps, err)
	}
	if _, err := os.Stat(filepath.Join(dir, ".tmp")); err != nil {
		t.Errorf("the named-temporary path was not taken: no .tmp directory (%v)", err)
	}
}

func TestOpenFileRejectsURIsThatAreNotAbsoluteDirectories(t *testing.T) {
	for _, uri := range []string{
		"file:relative/dir",
		"file://host/dir",
		"file://",
		"file:///tmp/x?mode=1",
	} {
		if s, err := rawzone.Open(t.Context(), uri); err == nil {
			s.Close()
			t.Errorf("Open(%q) = nil error, want an error", uri)
		}
	}
}

func TestFileStoreLeavesNoTemporaryFilesAndMakesObjectsReadOnly(t *testing.T) {
	dir := t.TempDir()
	s, err := rawzone.NewFileStore(dir)
	if err != nil {
		t.Fatalf("NewFileStore = %v", err)
	}
	const name = "a/b/c.json"
	for _, data := range []string{"one", "one", "two"} {
		_ = s.PutOnce(t.Context(), name, []byte(data))
	}
	var files []string
	err = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 || !strings.HasSuffix(files[0], filepath.FromSlash(name)) {
		t.Errorf("files under the root = %q, want only %s", files, name)
	}
	fi, err := os.Stat(filepath.Join(dir, filepath.FromSlash(name)))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fi.Mode().Perm(), os.FileMode(0o444); got != want {
		t.Errorf("object mode = %v, want %v", got, want)
	}
}

func TestFileStoreListSkipsStrayTemporaryFiles(t *testing.T) {
	dir := t.TempDir()
	s, err := rawzone.NewFileStore(dir)
	if err != nil {
		t.Fatalf("NewFileStore = %v", err)
	}
	if err := s.PutOnce(t.Context(), "a/x", []byte("x")); err != nil {
		t.Fatal(err)
	}
	// A crash between writing the temporary file and removing it leaves one.
	if err := os.WriteFile(filepath.Join(dir, "a", ".tmp-123"), []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := s.List(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != "a/x" {
		t.Errorf("List(\"\") = %q, want [a/x]", got)
	}
}
