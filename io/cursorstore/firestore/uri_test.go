package firestore

import (
	"net/url"
	"testing"
)

func TestParseURI(t *testing.T) {
	tests := []struct {
		name                          string
		uri                           string
		project, collection, database string
		wantErr                       bool
	}{
		{"a project and a collection parse", "firestore://proj/cursors", "proj", "cursors", "", false},
		{"a trailing slash is ignored", "firestore://proj/cursors/", "proj", "cursors", "", false},
		{"a nested collection path parses", "firestore://proj/envs/prod/cursors", "proj", "envs/prod/cursors", "", false},
		{"a database is taken from the query", "firestore://proj/cursors?database=settle", "proj", "cursors", "settle", false},
		{"a missing collection is refused", "firestore://proj", "", "", "", true},
		{"a missing project is refused", "firestore:///cursors", "", "", "", true},
		{"a document path is refused", "firestore://proj/cursors/doc", "", "", "", true},
		{"an empty segment is refused", "firestore://proj/a//b", "", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := url.Parse(tt.uri)
			if err != nil {
				t.Fatal(err)
			}
			project, collection, database, err := parseURI(u)
			if gotErr := err != nil; gotErr != tt.wantErr {
				t.Fatalf("parseURI(%q) error = %v, want error %v", tt.uri, err, tt.wantErr)
			}
			if project != tt.project || collection != tt.collection || database != tt.database {
				t.Errorf("parseURI(%q) = %q, %q, %q, want %q, %q, %q", tt.uri, project, collection, database, tt.project, tt.collection, tt.database)
			}
		})
	}
}
