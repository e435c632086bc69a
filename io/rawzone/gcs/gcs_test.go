package gcs_test

import (
	"bytes"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"cloud.google.com/go/storage"
	"github.com/fsouza/fake-gcs-server/fakestorage"
	"google.golang.org/api/option"

	"github.com/marketplace/settle/io/rawzone"
	"github.com/marketplace/settle/io/rawzone/gcs"
	"github.com/marketplace/settle/testing/rawzonetest"
)

// startFake starts fake-gcs-server in this process, listening on
// 127.0.0.1 over plain HTTP.
func startFake(t *testing.T) *fakestorage.Server {
	t.Helper()
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{Scheme: "http", Host: "127.0.0.1", NoListener: false})
	if err != nil {
		t.Fatalf("starting fake-gcs-server: %v", err)
	}
	t.Cleanup(srv.Stop)
	if u, _ := url.Parse(srv.URL()); u == nil || u.Hostname() != "127.0.0.1" {
		t.Fatalf("fake-gcs-server listens on %q, want 127.0.0.1", srv.URL())
	}
	return srv
}

func clientOptions(srv *fakestorage.Server) []option.ClientOption {
	return []option.ClientOption{option.WithEndpoint(srv.URL() + "/storage/v1/"), option.WithoutAuthentication()}
}

func TestContractAtTheBucketRoot(t *testing.T) {
	srv := startFake(t)
	var n atomic.Int64
	rawzonetest.Run(t, func(t *testing.T) rawzone.Store {
		t.Helper()
		bucket := fmt.Sprintf("root-%d", n.Add(1))
		srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: bucket})
		s, err := gcs.New(t.Context(), bucket, "", clientOptions(srv)...)
		if err != nil {
			t.Fatalf("gcs.New = %v", err)
		}
		return s
	})
}

func TestContractUnderAPrefixOfASharedBucket(t *testing.T) {
	srv := startFake(t)
	const bucket = "shared"
	srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: bucket})
	// A sibling prefix that shares the test prefixes' first characters
	// must never show up in their listings.
	srv.CreateObject(fakestorage.Object{ObjectAttrs: fakestorage.ObjectAttrs{BucketName: bucket, Name: "raw/t1x/many/d0/obj-0000"}, Content: []byte("x")})
	client, err := storage.NewClient(t.Context(), append(clientOptions(srv), storage.WithJSONReads())...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	var n atomic.Int64
	rawzonetest.Run(t, func(t *testing.T) rawzone.Store {
		t.Helper()
		prefix := fmt.Sprintf("/raw/t%d/", n.Add(1))
		s, err := gcs.NewWithClient(client, bucket, prefix)
		if err != nil {
			t.Fatalf("gcs.NewWithClient = %v", err)
		}
		return s
	})
	// Every object the suite wrote is under its store's prefix.
	list, err := srv.ListObjectsWithOptionsPaginated(bucket, fakestorage.ListOptions{}) // no MaxResults: one page of all
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range list.Objects {
		if !strings.HasPrefix(o.Name, "raw/t") {
			t.Errorf("object %q is outside the stores' prefixes", o.Name)
		}
	}
}

func TestOpenHonoursStorageEmulatorHost(t *testing.T) {
	srv := startFake(t)
	srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: "emulated"})
	t.Setenv("STORAGE_EMULATOR_HOST", strings.TrimPrefix(srv.URL(), "http://"))
	s, err := rawzone.Open(t.Context(), "gs://emulated/raw/zone")
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	defer s.Close()
	if err := s.PutOnce(t.Context(), "a/b.json", []byte(`{}`)); err != nil {
		t.Fatalf("PutOnce = %v", err)
	}
	obj, err := srv.GetObject("emulated", "raw/zone/a/b.json")
	if err != nil {
		t.Fatalf("the object is not at raw/zone/a/b.json in the bucket: %v", err)
	}
	if got, want := string(obj.Content), `{}`; got != want {
		t.Errorf("stored content = %q, want %q", got, want)
	}
	if got, want := obj.ContentType, "application/json"; got != want {
		t.Errorf("stored content type = %q, want %q", got, want)
	}
	got, err := s.Get(t.Context(), "a/b.json")
	if err != nil || string(got) != `{}` {
		t.Errorf("Get = %q, %v; want {}, nil", got, err)
	}
}

func TestOpenRejectsBadURIs(t *testing.T) {
	t.Setenv("STORAGE_EMULATOR_HOST", "127.0.0.1:1") // never dialled: Open makes no request
	for _, uri := range []string{
		"gs:///no-bucket",
		"gs://bucket/../up",
		"gs://bucket/a//b",
		"gs://bucket/.hidden",
		"gs://bucket/p?x=1",
		"gs://user@bucket/p",
	} {
		if s, err := rawzone.Open(t.Context(), uri); err == nil {
			s.Close()
			t.Errorf("Open(%q) = nil error, want an error", uri)
		}
	}
}

