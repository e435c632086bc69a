package bigquery

import (
	"fmt"
	"regexp"
	"testing"
)

func TestLoadParts(t *testing.T) {
	files := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("gs://b/run/chunk-%05d.ndjson", i)
		}
		return out
	}
	tests := []struct {
		name      string
		files     int
		max       int
		wantSizes []int
	}{
		{"no files, no jobs", 0, MaxSourceURIs, nil},
		{"one file", 1, MaxSourceURIs, []int{1}},
		{"exactly the limit is one job", 10000, MaxSourceURIs, []int{10000}},
		{"one over the limit is two jobs", 10001, MaxSourceURIs, []int{10000, 1}},
		{"25,000 files are three jobs", 25000, MaxSourceURIs, []int{10000, 10000, 5000}},
		{"a lowered limit", 7, 3, []int{3, 3, 1}},
	}
	validID := regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := files(tt.files)
			parts := loadParts("staging_settlements_run_1_abcd", in, tt.max)
			if len(parts) != len(tt.wantSizes) {
				t.Fatalf("loadParts(%d files, max %d) = %d parts, want %d", tt.files, tt.max, len(parts), len(tt.wantSizes))
			}
			var got []string
			ids := map[string]bool{}
			for i, p := range parts {
				if len(p.Files) != tt.wantSizes[i] {
					t.Errorf("part %d has %d files, want %d", i, len(p.Files), tt.wantSizes[i])
				}
				if !validID.MatchString(p.JobID) || len(p.JobID) > 1024 {
					t.Errorf("part %d job id %q is not a valid BigQuery job id", i, p.JobID)
				}
				if ids[p.JobID] {
					t.Errorf("part %d job id %q repeats an earlier part's", i, p.JobID)
				}
				ids[p.JobID] = true
				got = append(got, p.Files...)
			}
			for i := range in {
				if i >= len(got) || got[i] != in[i] {
					t.Fatalf("parts do not hold the files in order: file %d differs", i)
				}
			}
			if len(got) != len(in) {
				t.Fatalf("parts hold %d files, want %d", len(got), len(in))
			}
			again := loadParts("staging_settlements_run_1_abcd", in, tt.max)
			for i := range parts {
				if again[i].JobID != parts[i].JobID {
					t.Errorf("part %d job id %q then %q, want the same id for the same batch", i, parts[i].JobID, again[i].JobID)
				}
			}
			if len(parts) > 0 {
				other := loadParts("staging_settlements_run_2_ef01", in, tt.max)
				if other[0].JobID == parts[0].JobID {
					t.Errorf("two runs' tables share job id %q", parts[0].JobID)
				}
			}
		})
	}
}
