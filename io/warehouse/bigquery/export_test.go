package bigquery

// SetMaxSourceURIs lowers the per-load-job URI limit of w, for tests.
func SetMaxSourceURIs(w *Warehouse, n int) { w.maxURIs = n }

// ValidatedLoadJobIDs returns the job ids (first attempts) that staging
// files as the validated files of runID uses, part by part.
func ValidatedLoadJobIDs(runID string, files []string, max int) []string {
	var ids []string
	for _, p := range loadParts(stagingPrefixS+runKey(runID), files, max) {
		ids = append(ids, p.JobID)
	}
	return ids
}
