// Package e2egcp holds the end-to-end tests of the whole pipeline on the
// Google Cloud back ends, each served by an emulator started by the tests:
// the Firestore emulator of the gcloud CLI (cursor store), fake-gcs-server
// in process (raw zone and staging files) and the Python bqemulator
// (warehouse), with the vendor simulator, faults on, as the vendor.
//
// The package has no code of its own: everything is in its _test files.
//
// fake-gcs-server keeps its objects on disk (its filesystem back end) in
// the directory bqemulator resolves gs:// URIs under, both laid out as
// <root>/<bucket>/<object name>: a load file the pipeline writes to
// gs://bucket/staging/… through Beam's gs:// filesystem is the file the
// BigQuery emulator's load job reads, with no copying between them.
//
// Emulators that cannot be had skip the tests loudly with the reason; under
// CI=true that is a failure.
package e2egcp