func TestListLeavesOutNamesTheRawZoneCannotRead(t *testing.T) {
	srv := startFake(t)
	srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: "b"})
	for _, name := range []string{"p/good", "p/folder/", "p/a//b", "p/.hidden"} {
		srv.CreateObject(fakestorage.Object{ObjectAttrs: fakestorage.ObjectAttrs{BucketName: "b", Name: name}, Content: []byte("x")})
	}
	s, err := gcs.New(t.Context(), "b", "p", clientOptions(srv)...)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.List(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != "good" {
		t.Errorf("List(\"\") = %q, want [good]", got)
	}
}

func TestAMissingBucketFailsPutOnceAndList(t *testing.T) {
	srv := startFake(t)
	s, err := gcs.New(t.Context(), "no-such-bucket", "", clientOptions(srv)...)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// A missing bucket is a configuration error; a replay must not read
	// it as "no pages were written".
	if names, err := s.List(t.Context(), ""); err == nil {
		t.Errorf("List in a missing bucket = %q, nil; want an error", names)
	}
	if err := s.PutOnce(t.Context(), "x", []byte("x")); err == nil {
		t.Errorf("PutOnce in a missing bucket = nil, want an error")
	}
}

// TestFakeGCSPreconditions records which preconditions fake-gcs-server
// v1.56.1 enforces, as the GCS back end's tests rely on them. A change in
// the emulator fails here first.
func TestFakeGCSPreconditions(t *testing.T) {
	srv := startFake(t)
	srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: "pre"})
	client, err := storage.NewClient(t.Context(), append(clientOptions(srv), storage.WithJSONReads())...)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	b := client.Bucket("pre")
	put := func(t *testing.T, o *storage.ObjectHandle, data []byte, chunk int) error {
		t.Helper()
		w := o.NewWriter(t.Context())
		w.ChunkSize = chunk
		if _, err := w.Write(data); err != nil {
			w.Close()
			return err
		}
		return w.Close()
	}
	small := []byte("small")
	big := bytes.Repeat([]byte("b"), 600<<10) // past a 256 KiB chunk: a resumable upload in 3 chunks
	gen := func(t *testing.T, name string) int64 {
		t.Helper()
		a, err := b.Object(name).Attrs(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return a.Generation
	}
	for _, tc := range []struct {
		name     string
		run      func(t *testing.T) error
		enforced bool
	}{
		{"DoesNotExist on a one-shot upload of an existing object", func(t *testing.T) error {
			put(t, b.Object("a"), small, 0)
			return put(t, b.Object("a").If(storage.Conditions{DoesNotExist: true}), small, 0)
		}, true},
		{"DoesNotExist on a multipart upload (default chunk size)", func(t *testing.T) error {
			put(t, b.Object("m"), small, 16<<20)
			return put(t, b.Object("m").If(storage.Conditions{DoesNotExist: true}), small, 16<<20)
		}, true},
		{"DoesNotExist on a resumable upload", func(t *testing.T) error {
			put(t, b.Object("r"), big, 256<<10)
			return put(t, b.Object("r").If(storage.Conditions{DoesNotExist: true}), big, 256<<10)
		}, true},
		{"GenerationMatch with a stale generation on upload", func(t *testing.T) error {
			put(t, b.Object("g"), small, 0)
			return put(t, b.Object("g").If(storage.Conditions{GenerationMatch: gen(t, "g") + 1}), small, 0)
		}, true},
		{"GenerationNotMatch with the current generation on upload", func(t *testing.T) error {
			put(t, b.Object("n"), small, 0)
			return put(t, b.Object("n").If(storage.Conditions{GenerationNotMatch: gen(t, "n")}), small, 0)
		}, true},
		{"MetagenerationMatch with a stale metageneration on upload", func(t *testing.T) error {
			put(t, b.Object("mg"), small, 0)
			return put(t, b.Object("mg").If(storage.Conditions{GenerationMatch: gen(t, "mg"), MetagenerationMatch: 99}), small, 0)
		}, false},
		{"GenerationMatch with a stale generation on read", func(t *testing.T) error {
			put(t, b.Object("rd"), small, 0)
			r, err := b.Object("rd").If(storage.Conditions{GenerationMatch: gen(t, "rd") + 1}).NewReader(t.Context())
			if err == nil {
				r.Close()
			}
			return err
		}, false},
		{"GenerationMatch with a stale generation on delete", func(t *testing.T) error {
			put(t, b.Object("d"), small, 0)
			return b.Object("d").If(storage.Conditions{GenerationMatch: gen(t, "d") + 1}).Delete(t.Context())
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run(t)
			if got := err != nil; got != tc.enforced {
				t.Errorf("precondition enforced = %v (err %v), want %v", got, err, tc.enforced)
			}
			t.Logf("enforced=%v err=%v", err != nil, err)
		})
	}
}
