package pipeline

import (
	"os"
	"path/filepath"
	"testing"
)

// TestAFailedOpenOfAnySeamIsAnErrorNotAPanic: each back end's opener
// returns its concrete pointer, nil on error; openBackends must close what
// it opened before and return the error, never close a typed nil.
func TestAFailedOpenOfAnySeamIsAnErrorNotAPanic(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "a-file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	below := "file://" + filepath.Join(file, "below") // a directory that cannot exist
	good := DefaultConfig(dir)
	tests := []struct {
		name string
		edit func(*Config)
	}{
		{"cursor store", func(c *Config) { c.CursorStore = below }},
		{"raw zone", func(c *Config) { c.RawZone = below }},
		{"warehouse", func(c *Config) { c.Warehouse = "duckdb://" + filepath.Join(file, "w.duckdb") }},
	}
	for _, tc := range tests {
		t.Run("a "+tc.name+" that cannot be opened", func(t *testing.T) {
			cfg := good
			tc.edit(&cfg)
			b, err := openBackends(t.Context(), cfg, nil)
			if err == nil {
				b.close()
				t.Fatalf("openBackends with a bad %s = nil error", tc.name)
			}
			if b != nil {
				t.Errorf("openBackends returned back ends with its error %v", err)
			}
		})
	}
}
