package rawzone

import "testing"

// SetMaxPageObject lowers DecodePage's size limit for one test.
func SetMaxPageObject(t testing.TB, n int) {
	old := maxPageObject
	maxPageObject = n
	t.Cleanup(func() { maxPageObject = old })
}

// NewFileStoreNamedTemps is NewFileStore writing through named temporary
// files, the path of systems without O_TMPFILE or /proc.
func NewFileStoreNamedTemps(t testing.TB, dir string) *FileStore {
	s, err := NewFileStore(dir)
	if err != nil {
		t.Fatalf("NewFileStore = %v", err)
	}
	s.namedTemps = true
	return s
}
