package rawzone

import "testing"

// SetMaxPageObject lowers DecodePage's size limit for one test.
func SetMaxPageObject(t testing.TB, n int) {
	old := maxPageObject
	maxPageObject = n
	t.Cleanup(func() { maxPageObject = old })
}
